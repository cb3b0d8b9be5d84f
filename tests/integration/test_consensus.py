"""Consensus, adjudication and label-error detection on stored labels."""

from __future__ import annotations

import pytest
from sqlmodel import select

from labeling.project.exporting import label_rows
from labeling.queue import assignments as queue
from labeling.review import adjudication
from labeling.review.adjudication import AdjudicationError
from labeling.review.consensus import recompute, training_set
from labeling.review.label_issues import find_suspects, send_back
from storage.db import session_scope
from storage.models import Consensus, Item, Label, Selection, Task
from tests.factories import (
    CLI,
    acting,
    label_all,
    make_account,
    make_queue_task,
    run_together,
)


@pytest.fixture
def labeled(engine, encoder, tmp_path):
    make_queue_task(engine, encoder, tmp_path, n_items=12, batch_size=6)
    raters = [make_account(engine, username=n) for n in ("ana", "ben")]
    reviewer = make_account(engine, username="rosa", role="reviewer")
    # ana and ben agree on even items and disagree on odd ones
    label_all(engine, encoder, raters,
               lambda r, i: "mood" if i % 2 == 0 or r == raters[0] else "sleep")
    return engine, encoder, raters, reviewer


def test_agreeing_items_settle_and_disagreements_go_to_adjudication(labeled):
    engine, *_ = labeled
    summary = recompute(engine=engine, actor=CLI, task_name="music")
    assert (summary.settled, summary.needs_adjudication, summary.pending) == (6, 6, 0)
    assert summary.ties == 6
    with session_scope(engine) as session:
        rows = session.exec(select(Consensus)).all()
        data = training_set(session=session, task=session.exec(select(Task)).one())
    settled = {r.item_id for r in rows if r.settled}
    assert all(i % 2 == 0 for i in settled) and set(data.item_ids) == settled


def test_reviewer_sees_every_label_and_decides_for_good(labeled):
    engine, _, _, reviewer = labeled
    recompute(engine=engine, actor=CLI, task_name="music")
    rosa = acting(reviewer)
    waiting = adjudication.cases(engine=engine, actor=rosa, task_name="music")
    assert len(waiting) == 6
    case = waiting[0]
    assert sorted(lab.value for lab in case.labels) == ["mood", "sleep"]
    with pytest.raises(AdjudicationError, match="not a label"):
        adjudication.decide(engine=engine, actor=rosa, task_name="music", item_id=case.item_id,
                            value="jazz")
    label_id = adjudication.decide(engine=engine, actor=rosa, task_name="music",
                                   item_id=case.item_id, value="sleep", note="guideline §2")
    with pytest.raises(AdjudicationError, match="final"):
        adjudication.decide(engine=engine, actor=rosa, task_name="music", item_id=case.item_id,
                            value="mood")
    recompute(engine=engine, actor=CLI, task_name="music")
    with session_scope(engine) as session:
        decided = session.get(Consensus, case.item_id)
    exported = [r for r in label_rows(engine=engine, actor=CLI, task_name="music")
                if r["label_id"] == label_id]
    assert (decided.value, decided.method, decided.settled) == ("sleep", "adjudicated", True)
    assert len(adjudication.cases(engine=engine, actor=rosa, task_name="music")) == 5
    assert exported[0]["source"] == "adjudication" and exported[0]["rater"] == "rosa"
    assert exported[0]["source_detail"] == "guideline §2"


