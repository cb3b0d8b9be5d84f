"""Queries behind the label-quality report: rater labels, consensus rows, completions and
the adjudication backlog.

Times are UTC. A date range is a pair of ``datetime`` bounds, ``start`` inclusive and ``end``
exclusive (``None`` leaves that side open); the service turns UTC days into such bounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import not_
from sqlalchemy.orm import aliased
from sqlmodel import Session, func, select

from storage.models import Account, Consensus, Item, Label, LabelSource
from storage.repositories._bulk import id_filters, plain_rows

RATER_LABEL_COLUMNS = (
    "label_id", "item_id", "rater", "value", "unsure", "submitted_at", "seconds", "is_gold",
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
    ``[start, end)``, with the rater's username: one tuple per label, in the order of
    ``RATER_LABEL_COLUMNS`` (tuples, not dicts: a week at a million prompts is 48,000 labels).
    Ordered by submission time, then label id. The items' gold answers are ``gold_labels``'s:
    looking one up per label took this query from 40 to 110 ms at a million prompts.
    """
    statement = (
        select(Label.id, Label.item_id, Account.username, Label.value, Label.unsure,
               Label.submitted_at, Label.seconds, Label.is_gold)
        .join(Account, Account.id == Label.rater_id)
        .where(Label.task_id == task_id, Label.source == LabelSource.rater,
               not_(Label.superseded))
        .order_by(Label.submitted_at, Label.id)
    )
    return plain_rows(session=session, statement=_in_range(statement, start, end))


def gold_labels(*, session: Session, item_ids: Sequence[int]) -> dict[int, str]:
    """Item id -> its gold answer, for those of ``item_ids`` that are gold."""
    statement = select(Item.id, Item.gold_label).where(Item.gold_label.is_not(None))  # type: ignore[union-attr]
    return {item_id: gold
            for condition in id_filters(session=session, column=Item.id,
                                        ids=sorted(set(item_ids)))
            for item_id, gold in session.exec(statement.where(condition))}


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


def consensus_rows(*, session: Session, task_id: int, item_ids: Sequence[int] | None = None
                   ) -> list[dict[str, Any]]:
    """The task's stored consensus rows as plain dicts, by item id; with ``item_ids``, only
    those items' (a report over a range reads the items labeled in it: looked up by key, where
    a join with the range's labels made PostgreSQL read all 900,000 rows of a million-prompt
    task, 0.2 s against 0.03 s)."""
    columns = (Consensus.item_id, Consensus.value, Consensus.method, Consensus.confidence,
               Consensus.agreement, Consensus.n_labels, Consensus.settled,
               Consensus.needs_adjudication, Consensus.suspect)
    names = [column.key for column in columns]
    statement = select(*columns).where(Consensus.task_id == task_id)
    filters = [None] if item_ids is None else id_filters(
        session=session, column=Consensus.item_id, ids=sorted(set(item_ids)))
    rows = [dict(zip(names, row, strict=True))
            for condition in filters
            for row in session.exec(statement if condition is None else statement.where(condition))]
    return sorted(rows, key=lambda row: row["item_id"])


def _live_sure(label: Any, task_id: int) -> tuple[Any, ...]:
    return (label.task_id == task_id, label.source == LabelSource.rater, not_(label.unsure),
            not_(label.superseded))


def _completion_times(session: Session, task_id: int, k: int, start: datetime | None,
                      end: datetime | None) -> list[datetime]:
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


def completion_days(
    *, session: Session, task_id: int, k: int, start: datetime | None = None,
    end: datetime | None = None,
) -> list[date]:
    """The day of each item's completion in ``[start, end)``: when its ``k``-th rater's live,
    sure label came (one date per completed item, unordered)."""
    return [moment.date() for moment in _completion_times(session, task_id, k, start, end)
            if _within(moment, start, end)]


def waiting_for_adjudication(*, session: Session, task_id: int) -> int:
    """How many of the task's items wait for a reviewer's decision now."""
    statement = select(func.count()).select_from(Consensus).where(
        Consensus.task_id == task_id, Consensus.needs_adjudication)
    return int(session.exec(statement).one())
