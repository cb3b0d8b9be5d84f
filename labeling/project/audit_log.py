"""Reading the audit trail: search it by time window, actor, action, entity and text in the
before/after values, newest first, and export what a search finds as CSV.

Leads and admins read it (the roles that manage accounts); the acting account's current role is
read again at every call. A CSV export is itself audited (``audit.export``, with the filters and
the number of rows). The trail is append-only: nothing here, nor anywhere, changes a row.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from labeling.dataio.spreadsheet import safe_cell
from labeling.exceptions import LabelingError
from labeling.project import authz
from labeling.project.authz import Actor, Capability, requires
from storage.db import session_scope, write_scope
from storage.models import AuditEvent
from storage.repositories import accounts as account_repo
from storage.repositories import audit
from storage.repositories.audit import AuditQuery

MAX_PAGE = 500
EXPORT_LIMIT = 10_000
"""The most rows one CSV export holds (the newest that match)."""
MAX_FILTER_LENGTH = 200
EXPORT_ACTION = "audit.export"
CSV_COLUMNS = ("id", "time", "actor", "actor_name", "action", "entity", "entity_id", "before",
               "after")


class AuditLogError(LabelingError):
    """An audit search cannot run as asked (bad filter or paging); nothing was read."""


@dataclass(frozen=True)
class AuditFilter:
    """A search of the audit trail; empty fields match everything.

    ``since``/``until``: the window ``[since, until)`` (a naive time is taken as UTC);
    ``actor``: a username (their account id is matched) or a raw actor value such as
    ``system`` or ``cli:ana``; ``action``: a prefix (``account.`` finds every account change);
    ``entity``: the entity kind exactly; ``text``: a case-insensitive substring of the before
    or after values.
    """

    since: datetime | None = None
    until: datetime | None = None
    actor: str = ""
    action: str = ""
    entity: str = ""
    text: str = ""


@dataclass(frozen=True)
class AuditEntry:
    id: int
    time: datetime
    actor: str
    actor_name: str
    """The account's username when the actor is an account id, else the actor itself."""
    action: str
    entity: str
    entity_id: str | None
    before: str
    """The before values as JSON text ('' when none)."""
    after: str


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    total: int
    """How many rows the filter matches in all."""
    offset: int


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _checked(flt: AuditFilter) -> AuditFilter:
    since, until = _utc(flt.since), _utc(flt.until)
    if since is not None and until is not None and since >= until:
        raise AuditLogError("the time window ends before it starts; pick an end after the start")
    fields = {"actor": flt.actor, "action": flt.action, "entity": flt.entity, "text": flt.text}
    for name, value in fields.items():
        if len(value.strip()) > MAX_FILTER_LENGTH:
            raise AuditLogError(f"the {name} filter is longer than {MAX_FILTER_LENGTH} characters")
    return AuditFilter(since=since, until=until, actor=flt.actor.strip(),
                       action=flt.action.strip(), entity=flt.entity.strip(),
                       text=flt.text.strip())


def _query(session: Session, flt: AuditFilter) -> AuditQuery:
    actors: list[str] = []
    if flt.actor:
        actors.append(flt.actor)
        account = account_repo.get_by_username(session=session, username=flt.actor.lower())
        if account is not None:
            actors.append(str(account.id))
    return AuditQuery(since=flt.since, until=flt.until, actors=actors,
                      action_prefix=flt.action, entity=flt.entity, text=flt.text)


def _json(value: dict[str, Any] | None) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _entries(session: Session, events: Sequence[AuditEvent]) -> list[AuditEntry]:
    names = {str(a.id): a.username for a in account_repo.list_accounts(session=session)}
    return [AuditEntry(id=e.id, time=e.created_at, actor=e.actor,
                       actor_name=names.get(e.actor, e.actor), action=e.action,
                       entity=e.entity, entity_id=e.entity_id, before=_json(e.before),
                       after=_json(e.after)) for e in events]


@requires(Capability.read_audit)
def search(*, engine: Engine, actor: Actor, flt: AuditFilter, limit: int = 100,
           offset: int = 0) -> AuditPage:
    """The audit rows ``flt`` matches, newest first: ``limit`` of them from ``offset``, and the
    total."""
    if not 1 <= limit <= MAX_PAGE:
        raise AuditLogError(f"a page holds 1 to {MAX_PAGE} rows")
    if offset < 0:
        raise AuditLogError("the page offset cannot be negative")
    flt = _checked(flt)
    with session_scope(engine) as session:
        events, total = audit.search(session=session, query=_query(session, flt), limit=limit,
                                     offset=offset)
        return AuditPage(entries=_entries(session, events), total=total, offset=offset)


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: one that would start a formula gets a quote."""
    return str(safe_cell("" if value is None else str(value)))


def _csv(entries: Sequence[AuditEntry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        writer.writerow([e.id, e.time.isoformat(), _cell(e.actor), _cell(e.actor_name),
                         _cell(e.action), _cell(e.entity), _cell(e.entity_id),
                         _cell(e.before), _cell(e.after)])
    return out.getvalue()


@requires(Capability.read_audit)
def export_csv(*, engine: Engine, actor: Actor, flt: AuditFilter) -> tuple[str, int, int]:
    """The rows ``flt`` matches as CSV, newest first (at most ``EXPORT_LIMIT``), with how many
    it holds and how many matched; the export is audited. Cells a spreadsheet would read as a
    formula start with a quote."""
    flt = _checked(flt)
    with write_scope(engine) as session:
        events, total = audit.search(session=session, query=_query(session, flt),
                                     limit=EXPORT_LIMIT)
        entries = _entries(session, events)
        audit.record(session=session, actor=authz.audit_name(actor), action=EXPORT_ACTION,
                     entity="audit", after={
                         "since": None if flt.since is None else flt.since.isoformat(),
                         "until": None if flt.until is None else flt.until.isoformat(),
                         "actor": flt.actor, "action": flt.action, "entity": flt.entity,
                         "text": flt.text, "rows": len(entries), "matched": total})
    return _csv(entries), len(entries), total


@requires(Capability.read_audit)
def filter_choices(*, engine: Engine, actor: Actor) -> tuple[list[str], list[str]]:
    """The actor names and entity kinds in the trail, for the page's pickers."""
    with session_scope(engine) as session:
        names = {str(a.id): a.username for a in account_repo.list_accounts(session=session)}
        actors = sorted({names.get(a, a) for a in audit.actors(session=session)})
        return actors, audit.entities(session=session)
