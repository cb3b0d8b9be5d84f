"""Per-item consensus rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert
from sqlmodel import Session, select

from storage.models import Consensus, Item


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


def needing_adjudication(*, session: Session, task_id: int, limit: int) -> list[tuple]:
    statement = (
        select(Consensus, Item.text)
        .join(Item, Item.id == Consensus.item_id)
        .where(Consensus.task_id == task_id, Consensus.needs_adjudication)
        .order_by(Consensus.confidence, Consensus.item_id)
        .limit(limit)
    )
    return list(session.exec(statement))


def settled_values(*, session: Session, task_id: int) -> dict[int, str]:
    statement = select(Consensus.item_id, Consensus.value).where(
        Consensus.task_id == task_id, Consensus.settled, Consensus.value.is_not(None)  # type: ignore[union-attr]
    )
    return {i: v for i, v in session.exec(statement)}
