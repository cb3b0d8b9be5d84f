"""Prefetched runs of leases (issue 15): ``upcoming`` never selects, ``refill`` selects ahead
of need once, ``submit`` refuses what is no longer the rater's, and a rater who closes the tab
holding a run loses nobody a label. On SQLite and PostgreSQL."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlmodel import func, select
from typer.testing import CliRunner

from app.cli import app
from labeling.lifecycle.training import retrain
from labeling.ml.encoders import HashingEncoder
from labeling.project.tasks import update_settings
from labeling.queue import assignments as queue
from labeling.queue.assignments import QueueError
from storage.db import make_engine, session_scope
from storage.models import Label, Selection, Task, utcnow
from tests.factories import (
    CLI,
    acting,
    import_labeled,
    labeled_rows,
    make_account,
    make_queue_task,
    make_task,
    run_together,
    snapshot,
)


@pytest.fixture
def setup(engine, encoder, tmp_path):
    make_queue_task(engine, encoder, tmp_path, n_items=12, batch_size=5, k=2)
    raters = [make_account(engine, username=f"r{i}") for i in range(4)]
    return engine, encoder, raters


def _upcoming(setup, rater, **kwargs) -> queue.Run:
    engine, encoder, _ = setup
    kwargs.setdefault("rng", random.Random(rater))
    return queue.upcoming(engine=engine, actor=acting(rater), task_name="music",
                          encoder=encoder, **kwargs)


def _refill(setup, actor, **kwargs) -> bool:
    engine, encoder, _ = setup
    return queue.refill(engine=engine, actor=actor, task_name="music", encoder=encoder,
                        **kwargs)


def _batches(engine) -> int:
    with session_scope(engine) as session:
        return session.exec(select(func.count(func.distinct(Selection.batch_id)))).one()


def _ids(run: queue.Run) -> list[int]:
    return [item.assignment_id for item in run.items]


def test_an_empty_queue_asks_for_a_batch_and_never_selects_one(setup):
    engine, _, (ana, *_) = setup
    run = _upcoming(setup, ana)
    assert run.items == [] and run.needs_batch and run.left == 0
    assert _batches(engine) == 0
    assert _refill(setup, acting(ana)) and _batches(engine) == 1
    run = _upcoming(setup, ana)
    assert len(run.items) == 3 and not run.needs_batch and run.left == 5


def test_a_run_tops_up_in_lease_order_and_a_repeat_call_gives_it_back(setup):
    engine, _, (ana, *_) = setup
    _refill(setup, CLI)
    first = _upcoming(setup, ana)
    assert _ids(first) == sorted(_ids(first)) and len(first.items) == 3
    assert _ids(_upcoming(setup, ana)) == _ids(first)  # a reload loses nothing
    assert queue.next_item(engine=engine, actor=acting(ana), task_name="music",
                           encoder=setup[1]).assignment_id == _ids(first)[0]
    queue.submit(engine=engine, actor=acting(ana), assignment_id=_ids(first)[0], value="mood")
    second = _upcoming(setup, ana)
    assert _ids(second)[:2] == _ids(first)[1:] and len(second.items) == 3
    assert _ids(_upcoming(setup, ana, n=1)) == _ids(second)[:1]
    with pytest.raises(QueueError, match="1 to 3"):
        _upcoming(setup, ana, n=4)


def test_upcoming_leases_only_from_active_batches_until_they_are_dry(setup):
    engine, _, (ana, *_) = setup
    _refill(setup, CLI)
    answered = 0
    while (run := _upcoming(setup, ana)).items:
        queue.submit(engine=engine, actor=acting(ana), assignment_id=run.items[0].assignment_id,
                     value="mood")
        answered += 1
        assert run.left == 5 - answered + 1
    assert answered == 5 and _batches(engine) == 1  # never selected inside upcoming
    assert run.needs_batch and run.left == 0


def test_a_rater_running_low_gets_the_next_batch_before_running_out(setup):
    """Batches of 5 (low water 5): the second batch is selected while the rater still holds
    prompts, so their run never empties at the boundary."""
    engine, _, (ana, *_) = setup
    _refill(setup, CLI)
    run = _upcoming(setup, ana)
    assert not run.running_low and not _refill(setup, acting(ana))  # a whole batch: not low
    queue.submit(engine=engine, actor=acting(ana), assignment_id=run.items[0].assignment_id,
                 value="mood")
    run = _upcoming(setup, ana)
    assert run.left == 4 and run.running_low and not run.needs_batch and len(run.items) == 3
    assert _refill(setup, acting(ana)) and _batches(engine) == 2
    run = _upcoming(setup, ana)
    assert run.left == 9 and not run.running_low
    answered = 0
    while (run := _upcoming(setup, ana)).items and answered < 9:
        queue.submit(engine=engine, actor=acting(ana), assignment_id=run.items[0].assignment_id,
                     value="mood")
        answered += 1
    assert answered == 9  # the boundary between the batches passed without an empty run


def test_a_batch_stored_while_the_run_is_decided_is_leased_not_taken_for_the_end(
        setup, monkeypatch):
    """A background refill commits right after the leases were decided (none left) and before
    the run is counted: the rater gets the new batch, not an empty run."""
    from labeling.queue import leases

    engine, _, (ana, *_) = setup
    original, refills = leases._lease_run, []

    def refill_after(**kwargs):
        decided = original(**kwargs)
        if not refills:
            refills.append(_refill(setup, CLI))
        return decided

    monkeypatch.setattr(leases, "_lease_run", refill_after)
    run = _upcoming(setup, ana)
    assert refills == [True] and len(run.items) == 3 and run.left == 5
    assert not run.needs_batch and _batches(engine) == 1


def test_refill_selects_once_under_two_concurrent_callers(setup):
    engine, _, (ana, ben, *_) = setup
    barrier = threading.Barrier(2)

    def call(rater: int) -> bool:
        barrier.wait()
        return _refill(setup, acting(rater))

    outcomes = run_together(lambda: call(ana), lambda: call(ben))
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert sorted(outcomes) == [False, True]  # one of them selected
    assert _batches(engine) == 1
    assert not _refill(setup, acting(ana))  # a whole batch of free slots is not low


def _label_eight_each(setup, raters) -> None:
    engine, encoder, _ = setup
    for _ in range(8):
        for rater in raters:
            item = queue.next_item(engine=engine, actor=acting(rater), task_name="music",
                                   encoder=encoder, rng=random.Random(0))
            queue.submit(engine=engine, actor=acting(rater), assignment_id=item.assignment_id,
                         value="mood" if item.item_id % 2 else "workout")


def test_refill_after_a_retrain_replaces_the_old_models_batches(setup, tmp_path):
    engine, encoder, (ana, ben, *_) = setup
    _label_eight_each(setup, (ana, ben))
    _refill(setup, CLI)
    assert not _refill(setup, CLI)  # topped up: not low
    batches = _batches(engine)
    retrain(engine=engine, task_name="music", encoder=encoder, models_dir=tmp_path / "models",
            actor=CLI)
    update_settings(engine=engine, task_name="music", changes={"show_suggestions": True},
                    actor=CLI)
    assert _refill(setup, CLI) and _batches(engine) == batches + 1
    with session_scope(engine) as session:
        active = session.exec(select(Selection.model_version_id).where(Selection.active)).all()
    assert set(active) == {1}
    run = _upcoming(setup, ana)
    assert len(run.items) == 3, run
    assert all(item.suggestion.label in {"mood", "workout"} for item in run.items)


def test_a_refill_loads_the_serving_model_before_it_takes_the_selection_claim(
        setup, tmp_path, monkeypatch):
    """Loading a model can take seconds in a fresh process; while one rater's refill holds the
    task's selection claim, every other rater's refill waits, so no load happens inside it."""
    from labeling.lifecycle import model_files, registry

    engine, encoder, (ana, ben, *_) = setup
    _label_eight_each(setup, (ana, ben))
    retrain(engine=engine, task_name="music", encoder=encoder, models_dir=tmp_path / "models",
            actor=CLI)
    claimed_while_loading = []
    load = model_files.load_model

    def watched_load(path, *, expected_sha256):
        with session_scope(engine) as session:
            claimed_while_loading.append(session.exec(select(Task.selecting_until)).one())
        return load(path, expected_sha256=expected_sha256)

    monkeypatch.setattr(model_files, "load_model", watched_load)
    monkeypatch.setattr(registry, "MODEL_CACHE", model_files.ModelCache())  # a fresh process
    _refill(setup, acting(ana))
    assert claimed_while_loading == [None]


def test_workbench_train_selects_the_next_batch_for_the_raters(workbench_env, tmp_path):
    engine = make_engine(workbench_env)
    make_task(engine)
    import_labeled(engine, HashingEncoder(), tmp_path, labeled_rows(60))
    trained = CliRunner().invoke(app, ["train", "--task", "music"])
    assert trained.exit_code == 0, trained.output
    assert "selected the next batch to label" in trained.output
    with session_scope(engine) as session:
        active = session.exec(select(Selection.model_version_id).where(Selection.active)).all()
    engine.dispose()
    assert active and set(active) == {1}


def test_seconds_on_screen_are_stored_as_given(setup):
    engine, _, (ana, *_) = setup
    _refill(setup, CLI)
    now = utcnow()
    first, second = _upcoming(setup, ana, now=now).items[:2]
    later = now + timedelta(seconds=30)
    given = queue.submit(engine=engine, actor=acting(ana), assignment_id=first.assignment_id,
                         value="mood", now=later, seconds=1.25)
    measured = queue.submit(engine=engine, actor=acting(ana),
                            assignment_id=second.assignment_id, value="sleep", now=later)
    with session_scope(engine) as session:
        label, default = session.get(Label, given), session.get(Label, measured)
        assert label.seconds == 1.25 and label.shown_at == later - timedelta(seconds=1.25)
        assert default.seconds == 30.0 and default.shown_at == now
    third = _upcoming(setup, ana).items[0]
    with pytest.raises(QueueError, match="seconds"):
        queue.submit(engine=engine, actor=acting(ana), assignment_id=third.assignment_id,
                     value="mood", seconds=-1.0)


def test_a_submit_that_is_no_longer_the_raters_lease_is_refused_and_stores_nothing(setup):
    engine, _, (ana, *others) = setup
    update_settings(engine=engine, task_name="music", changes={"lease_seconds": 60}, actor=CLI)
    _refill(setup, CLI)
    now = utcnow()
    answered, held, *_ = _upcoming(setup, ana, now=now).items
    queue.submit(engine=engine, actor=acting(ana), assignment_id=answered.assignment_id,
                 value="mood", now=now)
    before = snapshot(engine)
    with pytest.raises(QueueError, match="already submitted"):
        queue.submit(engine=engine, actor=acting(ana), assignment_id=answered.assignment_id,
                     value="sleep", now=now)
    later = now + timedelta(seconds=61)
    for rater in others:  # the lease runs out and the item goes to another rater
        if held.item_id in {item.item_id for item in _upcoming(setup, rater, now=later).items}:
            break
    else:
        raise AssertionError("nobody was given the item")
    before = snapshot(engine)
    with pytest.raises(QueueError, match="went to another rater"):
        queue.submit(engine=engine, actor=acting(ana), assignment_id=held.assignment_id,
                     value="mood", now=later)
    assert snapshot(engine) == before


def _label_until_empty(setup, raters, now) -> list[tuple[int, int, int]]:
    """Each rater takes their run and answers its first item, in turn, refilling when asked."""
    engine = setup[0]
    stored: list[tuple[int, int, int]] = []
    for _ in range(200):
        progressed = False
        for rater in raters:
            run = _upcoming(setup, rater, now=now)
            if not run.items and run.needs_batch:
                _refill(setup, acting(rater), now=now)
                run = _upcoming(setup, rater, now=now)
            if not run.items:
                continue
            progressed = True
            item = run.items[0]
            label_id = queue.submit(engine=engine, actor=acting(rater),
                                    assignment_id=item.assignment_id, value="mood", now=now)
            stored.append((label_id, item.item_id, rater))
        if not progressed:
            return stored
    raise AssertionError("the queue never emptied")


def test_a_rater_who_closes_the_tab_holding_a_run_loses_nobody_a_label(setup):
    engine, _, (ana, *others) = setup
    update_settings(engine=engine, task_name="music", changes={"lease_seconds": 60}, actor=CLI)
    now = utcnow()
    _refill(setup, acting(ana), now=now)
    abandoned = _upcoming(setup, ana, now=now).items  # ana closes the tab
    assert len(abandoned) == 3
    later = now + timedelta(seconds=61)
    stored = _label_until_empty(setup, others, later)
    for item in abandoned:  # stale answers from the closed tab are refused
        with pytest.raises(QueueError, match="ran out"):
            queue.submit(engine=engine, actor=acting(ana), assignment_id=item.assignment_id,
                         value="mood", now=later)
    with session_scope(engine) as session:
        rows = session.exec(select(Label.id, Label.item_id, Label.rater_id)).all()
    assert sorted(rows) == sorted(stored)  # no label lost, none added
    per_item = Counter(item for _, item, _ in rows)
    assert set(per_item.values()) == {2} and len(per_item) == 12  # k distinct raters each
    assert {item.item_id for item in abandoned} <= set(per_item)  # others got ana's run
    assert max(Counter((item, rater) for _, item, rater in rows).values()) == 1
    assert ana not in {rater for _, _, rater in rows}
    run = _upcoming(setup, ana, now=later)
    assert run.items == [] and not run.needs_batch and run.left == 0  # nothing left for her


def test_one_batch_selection_at_a_time_per_task_and_no_item_in_two_batches(setup,
                                                                           monkeypatch):
    """Two selections at once (each in its own thread, as two app instances would): the second
    waits for the first's claim in the database, then selects from what is left."""
    from labeling.queue import batches

    engine, encoder, _ = setup
    real, running, most = batches.get_strategy, [], []

    class Slow:
        def __init__(self, strategy):
            self.strategy = strategy

        def select(self, **kwargs):
            running.append(1)
            most.append(len(running))
            time.sleep(0.4)
            try:
                return self.strategy.select(**kwargs)
            finally:
                running.pop()

    monkeypatch.setattr(batches, "get_strategy", lambda name: Slow(real(name)))
    outcomes = run_together(*[lambda: batches.select_batch(
        engine=engine, actor=CLI, task_name="music", encoder=encoder)] * 2)
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert not errors, errors
    assert max(most) == 1 and _batches(engine) == 2
    with session_scope(engine) as session:
        active = session.exec(select(Selection.item_id).where(Selection.active)).all()
        claim = session.exec(select(Task.selecting_until)).one()
    assert len(active) == len(set(active)) == 10 and claim is None


