"""The labeling queue: overlap k, leases, skips, gold, corrections, provenance."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from labeling.lifecycle.training import retrain
from labeling.project.authz import PermissionDenied
from labeling.project.gold import mark_gold
from labeling.project.tasks import update_settings
from labeling.queue import assignments as queue
from labeling.queue import leases
from labeling.queue.assignments import QueueError
from storage.db import session_scope
from storage.models import Label, Selection, utcnow
from storage.repositories import labels as label_repo
from tests.factories import CLI, acting, make_account, make_queue_task


@pytest.fixture
def setup(engine, encoder, tmp_path):
    make_queue_task(engine, encoder, tmp_path, n_items=24)
    raters = [make_account(engine, username=f"r{i}") for i in range(3)]
    return engine, encoder, raters


def _next(setup, rater, **kwargs):
    engine, encoder, _ = setup
    kwargs.setdefault("rng", random.Random(0))
    return queue.next_item(engine=engine, task_name="music", actor=acting(rater), encoder=encoder,
                           **kwargs)


def _settings(engine, **changes):
    update_settings(engine=engine, task_name="music", changes=changes, actor=CLI)


def test_first_item_comes_from_a_cold_start_batch_with_provenance(setup):
    engine, _, (ana, *_) = setup
    item = _next(setup, ana)
    assert item is not None and item.text
    label_id = queue.submit(engine=engine, assignment_id=item.assignment_id, actor=acting(ana),
                            value="mood", slots={"mood": "happy"})
    with session_scope(engine) as session:
        label = label_repo.get(session=session, label_id=label_id)
        batch_size = session.exec(
            Selection.__table__.select().where(Selection.batch_id == label.batch_id)
        ).all()
    assert label.strategy == "margin" and label.batch_id and label.selection_score is not None
    assert label.guideline_version == 1 and label.model_version_id is None
    assert label.shown_at <= label.submitted_at and label.seconds >= 0
    assert label.slots == {"mood": "happy"} and not label.is_gold
    assert len(batch_size) == 5


def test_a_reload_gives_the_same_item_back(setup):
    _, _, (ana, *_) = setup
    assert _next(setup, ana).assignment_id == _next(setup, ana).assignment_id


def test_k_distinct_raters_per_item_and_never_the_same_item_twice(setup):
    engine, _, raters = setup
    seen: dict[int, list[int]] = {r: [] for r in raters}
    for _ in range(200):
        progressed = False
        for rater in raters:
            item = _next(setup, rater)
            if item is None:
                continue
            progressed = True
            seen[rater].append(item.item_id)
            queue.submit(engine=engine, assignment_id=item.assignment_id, actor=acting(rater),
                         value="mood")
        if not progressed:
            break
    for items in seen.values():
        assert len(items) == len(set(items))
    per_item: dict[int, int] = {}
    for items in seen.values():
        for item in items:
            per_item[item] = per_item.get(item, 0) + 1
    assert set(per_item.values()) == {2} and len(per_item) == 24


def test_a_lease_holds_the_item_until_it_expires(setup):
    engine, _, (ana, ben, _) = setup
    _settings(engine, overlap_k=1, lease_seconds=60)
    now = utcnow()
    held = _next(setup, ana, now=now)
    others = {(_next(setup, ben, now=now)).item_id}
    assert held.item_id not in others
    later = now + timedelta(seconds=61)
    queue.skip(engine=engine, assignment_id=_next(setup, ben, now=now).assignment_id,
               actor=acting(ben), reason="testing")
    for _ in range(30):
        item = _next(setup, ben, now=later)
        if item is None or item.item_id == held.item_id:
            break
        queue.submit(engine=engine, assignment_id=item.assignment_id, actor=acting(ben),
                     value="mood", now=later)
    assert item is not None and item.item_id == held.item_id


def test_late_submit_is_refused_when_others_labeled_the_item(setup):
    engine, _, (ana, ben, _) = setup
    _settings(engine, overlap_k=1, lease_seconds=60)
    now = utcnow()
    held = _next(setup, ana, now=now)
    later = now + timedelta(seconds=120)
    for _ in range(30):
        item = _next(setup, ben, now=later)
        queue.submit(engine=engine, assignment_id=item.assignment_id, actor=acting(ben),
                     value="mood", now=later)
        if item.item_id == held.item_id:
            break
    with pytest.raises(QueueError, match="others labeled it"):
        queue.submit(engine=engine, assignment_id=held.assignment_id, actor=acting(ana),
                     value="mood", now=later)


def test_skip_needs_a_reason_and_the_item_does_not_come_back(setup):
    engine, _, (ana, *_) = setup
    item = _next(setup, ana)
    with pytest.raises(QueueError, match="say why"):
        queue.skip(engine=engine, assignment_id=item.assignment_id, actor=acting(ana), reason=" ")
    queue.skip(engine=engine, assignment_id=item.assignment_id, actor=acting(ana),
               reason="not English")
    assert _next(setup, ana).item_id != item.item_id


def test_unsure_does_not_count_towards_k(setup):
    engine, _, (ana, ben, cem) = setup
    _settings(engine, overlap_k=1)
    item = _next(setup, ana)
    queue.submit(engine=engine, assignment_id=item.assignment_id, actor=acting(ana), value="",
                 unsure=True)
    given = set()
    for _ in range(30):
        nxt = _next(setup, ben)
        given.add(nxt.item_id)
        if nxt.item_id == item.item_id:
            break
        queue.submit(engine=engine, assignment_id=nxt.assignment_id, actor=acting(ben),
                     value="mood")
    assert item.item_id in given


def test_gold_items_are_served_unannounced_and_marked_in_provenance(setup):
    engine, _, (ana, *_) = setup
    mark_gold(engine=engine, task_name="music", item_id=1, answer="sleep", actor=CLI)
    _settings(engine, gold_share=0.5)
    golds, rng = 0, random.Random(1)
    for _ in range(12):
        item = _next(setup, ana, rng=rng)
        label_id = queue.submit(engine=engine, assignment_id=item.assignment_id, actor=acting(ana),
                                value="mood")
        with session_scope(engine) as session:
            label = label_repo.get(session=session, label_id=label_id)
        golds += label.is_gold
        assert label.is_gold == (item.item_id == 1)
    assert golds == 1


def test_submit_checks_owner_state_labels_and_slots(setup):
    engine, _, (ana, ben, _) = setup
    item = _next(setup, ana)
    with pytest.raises(PermissionDenied, match="assigned to another rater"):
        queue.submit(engine=engine, assignment_id=item.assignment_id, actor=acting(ben),
                     value="mood")
    with pytest.raises(QueueError, match="not a label"):
        queue.submit(engine=engine, assignment_id=item.assignment_id, actor=acting(ana),
                     value="jazz")
    with pytest.raises(QueueError, match="unknown slot"):
        queue.submit(engine=engine, assignment_id=item.assignment_id, actor=acting(ana),
                     value="mood", slots={"colour": "red"})
    queue.submit(engine=engine, assignment_id=item.assignment_id, actor=acting(ana), value="mood")
    with pytest.raises(QueueError, match="already submitted"):
        queue.submit(engine=engine, assignment_id=item.assignment_id, actor=acting(ana),
                     value="mood")


def test_a_correction_keeps_the_old_label(setup):
    engine, _, (ana, ben, _) = setup
    item = _next(setup, ana)
    old = queue.submit(engine=engine, assignment_id=item.assignment_id, actor=acting(ana),
                       value="mood")
    with pytest.raises(PermissionDenied, match="your own"):
        queue.correct(engine=engine, label_id=old, actor=acting(ben), value="sleep")
    new = queue.correct(engine=engine, label_id=old, actor=acting(ana), value="sleep")
    with session_scope(engine) as session:
        before = session.get(Label, old)
        after = session.get(Label, new)
        assert before.superseded and before.value == "mood"
        assert after.corrects_label_id == old and after.value == "sleep"
        assert after.batch_id == before.batch_id
    history = queue.history(engine=engine, task_name="music", actor=acting(ana))
    assert [h.label_id for h in history] == [new]
    assert queue.progress(engine=engine, task_name="music", actor=acting(ana)).labeled_today == 1


def test_the_next_batch_is_reselected_when_the_serving_model_changes(setup, tmp_path):
    engine, encoder, (ana, ben, _) = setup
    for _ in range(8):
        for rater in (ana, ben):
            item = _next(setup, rater)
            value = "mood" if item.item_id % 2 else "workout"
            queue.submit(engine=engine, assignment_id=item.assignment_id, actor=acting(rater),
                         value=value)
    cold = _next(setup, ana)
    trained = retrain(engine=engine, task_name="music", encoder=encoder,
                      models_dir=tmp_path / "models", actor=CLI)
    assert trained.version == 1 and trained.n_train == 8
    fresh = _next(setup, ben)
    with session_scope(engine) as session:
        active = session.exec(Selection.__table__.select().where(Selection.active)).all()
    assert active and {row.model_version_id for row in active} == {1}
    assert fresh is not None and cold is not None


def test_a_rater_whose_selection_finds_the_pool_taken_labels_from_the_batch_that_took_it(
        setup, monkeypatch):
    """Raters who find the batches used up select at once; one selection waits for the other
    and then finds the pool empty. That rater must still get the new batch's items (CI once saw
    an item end with one label of two because the others stopped here)."""
    engine, encoder, (ana, bea, _) = setup
    real = leases.select_batch

    def another_rater_selects_first(**kwargs):
        assert real(**{**kwargs, "actor": acting(bea)}) is not None  # the pool's last items...
        return real(**kwargs)  # ...so this selection finds the pool empty

    _settings(engine, batch_size=30)  # one batch takes the whole pool
    monkeypatch.setattr(leases, "select_batch", another_rater_selects_first)
    item = _next(setup, ana)
    assert item is not None and item.text


def test_a_submit_rolled_back_to_break_a_deadlock_is_stored_once(setup, monkeypatch):
    """PostgreSQL breaks a deadlock between a submit and another rater's hand-out by rolling one
    back: the submit runs again and the answer is stored once, not shown as an error."""
    engine, _, (ana, *_) = setup
    item = _next(setup, ana)
    real, calls = label_repo.add, []

    def deadlocked_once(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("INSERT INTO label", {}, _Deadlock())
        return real(**kwargs)

    monkeypatch.setattr(label_repo, "add", deadlocked_once)
    label_id = queue.submit(engine=engine, assignment_id=item.assignment_id, actor=acting(ana),
                            value="mood")
    assert len(calls) == 2
    with session_scope(engine) as session:
        labels = session.exec(select(Label).where(Label.item_id == item.item_id)).all()
    assert [label.id for label in labels] == [label_id]


class _Deadlock(Exception):
    sqlstate = "40P01"
