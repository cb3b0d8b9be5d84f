"""8 raters in threads against one task, on SQLite and PostgreSQL, until the queue is empty."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import select

from labeling.queue import assignments as queue
from storage.db import is_sqlite, session_scope
from storage.models import Label, utcnow
from tests.factories import acting, make_account, make_queue_task, run_together

RATERS = 8
K = 2
ITEMS = 40


def test_eight_concurrent_raters_never_exceed_k_or_repeat_or_lose_a_label(engine, encoder,
                                                                          tmp_path):
    make_queue_task(engine, encoder, tmp_path, n_items=ITEMS, batch_size=6, k=K)
    raters = [make_account(engine, username=f"rater{i}") for i in range(RATERS)]
    start = threading.Barrier(RATERS)

    def work(rater: int) -> list[tuple[int, int, int]]:
        """Pull and submit until the queue is empty: (label, item, rater) of each submit."""
        rng, submitted = random.Random(rater), []
        start.wait()
        for _ in range(ITEMS + 5):
            item = queue.next_item(engine=engine, task_name="music", actor=acting(rater),
                                   encoder=encoder, rng=rng)
            if item is None:
                break
            label_id = queue.submit(engine=engine, assignment_id=item.assignment_id,
                                    actor=acting(rater), value=rng.choice(["mood", "sleep"]))
            submitted.append((label_id, item.item_id, rater))
        return submitted

    outcomes = run_together(*(lambda r=r: work(r) for r in raters), timeout=300)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    submitted = [row for rows in outcomes for row in rows]
    with session_scope(engine) as session:
        stored = session.exec(select(Label.id, Label.item_id, Label.rater_id)).all()
    assert sorted(stored) == sorted(submitted)  # no submitted label is missing
    per_item = Counter(item for _, item, _ in stored)
    assert max(per_item.values()) <= K  # no item gets more than k labels
    assert set(per_item.values()) == {K} and len(per_item) == ITEMS  # the queue is empty
    pairs = Counter((item, rater) for _, item, rater in stored)
    assert max(pairs.values()) == 1  # no rater labels an item twice


def test_a_lease_decision_does_not_wait_for_leases_another_transaction_is_expiring(
        engine, encoder, tmp_path):
    """Every lease decision expires the task's run-out leases. While one transaction holds
    those rows, another rater's decision skips them (PostgreSQL ``SKIP LOCKED``) instead of
    queueing behind it, and a run never shows a lease that has run out."""
    if is_sqlite(engine):
        pytest.skip("SQLite has one writer at a time: no transaction to wait for")
    make_queue_task(engine, encoder, tmp_path, n_items=12, batch_size=6, k=2)
    ana, bob = make_account(engine, username="ana"), make_account(engine, username="bob")
    held = queue.next_item(engine=engine, task_name="music", actor=acting(ana),
                           encoder=encoder, rng=random.Random(0))
    with engine.begin() as connection:  # ana's lease runs out
        connection.execute(text("UPDATE assignment SET expires_at = :past WHERE id = :id"),
                           {"past": utcnow() - timedelta(minutes=5), "id": held.assignment_id})
    expiring = engine.connect()
    transaction = expiring.begin()
    try:  # another transaction is expiring it and has not committed
        expiring.execute(text("UPDATE assignment SET status = 'expired' WHERE id = :id"),
                         {"id": held.assignment_id})
        runs = run_together(
            lambda: queue.upcoming(engine=engine, task_name="music", actor=acting(bob),
                                   encoder=encoder, n=2),
            lambda: queue.upcoming(engine=engine, task_name="music", actor=acting(ana),
                                   encoder=encoder, n=2), timeout=10)
        waited = [run for run in runs if run is None]
    finally:
        transaction.rollback()
        expiring.close()
    assert not waited, "a lease decision waited for the other transaction to end"
    assert not [run for run in runs if isinstance(run, Exception)], runs
    bobs, anas = runs
    assert len(bobs.items) == 2 and len(anas.items) == 2
    assert held.assignment_id not in {item.assignment_id for item in anas.items}


def test_a_run_short_because_another_decision_holds_the_rows_is_topped_up(engine, encoder,
                                                                          tmp_path):
    """Two raters deciding at once can lock each other's next candidates (``SKIP LOCKED``):
    the rater whose run came up short waits for those rows instead of showing a short run."""
    if is_sqlite(engine):
        pytest.skip("SQLite has one writer at a time: no row locks to skip")
    make_queue_task(engine, encoder, tmp_path, n_items=12, batch_size=6, k=2)
    ana, bob = make_account(engine, username="ana"), make_account(engine, username="bob")
    queue.next_item(engine=engine, task_name="music", actor=acting(ana), encoder=encoder,
                    rng=random.Random(0))  # selects the first batch
    with engine.connect() as connection:
        batch = connection.execute(text(
            "SELECT item_id FROM selection WHERE active ORDER BY item_id")).scalars().all()
    assert len(batch) == 6
    deciding = engine.connect()  # another decision holds all but one of the batch's rows
    transaction = deciding.begin()
    deciding.execute(text("SELECT id FROM item WHERE id = ANY(:ids) FOR UPDATE"),
                     {"ids": list(batch[1:])})
    released = threading.Timer(0.5, lambda: (transaction.rollback(), deciding.close()))
    released.start()
    try:
        run = queue.upcoming(engine=engine, task_name="music", actor=acting(bob),
                             encoder=encoder, n=2)
    finally:
        released.join()
    assert len(run.items) == 2 and len({item.item_id for item in run.items}) == 2
