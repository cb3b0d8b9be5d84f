"""Per-item consensus rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, exists, insert
from sqlmodel import Session, select

from storage.models import Consensus, Item, Label, LabelSource


def for_task(*, session: Session, task_id: int) -> list[Consensus]:
    return list(session.exec(select(Consensus).where(Consensus.task_id == task_id)))


def replace_computed(*, session: Session, task_id: int, rows: Sequence[dict[str, Any]],
                     keep_methods: Sequence[str]) -> None:
    """Replace the task's computed rows; rows whose method is in ``keep_methods`` (people's
    decisions) are kept as they are."""
    session.execute(delete(Consensus).where(Consensus.task_id == task_id,
                                            Consensus.method.not_in(list(keep_methods))))
    if rows:
        session.execute(insert(Consensus), list(rows))


def get(*, session: Session, item_id: int) -> Consensus | None:
    return session.get(Consensus, item_id)


def needing_adjudication(*, session: Session, task_id: int, limit: int,
                         not_rated_by: int | None = None) -> list[tuple]:
    """(consensus, item text) of the items waiting for a reviewer, least confident first;
    with ``not_rated_by``, leaving out the items that account labeled as a rater."""
    statement = (
        select(Consensus, Item.text)
        .join(Item, Item.id == Consensus.item_id)
        .where(Consensus.task_id == task_id, Consensus.needs_adjudication)
    )
    if not_rated_by is not None:
        statement = statement.where(~exists().where(
            Label.item_id == Consensus.item_id, Label.rater_id == not_rated_by,
            Label.source == LabelSource.rater))
    statement = statement.order_by(Consensus.confidence, Consensus.item_id).limit(limit)
    return list(session.exec(statement))


def settled_values(*, session: Session, task_id: int) -> dict[int, str]:
    statement = select(Consensus.item_id, Consensus.value).where(
        Consensus.task_id == task_id, Consensus.settled, Consensus.value.is_not(None)  # type: ignore[union-attr]
    )
    return {i: v for i, v in session.exec(statement)}
