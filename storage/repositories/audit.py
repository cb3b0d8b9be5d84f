"""The append-only audit trail.

Rows are only ever added: migration 0009 puts triggers on the table that refuse UPDATE and DELETE
(and TRUNCATE on PostgreSQL), so nothing here changes or removes one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, or_
from sqlmodel import Session, func, select

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


@dataclass(frozen=True)
class AuditQuery:
    """Which audit rows to read; every field left empty matches all rows.

    ``actors``: any of these actor values; ``action_prefix``: actions starting with it (so
    ``account.`` finds every account change); ``text``: a case-insensitive substring of the
    before or after values.
    """

    since: datetime | None = None
    until: datetime | None = None
    actors: Sequence[str] = ()
    action_prefix: str = ""
    entity: str = ""
    text: str = ""


def _json_forms(text: str) -> list[str]:
    """``text`` as typed and as it appears inside a stored JSON string (quotes, backslashes and
    non-ASCII characters escaped), lower-cased, without repeats."""
    forms = [text.lower(), json.dumps(text)[1:-1].lower()]
    return list(dict.fromkeys(forms))


def _where(statement: Any, query: AuditQuery) -> Any:
    if query.since is not None:
        statement = statement.where(AuditEvent.created_at >= query.since)
    if query.until is not None:
        statement = statement.where(AuditEvent.created_at < query.until)
    if query.actors:
        statement = statement.where(AuditEvent.actor.in_(list(query.actors)))  # type: ignore[attr-defined]
    if query.action_prefix:
        statement = statement.where(
            AuditEvent.action.startswith(query.action_prefix, autoescape=True))  # type: ignore[attr-defined]
    if query.entity:
        statement = statement.where(AuditEvent.entity == query.entity)
    if query.text:
        columns = [func.lower(cast(AuditEvent.before, String)),
                   func.lower(cast(AuditEvent.after, String))]
        statement = statement.where(or_(*(column.contains(form, autoescape=True)
                                          for column in columns
                                          for form in _json_forms(query.text))))
    return statement


def search(*, session: Session, query: AuditQuery, limit: int, offset: int = 0
           ) -> tuple[list[AuditEvent], int]:
    """The rows ``query`` matches, newest first (``limit`` of them from ``offset``), and how many
    it matches in all."""
    total = session.exec(_where(select(func.count()).select_from(AuditEvent), query)).one()
    statement = _where(select(AuditEvent), query).order_by(
        AuditEvent.created_at.desc(), AuditEvent.id.desc())  # type: ignore[union-attr]
    rows = list(session.exec(statement.offset(offset).limit(limit)))
    return rows, total


def actors(*, session: Session) -> list[str]:
    """Every actor value in the trail."""
    return list(session.exec(select(AuditEvent.actor).distinct().order_by(AuditEvent.actor)))


def entities(*, session: Session) -> list[str]:
    """Every entity kind in the trail."""
    return list(session.exec(select(AuditEvent.entity).distinct().order_by(AuditEvent.entity)))
