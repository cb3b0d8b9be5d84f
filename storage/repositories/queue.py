"""Queries of the labeling queue: selections, leases and the counts that bound them.

An item's *load* is the number of raters holding a live label (not unsure, not superseded:
``item.live_labels``, which the database keeps) plus the live leases on it; the queue hands an
item out only while its load is below the task's overlap k (plus any extra raters).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, distinct, exists, func, insert, not_, or_, update
from sqlmodel import Session, select

from storage.models import Assignment, Item, Label, Selection
from storage.repositories._bulk import id_filters, id_list

LEASED = "leased"


def _live_leases(item_id_column) -> Any:
    return (
        select(func.count())
        .select_from(Assignment)
        .where(Assignment.item_id == item_id_column, Assignment.status == LEASED)
        .scalar_subquery()
    )


def expire_leases(*, session: Session, task_id: int, now: datetime) -> int:
    """Mark the task's run-out leases expired, skipping rows another transaction holds (on
    PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite has one writer at a time).

    Every lease decision runs this, so with a plain ``UPDATE`` raters queued behind each other
    on the same run-out rows (each waited for the one before to commit). A skipped row still
    reads as leased in this transaction, so it counts as load: never an item over its k.
    """
    run_out = (
        select(Assignment.id)
        .where(Assignment.task_id == task_id, Assignment.status == LEASED,
               Assignment.expires_at < now)
        .with_for_update(skip_locked=True)
    )
    result = session.execute(
        update(Assignment).where(Assignment.id.in_(run_out.scalar_subquery()))
        .values(status="expired")
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def open_lease(*, session: Session, task_id: int, rater_id: int) -> Assignment | None:
    statement = select(Assignment).where(
        Assignment.task_id == task_id, Assignment.rater_id == rater_id,
        Assignment.status == LEASED,
    ).order_by(Assignment.id)
    return session.exec(statement).first()


def open_leases(*, session: Session, task_id: int, rater_id: int) -> list[Assignment]:
    """The rater's live leases on the task, oldest first (the order to show them)."""
    statement = select(Assignment).where(
        Assignment.task_id == task_id, Assignment.rater_id == rater_id,
        Assignment.status == LEASED,
    ).order_by(Assignment.leased_at, Assignment.id)
    return list(session.exec(statement))


def given_to_another_since(*, session: Session, assignment: Assignment) -> bool:
    """Whether another rater was leased the assignment's item after the assignment ran out."""
    statement = select(exists().where(
        Assignment.item_id == assignment.item_id, Assignment.rater_id != assignment.rater_id,
        Assignment.leased_at > assignment.expires_at,
    ))
    return bool(session.exec(statement).one())


def _not_seen_by(rater_id: int) -> Any:
    labeled = exists().where(Label.item_id == Item.id, Label.rater_id == rater_id)
    held = exists().where(Assignment.item_id == Item.id, Assignment.rater_id == rater_id)
    return and_(not_(labeled), not_(held))


def candidate_items(
    *, session: Session, task_id: int, rater_id: int, k: int, limit: int, lock: bool
) -> list[tuple[int, int]]:
    """(item id, selection id) pairs the rater may take, oldest batch and best score first.

    With ``lock`` (PostgreSQL) the item rows are locked ``FOR UPDATE SKIP LOCKED``, so two
    raters never decide on the same row at once.
    """
    statement = (
        select(Item.id, Selection.id)
        .join(Selection, and_(Selection.item_id == Item.id, Selection.active))
        .where(Selection.task_id == task_id, Item.gold_label.is_(None),  # type: ignore[union-attr]
               not_(Item.opted_out), _not_seen_by(rater_id),
               Item.live_labels + _live_leases(Item.id) < k + Item.extra_raters)
        .order_by(Selection.created_at, Selection.score.desc().nulls_last(), Item.id)  # type: ignore[union-attr]
        .limit(limit)
    )
    if lock:
        statement = statement.with_for_update(of=Item, skip_locked=True)
    return [(i, s) for i, s in session.exec(statement)]


def gold_candidates(
    *, session: Session, task_id: int, rater_id: int, limit: int, lock: bool
) -> list[int]:
    """Gold items the rater has not seen (gold is shown to every rater, not capped by k)."""
    statement = (
        select(Item.id)
        .where(Item.task_id == task_id, Item.gold_label.is_not(None),  # type: ignore[union-attr]
               _not_seen_by(rater_id))
        .order_by(Item.id)
        .limit(limit)
    )
    if lock:
        statement = statement.with_for_update(skip_locked=True)
    return list(session.exec(statement))


def item_room(*, session: Session, item_id: int, k: int) -> int:
    """How many more raters the item takes: k plus any extra, less live labels and leases."""
    statement = select(k + Item.extra_raters - Item.live_labels - _live_leases(item_id))
    return session.exec(statement.where(Item.id == item_id)).one()


def lock_item(*, session: Session, item_id: int) -> Item | None:
    statement = select(Item).where(Item.id == item_id)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update()
    return session.exec(statement).first()


def _selectable(*, task_id: int, k: int) -> tuple[Any, ...]:
    """The conditions of an item that may be selected: not gold, not opted out, below k labels
    (plus its extra raters), not in an active batch."""
    in_batch = exists().where(Selection.item_id == Item.id, Selection.active)
    return (Item.task_id == task_id, Item.gold_label.is_(None),  # type: ignore[union-attr]
            not_(Item.opted_out), not_(in_batch), Item.live_labels < k + Item.extra_raters)