def test_a_claim_left_by_a_crashed_selection_runs_out(setup, monkeypatch):
    from labeling.queue import batches

    engine, encoder, _ = setup
    monkeypatch.setattr(batches, "CLAIM_POLL_SECONDS", 0.05)
    with session_scope(engine) as session:
        task = session.exec(select(Task)).one()
        task.selecting_until = utcnow() + timedelta(seconds=1)  # a selection that died
        session.add(task)
    started = time.monotonic()
    assert batches.select_batch(engine=engine, actor=CLI, task_name="music", encoder=encoder)
    assert time.monotonic() - started >= 0.5 and _batches(engine) == 1


def test_a_refill_waiting_for_the_claim_stops_once_enough_is_left(setup, monkeypatch):
    """Raters' refills wait in line for one claim; a waiter whose need another's batch has met
    leaves the line instead of taking the claim in turn."""
    from labeling.queue import batches

    engine, _, (ana, *_) = setup
    monkeypatch.setattr(batches, "CLAIM_POLL_SECONDS", 0.05)
    assert _refill(setup, CLI)  # a whole batch: not low
    with session_scope(engine) as session:
        task = session.exec(select(Task)).one()
        task.selecting_until = utcnow() + timedelta(seconds=60)  # another selection runs
        session.add(task)
    started = time.monotonic()
    assert not _refill(setup, acting(ana))
    assert time.monotonic() - started < 10 and _batches(engine) == 1


