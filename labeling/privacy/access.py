"""Right of access (UK GDPR art. 15): everything held about an end user, as plain data.

The export holds what is linked to them (``labeling.privacy.linking``): their prompts in every
task with the labels, consensus and triage decisions on them, the flags on their prompts, and for
a Preview user the lists they were shown with their likes, skips and saves. Raters' and
reviewers' identities are left out (they are other people's data); the labels' values, times and
notes are in. The export is audited by erasure reference (never the id or the pseudonym).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from labeling.privacy.erasure import find_end_user
from labeling.privacy.linking import Linked
from labeling.project import authz
from labeling.project.authz import Actor, Capability, requires
from labeling.project.items import opt_out_reference
from storage.db import write_scope
from storage.models import Task, utcnow
from storage.repositories import audit
from storage.repositories import privacy as repo

EXPORT_ACTION = "privacy.export"


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _items(session: Session, linked: Linked) -> list[dict[str, Any]]:
    labels: dict[int, list[dict[str, Any]]] = {}
    for label in linked.labels:
        labels.setdefault(label.item_id, []).append({
            "value": label.value, "slots": dict(label.slots or {}), "unsure": label.unsure,
            "source": str(label.source), "note": label.source_detail,
            "submitted_at": _when(label.submitted_at), "superseded": label.superseded})
    consensus = {c.item_id: {"value": c.value, "method": c.method, "settled": c.settled,
                             "confidence": c.confidence, "agreement": c.agreement,
                             "updated_at": _when(c.updated_at)} for c in linked.consensus}
    tasks = {t.id: t.name for t in (session.get(Task, i) for i in {x.task_id for x in
                                                                    linked.items})}
    return [{"task": tasks[i.task_id], "text": i.text, "source": i.source,
             "created_at": _when(i.created_at), "personal_data_redacted": i.pii_types or [],
             "opted_out": i.opted_out, "gold_label": i.gold_label,
             "labels": labels.get(i.id, []), "consensus": consensus.get(i.id)}
            for i in linked.items]


def _flags(linked: Linked) -> list[dict[str, Any]]:
    decisions: dict[int, list[dict[str, Any]]] = {}
    for d in linked.decisions:
        decisions.setdefault(d.flag_id, []).append({
            "decision": d.decision, "category": d.category, "note": d.note,
            "decided_at": _when(d.decided_at)})
    return [{"prompt": f.prompt, "origin": f.origin, "status": f.status, "verdict": f.verdict,
             "category": f.category, "reasons": list(f.reasons or []),
             "output": dict(f.output or {}), "created_at": _when(f.created_at),
             "decisions": decisions.get(f.id, [])} for f in linked.flags]


def _impressions(linked: Linked) -> list[dict[str, Any]]:
    feedback: dict[int, list[dict[str, Any]]] = {}
    for f in linked.feedback:
        feedback.setdefault(f.impression_id, []).append({
            "track_id": f.track_id, "position": f.position, "action": f.action,
            "created_at": _when(f.created_at)})
    return [{"prompt": i.prompt, "created_at": _when(i.created_at), "session_id": i.session_id,
             "context": dict(i.context or {}), "slots": dict(i.slots or {}),
             "shown": list(i.shown or []), "feedback": feedback.get(i.id, [])}
            for i in linked.impressions]


@requires(Capability.privacy)
def export_end_user(*, engine: Engine, end_user_id: str, key: str, actor: Actor
                    ) -> dict[str, Any]:
    """Everything held about ``end_user_id`` as JSON-ready data; an end user about whom nothing
    is held is refused (``PrivacyError``) and nothing is recorded."""
    with write_scope(engine) as session:
        user = find_end_user(session, end_user_id=end_user_id, key=key)
        linked, pseudonym, reference = user.linked, user.pseudonym, user.reference
        held = {
            "end_user": {"id": end_user_id.strip(), "pseudonym": pseudonym,
                         "opted_out_of_review": bool(repo.opted_out(
                             session=session, references=[opt_out_reference(pseudonym)]))},
            "exported_at": _when(utcnow()),
            "items": _items(session, linked),
            "flags": _flags(linked),
            "impressions": _impressions(linked),
            "vectors": repo.vector_count(session=session, hashes=linked.vector_hashes),
        }
        audit.record(session=session, actor=authz.audit_name(actor),
                     action=EXPORT_ACTION, entity="end_user",
                     entity_id=reference, after={"items": len(held["items"]),
                                                 "flags": len(held["flags"]),
                                                 "impressions": len(held["impressions"])})
    return held
