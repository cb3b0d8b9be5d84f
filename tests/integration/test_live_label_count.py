"""``item.live_labels``, the count the queue's pool reads, is kept by the database: whatever
writes the labels (the queue, a correction, an adjudication, an erasure, plain SQL), it equals
the count of the item's live rater labels, and the migration fills it for existing data."""

from __future__ import annotations

import random

from sqlalchemy import text
from sqlmodel import select

from labeling.queue import assignments as queue
from labeling.review import adjudication
from labeling.review.consensus import recompute
from storage.db import current_revision, head_revision, migrate, session_scope
from storage.models import Item, Label
from tests.factories import CLI, acting, make_account, make_queue_task
from tests.integration.test_storage import _downgrade

COUNTED = """SELECT item.id, item.live_labels, (SELECT count(DISTINCT label.rater_id) FROM label
    WHERE label.item_id = item.id AND label.source = 'rater' AND NOT label.unsure
    AND NOT label.superseded) FROM item ORDER BY item.id"""


def _stored_and_counted(engine) -> list[tuple[int, int, int]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(COUNTED))]


def test_the_stored_count_follows_every_way_labels_change(engine, encoder, tmp_path):
    make_queue_task(engine, encoder, tmp_path, n_items=10, batch_size=5, k=3)
    raters = [make_account(engine, username=n) for n in ("ana", "ben", "cy")]
    reviewer = make_account(engine, username="rosa", role="reviewer")
    rng = random.Random(3)
    given: list[tuple[int, int]] = []
    for _ in range(12):
        for rater in raters:
            item = queue.next_item(engine=engine, actor=acting(rater), task_name="music",
                                   encoder=encoder, rng=random.Random(0))
            if item is None:
                continue
            label = queue.submit(engine=engine, actor=acting(rater),
                                 assignment_id=item.assignment_id,
                                 value=rng.choice(["mood", "sleep"]), unsure=rng.random() < 0.2)
            given.append((rater, label))
    for rater, label in rng.sample(given, 6):  # changes of mind, unsure ones made sure
        queue.correct(engine=engine, actor=acting(rater), label_id=label, value="workout")
    recompute(engine=engine, actor=CLI, task_name="music")
    case = adjudication.cases(engine=engine, actor=acting(reviewer), task_name="music")[0]
    adjudication.decide(engine=engine, actor=acting(reviewer), task_name="music",
                        item_id=case.item_id, value="mood")
    rows = _stored_and_counted(engine)
    assert all(stored == counted for _, stored, counted in rows), rows
    assert sum(stored for _, stored, _ in rows) >= 10  # the run did label, not only skip


def test_labels_written_by_plain_sql_are_counted_too(engine, encoder, tmp_path):
    make_queue_task(engine, encoder, tmp_path, n_items=2)
    rater = make_account(engine, username="ana")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO label (task_id, item_id, rater_id, value, slots, unsure, source, "
            "submitted_at, is_gold, superseded) VALUES (1, 1, :r, 'mood', '{}', false, "
            "'rater', '2026-01-01 00:00:00', false, false)"), {"r": rater})
    assert _stored_and_counted(engine)[0][1:] == (1, 1)
    with engine.begin() as connection:
        connection.execute(text("UPDATE label SET superseded = true"))
    assert _stored_and_counted(engine)[0][1:] == (0, 0)
    with engine.begin() as connection:
        connection.execute(text("UPDATE label SET superseded = false, item_id = 2"))
    assert [row[1:] for row in _stored_and_counted(engine)] == [(0, 0), (1, 1)]
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM label"))
    assert [row[1] for row in _stored_and_counted(engine)] == [0, 0]


def test_the_migration_counts_the_labels_already_there(engine, encoder, tmp_path):
    make_queue_task(engine, encoder, tmp_path, n_items=3, k=2)
    raters = [make_account(engine, username=n) for n in ("ana", "ben")]
    for rater in raters:
        for _ in range(3):
            item = queue.next_item(engine=engine, actor=acting(rater), task_name="music",
                                   encoder=encoder, rng=random.Random(0))
            queue.submit(engine=engine, actor=acting(rater), assignment_id=item.assignment_id,
                         value="mood")
    _downgrade(engine, "0013")
    migrate(engine)
    assert current_revision(engine) == head_revision()
    with session_scope(engine) as session:
        assert [i.live_labels for i in session.exec(select(Item).order_by(Item.id))] == [2, 2, 2]
        assert len(session.exec(select(Label)).all()) == 6