def pool_item_ids(*, session: Session, task_id: int, k: int) -> list[int]:
    """Items that may be selected (``_selectable``), ascending."""
    return id_list(session=session, statement=select(Item.id).where(*_selectable(
        task_id=task_id, k=k)))


def deactivate_batches(*, session: Session, task_id: int, keep_model_id: int | None) -> int:
    """Retire active selections made under another model than ``keep_model_id``."""
    other_model = (
        Selection.model_version_id.is_(None)  # type: ignore[union-attr]
        if keep_model_id is not None else Selection.model_version_id.is_not(None)  # type: ignore[union-attr]
    )
    if keep_model_id is not None:
        other_model = or_(other_model, Selection.model_version_id != keep_model_id)
    result = session.execute(
        update(Selection).where(Selection.task_id == task_id, Selection.active, other_model)
        .values(active=False)
    )
    return result.rowcount or 0


def add_selections(*, session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(Selection), list(rows))


def labeled_today(*, session: Session, task_id: int, rater_id: int, since: datetime) -> int:
    statement = select(func.count()).select_from(Label).where(
        Label.task_id == task_id, Label.rater_id == rater_id, Label.submitted_at >= since,
        Label.corrects_label_id.is_(None),  # type: ignore[union-attr]
    )
    return session.exec(statement).one()


def left_for_rater(*, session: Session, task_id: int, rater_id: int, k: int) -> int:
    """Items in active batches the rater could still be given, plus unselected pool items."""
    selected = select(func.count(distinct(Item.id))).join(
        Selection, and_(Selection.item_id == Item.id, Selection.active)
    ).where(Selection.task_id == task_id, not_(Item.opted_out), _not_seen_by(rater_id),
            Item.live_labels < k + Item.extra_raters)
    pool = select(func.count()).select_from(Item).where(
        *_selectable(task_id=task_id, k=k), _not_seen_by(rater_id))
    return session.exec(selected).one() + session.exec(pool).one()


def rater_history(*, session: Session, task_id: int, rater_id: int, limit: int) -> list[Any]:
    statement = (
        select(Label, Item.text)
        .join(Item, Item.id == Label.item_id)
        .where(Label.task_id == task_id, Label.rater_id == rater_id, not_(Label.superseded))
        .order_by(Label.submitted_at.desc(), Label.id.desc())  # type: ignore[union-attr]
        .limit(limit)
    )
    return list(session.exec(statement))


def still_free(*, session: Session, task_id: int, item_ids: Sequence[int], k: int) -> set[int]:
    """Those of ``item_ids`` that may still be selected (``_selectable``)."""
    free: set[int] = set()
    for condition in id_filters(session=session, column=Item.id, ids=list(item_ids)):
        free.update(session.exec(select(Item.id).where(
            condition, *_selectable(task_id=task_id, k=k))))
    return free


def deactivate_item_selections(*, session: Session, item_ids: Sequence[int]) -> None:
    """Retire the active selections of these items (before they are selected anew)."""
    session.execute(
        update(Selection).where(Selection.item_id.in_(list(item_ids)), Selection.active)  # type: ignore[union-attr]
        .values(active=False)
    )


def _room(k: int) -> Any:
    return k + Item.extra_raters - Item.live_labels - _live_leases(Item.id)


def left_in_batches(*, session: Session, task_id: int, rater_id: int, k: int) -> int:
    """Items of the active batches the rater could still be leased (their leases excluded;
    gold is handed out on its own, so an item made gold after its selection is not counted)."""
    statement = select(func.count(distinct(Item.id))).join(
        Selection, and_(Selection.item_id == Item.id, Selection.active)
    ).where(Selection.task_id == task_id, Item.gold_label.is_(None),  # type: ignore[union-attr]
            not_(Item.opted_out), _not_seen_by(rater_id), _room(k) > 0)
    return session.exec(statement).one()


def pool_has_item_for(*, session: Session, task_id: int, rater_id: int, k: int) -> bool:
    """Whether an unselected pool item is left that the rater could label (a new batch could
    give them work)."""
    in_batch = exists().where(Selection.item_id == Item.id, Selection.active)
    statement = select(Item.id).where(
        Item.task_id == task_id, Item.gold_label.is_(None),  # type: ignore[union-attr]
        not_(Item.opted_out), not_(in_batch), _not_seen_by(rater_id),
        Item.live_labels < k + Item.extra_raters,
    ).limit(1)
    return session.exec(statement).first() is not None


def free_slots(*, session: Session, task_id: int, k: int) -> int:
    """Leases the active batches can still hand out, over all raters (room summed per item)."""
    room = _room(k)
    statement = (
        select(func.coalesce(func.sum(case((room > 0, room), else_=0)), 0))
        .select_from(Selection)
        .join(Item, Item.id == Selection.item_id)
        .where(Selection.task_id == task_id, Selection.active, not_(Item.opted_out))
    )
    return int(session.exec(statement).one())


def recent_raters(*, session: Session, task_id: int, since: datetime) -> int:
    """How many distinct raters were leased an item of the task since ``since``."""
    statement = select(func.count(distinct(Assignment.rater_id))).where(
        Assignment.task_id == task_id, Assignment.leased_at >= since
    )
    return session.exec(statement).one()
