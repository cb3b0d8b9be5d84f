"""Queries behind the label-quality report: rater labels, consensus rows and throughput.

Times are UTC. A date range is a pair of ``datetime`` bounds, ``start`` inclusive and ``end``
exclusive (``None`` leaves that side open); the service turns UTC days into such bounds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import not_
from sqlalchemy.orm import aliased
from sqlmodel import Session, func, select

from storage.models import Account, Consensus, Item, Label, LabelSource

RATER_LABEL_COLUMNS = (
    "label_id", "item_id", "rater", "value", "unsure", "submitted_at", "seconds", "is_gold",
    "gold_label",
)


def _in_range(statement: Any, start: datetime | None, end: datetime | None) -> Any:
    if start is not None:
        statement = statement.where(Label.submitted_at >= start)
    if end is not None:
        statement = statement.where(Label.submitted_at < end)
    return statement


def rater_labels(
    *, session: Session, task_id: int, start: datetime | None = None,
    end: datetime | None = None,
) -> list[tuple[Any, ...]]:
    """The task's live rater labels (not superseded; unsure ones included, marked) submitted in
    ``[start, end)``, with the rater's username and the item's gold label: one tuple per label,
    in the order of ``RATER_LABEL_COLUMNS`` (tuples, not dicts: a week at a million prompts is
    48,000 labels). Ordered by submission time, then label id.
    """
    # The item's gold label looked up per label (by primary key): a join makes PostgreSQL scan
    # a million items for a week's labels (0.3 s of 0.6 s).
    gold_label = select(Item.gold_label).where(Item.id == Label.item_id).scalar_subquery()
    statement = (
        select(Label.id, Label.item_id, Account.username, Label.value, Label.unsure,
               Label.submitted_at, Label.seconds, Label.is_gold, gold_label)
        .join(Account, Account.id == Label.rater_id)
        .where(Label.task_id == task_id, Label.source == LabelSource.rater,
               not_(Label.superseded))
        .order_by(Label.submitted_at, Label.id)
    )
    statement = _in_range(statement, start, end)
    return [tuple(row) for row in session.exec(statement)]


def _labeled_in_range(task_id: int, start: datetime | None, end: datetime | None,
                      *, sure: bool = False) -> Any:
    """The ids of items with a live rater label (with ``sure``: not unsure) in ``[start, end)``:
    a subquery, or ``None`` when the range is open on both sides."""
    if start is None and end is None:
        return None
    statement = select(Label.item_id).where(Label.task_id == task_id,
                                            Label.source == LabelSource.rater,
                                            not_(Label.superseded))
    if sure:
        statement = statement.where(not_(Label.unsure))
    return _in_range(statement, start, end)


def consensus_rows(*, session: Session, task_id: int, start: datetime | None = None,
                   end: datetime | None = None) -> list[dict[str, Any]]:
    """The task's stored consensus rows as plain dicts; with a range, only those of items with a
    live rater label in ``[start, end)`` (the only ones a report over the range reads)."""
    columns = (Consensus.item_id, Consensus.value, Consensus.method, Consensus.confidence,
               Consensus.agreement, Consensus.n_labels, Consensus.settled,
               Consensus.needs_adjudication, Consensus.suspect)
    statement = select(*columns).where(Consensus.task_id == task_id).order_by(Consensus.item_id)
    labeled = _labeled_in_range(task_id, start, end)
    if labeled is not None:
        statement = statement.where(Consensus.item_id.in_(labeled))  # type: ignore[attr-defined]
    names = [column.key for column in columns]
    return [dict(zip(names, row, strict=True)) for row in session.exec(statement)]


def _live_sure(label: Any, task_id: int) -> tuple[Any, ...]:
    return (label.task_id == task_id, label.source == LabelSource.rater, not_(label.unsure),
            not_(label.superseded))


def _completion_times(session: Session, task_id: int, k: int, start: datetime | None = None,
                      end: datetime | None = None) -> list[datetime]:
    """Per item, when its ``k``-th distinct rater gave a live, sure label (items short of k:
    none). Counted over all time, so an item completed in range counts even if its first
    labels came before it; with a range, only items with a live, sure label in it are read
    (an item completed in range has its ``k``-th label there). A rater has one live label per
    item (``ux_label_one_live_per_rater``), so the ``k``-th live label is the ``k``-th rater's.

    With a range, each item's ``k``-th label is looked up on its own (a correlated subquery on
    ``label.item_id``): a window over the labels of the items in range makes PostgreSQL
    misjudge their number and scan the whole table (1.0 s for a week of 5 million labels,
    against 0.05 s). Over all time, the database numbers every label (a window function)."""
    labeled = _labeled_in_range(task_id, start, end, sure=True)
    if labeled is None:
        ranked = (
            select(Label.submitted_at, func.row_number().over(
                partition_by=Label.item_id, order_by=(Label.submitted_at, Label.id)).label("nth"))
            .where(*_live_sure(Label, task_id))
        ).subquery()
        return list(session.exec(select(ranked.c.submitted_at).where(ranked.c.nth == k)))
    items = labeled.distinct().subquery()
    other = aliased(Label)
    kth = (
        select(other.submitted_at)
        .where(other.item_id == items.c.item_id, *_live_sure(other, task_id))
        .order_by(other.submitted_at, other.id).offset(k - 1).limit(1)
        .correlate(items).scalar_subquery()
    )
    return [moment for moment in session.exec(select(kth).select_from(items))
            if moment is not None]


def _within(moment: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or moment >= start) and (end is None or moment < end)


def throughput_per_day(
    *, session: Session, task_id: int, k: int, labeled_days: Iterable[date],
    start: datetime | None = None, end: datetime | None = None,
) -> list[dict[str, Any]]:
    """Per UTC day in ``[start, end)`` with any activity: ``labels`` (live rater labels
    submitted, unsure included: ``labeled_days`` holds their UTC days, as read by
    ``rater_labels``) and ``items_completed`` (items whose ``k``-th rater's label came that day).
    Rows ``{"day": date, "labels": int, "items_completed": int}`` by day.
    """
    labels = Counter(labeled_days)
    completed = Counter(moment.date()
                        for moment in _completion_times(session, task_id, k, start, end)
                        if _within(moment, start, end))
    return [
        {"day": day, "labels": labels.get(day, 0), "items_completed": completed.get(day, 0)}
        for day in sorted(set(labels) | set(completed))
    ]


def waiting_for_adjudication(*, session: Session, task_id: int) -> int:
    """How many of the task's items wait for a reviewer's decision now."""
    statement = select(func.count()).select_from(Consensus).where(
        Consensus.task_id == task_id, Consensus.needs_adjudication)
    return int(session.exec(statement).one())
