"""Labels and their provenance."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Select, insert
from sqlalchemy.orm import aliased
from sqlmodel import Session, func, select

from storage.models import Account, Consensus, Item, Label, LabelSource
from storage.repositories._bulk import chunks


def add_many(*, session: Session, rows: Sequence[dict[str, Any]]) -> None:
    for part in chunks(list(rows)):
        session.execute(insert(Label), list(part))


def import_label_pairs(
    *, session: Session, task_id: int, item_ids: Sequence[int]
) -> set[tuple[int, str]]:
    """The (item id, value) pairs already stored by earlier imports for these items."""
    pairs: set[tuple[int, str]] = set()
    for part in chunks(list(item_ids)):
        statement = select(Label.item_id, Label.value).where(
            Label.task_id == task_id,
            Label.source == LabelSource.import_,
            Label.item_id.in_(part),  # type: ignore[attr-defined]
        )
        pairs.update((i, v) for i, v in session.exec(statement))
    return pairs


EXPORT_COLUMNS = (
    "label_id", "item_id", "text", "value", "slots", "unsure", "rater", "source",
    "source_detail", "shown_at", "submitted_at", "seconds", "guideline_version", "strategy",
    "model_version_id", "selection_score", "batch_id", "is_gold", "corrects_label_id",
    "superseded", "consensus", "consensus_method", "consensus_confidence", "consensus_agreement",
    "consensus_settled",
)


EXPORT_CHUNK = 5000
"""Rows fetched from the database at a time by ``iter_export_rows`` (a server-side cursor on
PostgreSQL), so an export's memory does not grow with the task."""


def iter_export_rows(*, session: Session, task_id: int, chunk: int | None = None,
                     by_item: bool = False) -> Iterator[list[dict[str, Any]]]:
    """Every label of the task with its item text, rater name and provenance (see
    ``EXPORT_COLUMNS``), oldest first (``by_item``: by item, then oldest first), in lists of at
    most ``chunk`` rows (default ``EXPORT_CHUNK``)."""
    rater = aliased(Account)
    statement = (
        select(Label.id, Label.item_id, Item.text, Label.value, Label.slots, Label.unsure,
               rater.username, Label.source, Label.source_detail, Label.shown_at,
               Label.submitted_at, Label.seconds, Label.guideline_version, Label.strategy,
               Label.model_version_id, Label.selection_score, Label.batch_id, Label.is_gold,
               Label.corrects_label_id, Label.superseded, Consensus.value, Consensus.method,
               Consensus.confidence, Consensus.agreement, Consensus.settled)
        .join(Item, Item.id == Label.item_id)
        .outerjoin(rater, rater.id == Label.rater_id)
        .outerjoin(Consensus, Consensus.item_id == Label.item_id)
        .where(Label.task_id == task_id)
        .order_by(*((Label.item_id, Label.id) if by_item else (Label.id,)))
        .execution_options(yield_per=chunk or EXPORT_CHUNK)
    )
    result = session.exec(statement)
    for part in result.partitions():
        rows = [dict(zip(EXPORT_COLUMNS, row, strict=True)) for row in part]
        for row in rows:
            row["slots"] = row["slots"] or {}
            row["source"] = str(row["source"])
        yield rows


def only_items_labeled_since(statement: Select, item_id: Any, *, task_id: int,
                             label_id: int | None) -> Select:
    """``statement`` kept to the task's items with a label newer than ``label_id`` (label ids
    only grow), matched on its ``item_id`` column; unchanged where ``label_id`` is ``None``."""
    if label_id is None:
        return statement
    newer = select(Label.item_id).where(Label.task_id == task_id, Label.id > label_id)
    return statement.where(item_id.in_(newer.distinct()))


def count_since(*, session: Session, task_id: int, label_id: int) -> int:
    """How many of the task's labels are newer than ``label_id``."""
    statement = select(func.count()).where(Label.task_id == task_id, Label.id > label_id)
    return int(session.exec(statement).one())


def live_votes(*, session: Session, task_id: int, items_since: int | None = None
               ) -> list[tuple[int, int | None, str, str]]:
    """(item id, rater id, value, source) of every live label: not unsure, not superseded
    (``items_since``: of the items labeled after that label id only)."""
    statement = select(Label.item_id, Label.rater_id, Label.value, Label.source).where(
        Label.task_id == task_id, Label.unsure == False,  # noqa: E712
        Label.superseded == False,  # noqa: E712
    ).order_by(Label.item_id, Label.id)
    statement = only_items_labeled_since(statement, Label.item_id, task_id=task_id,
                                         label_id=items_since)
    return [(i, r, v, str(s)) for i, r, v, s in session.exec(statement)]


def get(*, session: Session, label_id: int) -> Label | None:
    return session.get(Label, label_id)


def add(*, session: Session, label: Label) -> Label:
    session.add(label)
    session.flush()
    return label


def live_triage_labels(*, session: Session, item_id: int) -> list[Label]:
    """The item's labels from triage decisions that are not superseded."""
    statement = select(Label).where(Label.item_id == item_id,
                                    Label.source == LabelSource.triage,
                                    Label.superseded == False)  # noqa: E712
    return list(session.exec(statement))


def rated_by(*, session: Session, item_id: int, rater_id: int) -> bool:
    """Whether ``rater_id`` ever labeled the item as a rater (corrected and unsure labels too)."""
    statement = select(Label.id).where(Label.item_id == item_id, Label.rater_id == rater_id,
                                       Label.source == LabelSource.rater).limit(1)
    return session.exec(statement).first() is not None


def rater_votes_frame_rows(*, session: Session, task_id: int, items_since: int | None = None
                           ) -> list[tuple[int, str, str]]:
    """(item id, rater username, value) of live rater labels: the input to agreement
    (``items_since``: of the items labeled after that label id only)."""
    statement = (
        select(Label.item_id, Account.username, Label.value)
        .join(Account, Account.id == Label.rater_id)
        .where(Label.task_id == task_id, Label.source == LabelSource.rater,
               Label.unsure == False, Label.superseded == False)  # noqa: E712
        .order_by(Label.item_id, Label.id)
    )
    statement = only_items_labeled_since(statement, Label.item_id, task_id=task_id,
                                         label_id=items_since)
    return [(i, u, v) for i, u, v in session.exec(statement)]


def rater_labels_for_items(*, session: Session, item_ids: Sequence[int]) -> list[tuple[Label, str]]:
    """(label, rater username) of the live rater labels on ``item_ids``, oldest first."""
    out: list[tuple[Label, str]] = []
    for part in chunks(list(item_ids)):
        statement = (
            select(Label, Account.username)
            .join(Account, Account.id == Label.rater_id)
            .where(Label.item_id.in_(part), Label.source == LabelSource.rater,  # type: ignore[union-attr]
                   Label.superseded == False)  # noqa: E712
            .order_by(Label.submitted_at)
        )
        out.extend((label, username) for label, username in session.exec(statement))
    return out
