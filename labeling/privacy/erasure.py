"""Erasure (UK GDPR art. 17): an end user's prompts and everything derived from them go in one
transaction; what stays is the count of each kind of row removed, in the audit log.

The audit row names the end user by an *erasure reference*, a digest of their pseudonym, never
the id, the pseudonym or any text: after the erasure the pseudonym is stored nowhere, and anyone
given the id and the installation's key can still find the record (``workbench privacy export``
reports it). Model files trained on erased items are not changed; the summary names the model
versions that may have been trained on them, so a lead can retrain and promote.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from labeling.exceptions import PrivacyError
from labeling.privacy.linking import Linked, delete, link_end_user, preview_account
from labeling.project import authz
from labeling.project.authz import Actor, Capability, requires
from labeling.project.items import pseudonymise
from storage.db import write_scope
from storage.models import Task
from storage.repositories import audit
from storage.repositories import privacy as repo

ERASE_ACTION = "privacy.erase"
ENTITY = "end_user"


@dataclass(frozen=True)
class ErasureSummary:
    reference: str
    """The erasure reference the audit row carries."""
    deleted: dict[str, int]
    """Rows removed, by kind."""
    models: list[str]
    """Model versions (``task vN``) that may have been trained on erased items."""


def erasure_reference(pseudonym: str) -> str:
    """What the audit log records instead of the pseudonym (a one-way digest of it)."""
    return hashlib.sha256(f"erasure:{pseudonym}".encode()).hexdigest()[:32]


def end_user_pseudonym(end_user_id: str, *, key: str) -> str:
    """The stored pseudonym of ``end_user_id`` (refused when empty)."""
    end_user_id = end_user_id.strip()
    if not end_user_id:
        raise PrivacyError("give the end user's id (--end-user ID)")
    return pseudonymise(end_user_id, key=key)


def nothing_held(session: Session, *, end_user_id: str, reference: str) -> PrivacyError:
    """The refusal for an end user about whom nothing is held (saying when they were erased)."""
    erased = repo.audit_events(session=session, action=ERASE_ACTION, entity_id=reference)
    when = f"; erased on {erased[-1].created_at:%Y-%m-%d %H:%M} UTC" if erased else ""
    return PrivacyError(f"nothing is held about end user {end_user_id!r}{when}")


@dataclass(frozen=True)
class EndUser:
    """An end user found in the database: their pseudonym, erasure reference and data."""

    pseudonym: str
    reference: str
    linked: Linked


def find_end_user(session: Session, *, end_user_id: str, key: str) -> EndUser:
    """Everything linked to ``end_user_id``; refused (``PrivacyError``) when nothing is held."""
    pseudonym = end_user_pseudonym(end_user_id, key=key)
    reference = erasure_reference(pseudonym)
    linked = link_end_user(session=session, pseudonym=pseudonym,
                           account_id=preview_account(end_user_id.strip()))
    if linked.empty:
        raise nothing_held(session, end_user_id=end_user_id.strip(), reference=reference)
    return EndUser(pseudonym, reference, linked)


def models_to_retrain(session: Session, linked: Linked) -> list[str]:
    """Model versions trained after a settled erased item of their task was created."""
    settled = {c.item_id for c in linked.consensus if c.settled}
    first: dict[int, datetime] = {}
    for item in linked.items:
        if item.id in settled:
            first[item.task_id] = min(first.get(item.task_id, item.created_at), item.created_at)
    names = []
    for task_id, since in sorted(first.items()):
        task = session.get(Task, task_id)
        names += [f"{task.name} v{m.version}"
                  for m in repo.models_trained_since(session=session, task_id=task_id,
                                                     since=since)]
    return names


@requires(Capability.privacy)
def erase_end_user(*, engine: Engine, end_user_id: str, key: str, actor: Actor
                   ) -> ErasureSummary:
    """Remove everything linked to ``end_user_id`` (``labeling.privacy.linking``) in one
    transaction and audit it by erasure reference; an end user about whom nothing is held is
    refused (``PrivacyError``) and nothing changes."""
    with write_scope(engine) as session:
        user = find_end_user(session, end_user_id=end_user_id, key=key)
        linked, reference = user.linked, user.reference
        models = models_to_retrain(session, linked)
        deleted = delete(session=session, linked=linked)
        audit.record(session=session, actor=authz.audit_name(actor),
                     action=ERASE_ACTION, entity=ENTITY,
                     entity_id=reference, after={"deleted": deleted, "models": models})
    return ErasureSummary(reference=reference, deleted=deleted, models=models)
