"""The consensus refresh is incremental: nothing new computes nothing, new labels compute only
the items they touched (majority vote), and the rows always equal a full recompute."""

from __future__ import annotations

import random

import pytest
from sqlmodel import delete, select

from labeling.project.importing import import_file
from labeling.project.tasks import update_settings
from labeling.queue import assignments as queue
from labeling.review import consensus
from labeling.review.consensus import recompute
from labeling.review.label_issues import Suspect, send_back
from storage.db import session_scope
from storage.models import Consensus, ConsensusRefresh, Label
from storage.repositories import privacy as privacy_repo
from tests.factories import (
    CLI,
    acting,
    label_all,
    make_account,
    make_queue_task,
    write_jsonl,
)

FIELDS = ("value", "method", "confidence", "agreement", "n_labels", "settled",
          "needs_adjudication", "suspect")


@pytest.fixture
def labeled(engine, encoder, tmp_path):
    make_queue_task(engine, encoder, tmp_path, n_items=12, batch_size=6)
    raters = [make_account(engine, username=n) for n in ("ana", "ben")]
    label_all(engine, encoder, raters,
              lambda r, i: "mood" if i % 2 == 0 or r == raters[0] else "sleep")
    return engine, raters


@pytest.fixture
def computed(monkeypatch):
    """Each call of the consensus computation: the label id it started after (``None``: all)
    and the items it computed."""
    calls: list[tuple[int | None, set[int]]] = []
    real = consensus._computed_rows

    def spy(session, task, now, items_since=None):
        rows = real(session, task, now, items_since=items_since)
        calls.append((items_since, {r["item_id"] for r in rows}))
        return rows

    monkeypatch.setattr(consensus, "_computed_rows", spy)
    return calls


def _rows(engine) -> dict[int, tuple]:
    with session_scope(engine) as session:
        return {c.item_id: tuple(getattr(c, f) for f in FIELDS)
                for c in session.exec(select(Consensus))}


def _full(engine) -> dict[int, tuple]:
    """The rows a recompute from nothing gives."""
    with session_scope(engine) as session:
        session.exec(delete(ConsensusRefresh))
        session.exec(delete(Consensus))
    recompute(engine=engine, actor=CLI, task_name="music")
    return _rows(engine)


def _newest_label(engine) -> int:
    with session_scope(engine) as session:
        return max(session.exec(select(Label.id)))


def test_a_refresh_with_nothing_new_computes_nothing(labeled, computed):
    engine, _ = labeled
    first = recompute(engine=engine, actor=CLI, task_name="music")
    again = recompute(engine=engine, actor=CLI, task_name="music")
    assert [since for since, _ in computed] == [None]
    assert again == first and (first.settled, first.needs_adjudication) == (6, 6)


def test_new_labels_recompute_only_the_items_they_touched(labeled, computed, encoder):
    engine, raters = labeled
    recompute(engine=engine, actor=CLI, task_name="music")
    newest = _newest_label(engine)
    with session_scope(engine) as session:  # ben changes his mind on item 3
        label = session.exec(select(Label).where(Label.item_id == 3,
                                                 Label.rater_id == raters[1])).one()
    queue.correct(engine=engine, actor=acting(raters[1]), label_id=label.id, value="mood")
    summary = recompute(engine=engine, actor=CLI, task_name="music")
    assert computed[-1] == (newest, {3})
    assert summary.settled == 7
    incremental = _rows(engine)
    assert incremental[3][0] == "mood" and incremental == _full(engine)


def test_many_rounds_of_incremental_refreshes_equal_a_full_recompute(engine, encoder, tmp_path,
                                                                     computed):
    make_queue_task(engine, encoder, tmp_path, n_items=18, batch_size=6, k=3)
    raters = [make_account(engine, username=n) for n in ("ana", "ben", "cy")]
    rng = random.Random(7)
    for _ in range(6):
        for rater in raters:
            item = queue.next_item(engine=engine, actor=acting(rater), task_name="music",
                                   encoder=encoder, rng=random.Random(0))
            if item is not None:
                queue.submit(engine=engine, actor=acting(rater),
                             assignment_id=item.assignment_id,
                             value=rng.choice(["mood", "sleep", "workout"]))
        recompute(engine=engine, actor=CLI, task_name="music")
    assert any(since is not None for since, _ in computed)
    assert _rows(engine) == _full(engine)