def test_the_database_refuses_an_item_in_two_active_batches(setup):
    from sqlalchemy.exc import IntegrityError

    engine, encoder, _ = setup
    _refill(setup, CLI)
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        chosen = session.exec(select(Selection).where(Selection.active)).first()
        session.add(Selection(**{**chosen.model_dump(exclude={"id"}), "batch_id": "other"}))
        session.flush()


def test_a_rater_holding_a_full_run_gets_it_without_a_write(setup, monkeypatch):
    """A rerun of the Label page with nothing answered reads; only topping up writes."""
    from labeling.queue import leases

    engine, _, (ana, *_) = setup
    _refill(setup, CLI)
    first = _upcoming(setup, ana)
    real, writes = leases.write_scope, []

    def counting(engine_):
        writes.append(1)
        return real(engine_)

    monkeypatch.setattr(leases, "write_scope", counting)
    assert _ids(_upcoming(setup, ana)) == _ids(first) and writes == []
    queue.submit(engine=engine, actor=acting(ana), assignment_id=_ids(first)[0], value="mood")
    assert len(_upcoming(setup, ana).items) == 3 and len(writes) == 1
    later = utcnow() + timedelta(hours=2)  # the run has expired: decided again, in a write
    assert _upcoming(setup, ana, now=later).items and len(writes) == 2

