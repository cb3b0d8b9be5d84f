"""The append-only audit trail."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from storage.models import AuditEvent


def record(
    *,
    session: Session,
    actor: str,
    action: str,
    entity: str,
    entity_id: str | int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        actor=actor, action=action, entity=entity,
        entity_id=None if entity_id is None else str(entity_id), before=before, after=after,
    )
    session.add(event)
    return event


def recent(*, session: Session, limit: int = 100) -> list[AuditEvent]:
    statement = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)  # type: ignore[union-attr]
    return list(session.exec(statement))