def test_suspect_labels_return_to_the_queue_marked_as_such(engine, encoder, tmp_path):
    make_queue_task(engine, encoder, tmp_path, n_items=40, batch_size=10)
    raters = [make_account(engine, username=n) for n in ("ana", "ben", "cem")]
    moods = ("sad", "happy", "calm", "angry", "dreamy", "dark")

    def truth(item_id: int) -> str:  # item texts cycle through moods; label by mood word
        return "sleep" if moods[(item_id - 1) % 6] in {"calm", "dreamy", "sad"} else "mood"

    flipped = {5, 11}  # both raters make the same mistake on these
    label_all(engine, encoder, raters[:2],
               lambda r, i: ({"sleep": "mood", "mood": "sleep"}[truth(i)] if i in flipped
                             else truth(i)))
    suspects = find_suspects(engine=engine, actor=CLI, task_name="music", encoder=encoder)
    found = {s.item_id for s in suspects}
    assert flipped <= found and len(found) <= 8
    assert send_back(engine=engine, actor=CLI, task_name="music", suspects=suspects) == len(
        suspects)
    with session_scope(engine) as session:
        marked = session.exec(select(Consensus).where(Consensus.suspect)).all()
        extra = session.exec(select(Item.id).where(Item.extra_raters == 1)).all()
        batch = session.exec(select(Selection).where(Selection.strategy == "label_issue")).all()
    assert {m.item_id for m in marked} == found == set(extra) == {b.item_id for b in batch}
    item = queue.next_item(engine=engine, task_name="music", actor=acting(raters[2]),
                           encoder=encoder)
    label_id = queue.submit(engine=engine, assignment_id=item.assignment_id,
                            actor=acting(raters[2]), value="mood")
    with session_scope(engine) as session:
        assert session.get(Label, label_id).strategy == "label_issue"
    recompute(engine=engine, actor=CLI, task_name="music")


def _stamps(engine) -> dict[int, object]:
    with session_scope(engine) as session:
        return {c.item_id: (c.updated_at, c.value, c.settled)
                for c in session.exec(select(Consensus))}


def test_two_recomputes_at_once_store_one_consensus_without_an_error(labeled, monkeypatch):
    """Both compute from the same labels at once (held together at a barrier); they store one
    after the other, and the second finds nothing to change."""
    import threading

    from labeling.review import consensus

    engine, *_ = labeled
    barrier = threading.Barrier(2, timeout=30)
    computing = consensus._computed_rows

    def together(*args, **kwargs):
        rows = computing(*args, **kwargs)
        barrier.wait()
        return rows

    monkeypatch.setattr(consensus, "_computed_rows", together)
    outcomes = run_together(*[lambda: recompute(engine=engine, actor=CLI, task_name="music")] * 2)
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert not errors, errors
    with session_scope(engine) as session:
        assert len(session.exec(select(Consensus)).all()) == 12


def test_a_recompute_writes_only_the_rows_that_changed(labeled):
    engine, _, raters, reviewer = labeled
    recompute(engine=engine, actor=CLI, task_name="music")
    before = _stamps(engine)
    recompute(engine=engine, actor=CLI, task_name="music")
    assert _stamps(engine) == before  # nothing changed: nothing written
    with session_scope(engine) as session:
        label = session.exec(select(Label).where(Label.rater_id == raters[1],
                                                 Label.item_id == 1)).one()
        label_id, old_value = label.id, label.value
    queue.correct(engine=engine, actor=acting(raters[1]), label_id=label_id,
                  value="mood" if old_value == "sleep" else "sleep")
    recompute(engine=engine, actor=CLI, task_name="music")
    after = _stamps(engine)
    assert [i for i in after if after[i] != before[i]] == [1]


def test_raters_keep_labeling_while_consensus_is_computed(labeled, monkeypatch):
    """The computation (Dawid-Skene on a big task takes seconds) holds no write lock: a rater's
    answer is stored while it runs."""
    import threading

    from labeling.review import consensus
    from storage.db import write_scope

    engine, *_ = labeled
    started, release = threading.Event(), threading.Event()
    computing = consensus._computed_rows

    def slow(*args, **kwargs):
        started.set()
        release.wait(30)
        return computing(*args, **kwargs)

    monkeypatch.setattr(consensus, "_computed_rows", slow)
    worker = threading.Thread(target=recompute,
                              kwargs={"engine": engine, "actor": CLI, "task_name": "music"})
    worker.start()
    try:
        assert started.wait(30)
        with write_scope(engine) as session:  # what a submit takes; fails if the lock is held
            task = session.exec(select(Task)).one()
            task.lease_seconds = task.lease_seconds + 1
            session.add(task)
    finally:
        release.set()
        worker.join(timeout=60)
    with session_scope(engine) as session:
        assert len(session.exec(select(Consensus)).all()) == 12