def test_imported_prompts_change_nothing_and_an_erasure_recomputes_everything(
        labeled, computed, encoder, tmp_path):
    """New prompts have no labels, so the consensus has nothing to compute (counting the items
    made every import recompute the whole task); an erasure deletes items with their labels,
    and the next refresh computes the whole task again."""
    engine, _ = labeled
    recompute(engine=engine, actor=CLI, task_name="music")
    path = write_jsonl(tmp_path / "more.jsonl", [{"text": f"rainy sunday jazz {i}"}
                                                 for i in range(5)])
    import_file(engine=engine, task_name="music", path=path, encoder=encoder, actor=CLI)
    recompute(engine=engine, actor=CLI, task_name="music")
    assert [since for since, _ in computed] == [None]
    with session_scope(engine) as session:
        privacy_repo.delete_linked(session=session, item_ids=[4], flag_ids=[], decision_ids=[],
                                   impression_ids=[], vector_hashes=[])
    recompute(engine=engine, actor=CLI, task_name="music")
    assert computed[-1] == (None, set(range(1, 13)) - {4})
    assert _rows(engine) == _full(engine)


def test_a_send_back_a_settings_change_or_dawid_skene_recompute_everything(labeled, computed):
    engine, raters = labeled
    recompute(engine=engine, actor=CLI, task_name="music")
    send_back(engine=engine, actor=CLI, task_name="music",
              suspects=[Suspect(item_id=2, text="", label="mood", suggested="sleep",
                                label_quality=0.1)])
    recompute(engine=engine, actor=CLI, task_name="music")
    assert computed[-1][0] is None and _rows(engine)[2][-1] is True  # still suspect
    update_settings(engine=engine, task_name="music", actor=CLI,
                    changes={"aggregation": "dawid_skene"})
    recompute(engine=engine, actor=CLI, task_name="music")
    assert computed[-1][0] is None and _rows(engine)[1][1] == "dawid_skene"
    with session_scope(engine) as session:
        label = session.exec(select(Label).where(Label.item_id == 5,
                                                 Label.rater_id == raters[1])).one()
    queue.correct(engine=engine, actor=acting(raters[1]), label_id=label.id, value="mood")
    recompute(engine=engine, actor=CLI, task_name="music")
    assert computed[-1] == (None, set(range(1, 13)))


def test_a_label_committed_while_the_refresh_reads_waits_for_the_next(labeled, monkeypatch,
                                                                       encoder):
    """The refresh reads items, consensus rows and labels in separate queries; a label a rater
    commits between them must not show in the later ones only (it did on PostgreSQL: an item
    with ratings but no item row, KeyError in the load test)."""
    engine, raters = labeled
    recompute(engine=engine, actor=CLI, task_name="music")
    cy = make_account(engine, username="cy")
    with session_scope(engine) as session:  # ben changes his mind on item 3: item 3 is touched
        label = session.exec(select(Label).where(Label.item_id == 3,
                                                 Label.rater_id == raters[1])).one()
    queue.correct(engine=engine, actor=acting(raters[1]), label_id=label.id, value="mood")
    real = consensus.item_repo.list_for_task
    late: list[int] = []

    def items_then_a_label(**kwargs):
        items = real(**kwargs)
        if not late:  # cy labels another item right after the items were read
            late.append(_late_label(engine, encoder, cy))
        return items

    monkeypatch.setattr(consensus.item_repo, "list_for_task", items_then_a_label)
    recompute(engine=engine, actor=CLI, task_name="music")
    monkeypatch.setattr(consensus.item_repo, "list_for_task", real)
    recompute(engine=engine, actor=CLI, task_name="music")  # the next refresh takes it in
    assert late and _rows(engine)[late[0]][4] == 3  # n_labels: ana, ben and cy
    assert _rows(engine) == _full(engine)


def _late_label(engine, encoder, rater) -> int:
    """A label by ``rater`` on an item of the task, committed now; its item id."""
    with session_scope(engine) as session:
        item_id = session.exec(select(Label.item_id).where(Label.item_id != 3)).first()
        session.add(Label(task_id=1, item_id=item_id, rater_id=rater, value="sleep",
                          source="rater"))
    return item_id
