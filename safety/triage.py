"""The reviewers' triage queue: flagged prompts and outputs, decided by people.

Flags come from the policy (a review or block verdict), from rule hits and from users' reports.
The queue is ordered by severity (the taxonomy's order), then the model's uncertainty, then age;
it can be filtered by category, origin and status, and reports how many flags wait in each state
and how old the oldest waiting one is (the service level a moderation team watches).

A reviewer allows, blocks with a category, or escalates to a lead, with a note. Allowing or
blocking stores a safety label with provenance (``source=triage``) on the flagged text's item in
the safety task and makes it that item's settled consensus (method ``triage``), so the next
training learns from it; a later contrary decision supersedes the earlier label and keeps it.
Texts are redacted before they are stored, notes too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from labeling.exceptions import LabelingError
from labeling.ml.encoders import text_hash
from labeling.project import authz
from labeling.project.authz import Actor, Capability, requires
from labeling.project.items import add_texts
from labeling.project.tasks import get_task
from labeling.review.consensus import TRIAGED
from labeling.text.pii import redact
from safety.policy import REVIEW, Verdict, severity_of
from storage.db import session_scope, write_scope
from storage.models import Consensus, Flag, Item, Label, LabelSource, Task, TriageDecision, utcnow
from storage.repositories import audit
from storage.repositories import consensus as consensus_repo
from storage.repositories import labels as label_repo
from storage.repositories import safety as safety_repo
from storage.repositories import tasks as task_repo

ORIGINS = ("policy", "rule", "user_report")
STATUSES = ("open", "escalated", "decided")
WAITING = ("open", "escalated")
DECISIONS = ("allow", "block", "escalate")
MAX_NOTE = 1000


class TriageError(LabelingError):
    """A flag or decision that cannot be stored as asked."""


@dataclass(frozen=True)
class FlagView:
    id: int
    task: str | None
    text: str
    origin: str
    status: str
    verdict: str | None
    category: str | None
    severity: int
    uncertainty: float | None
    scores: dict[str, float]
    rule_hits: list[dict[str, Any]]
    reasons: list[str]
    pii_types: list[str]
    versions: dict[str, Any]
    output: dict[str, Any]
    created_at: datetime
    text_hash: str | None
    last_decision: dict[str, Any] | None


@dataclass(frozen=True)
class Queue:
    flags: list[FlagView]
    counts: dict[str, int]
    """Flags per status (every status listed, 0 where none)."""
    oldest_waiting: datetime | None
    """When the oldest open or escalated flag was raised."""


@dataclass(frozen=True)
class EarlierDecision:
    flag_id: int
    decision: str
    category: str | None
    note: str | None
    reviewer: str
    decided_at: datetime


def _view(flag: Flag, task_name: str | None, last: dict[str, Any] | None) -> FlagView:
    return FlagView(
        id=flag.id, task=task_name, text=flag.prompt, origin=flag.origin, status=flag.status,
        verdict=flag.verdict, category=flag.category, severity=flag.severity,
        uncertainty=flag.uncertainty, scores=dict(flag.scores or {}),
        rule_hits=list(flag.rule_hits or []), reasons=list(flag.reasons or []),
        pii_types=list(flag.pii_types or []), versions=dict(flag.versions or {}),
        output=dict(flag.output or {}), created_at=flag.created_at, text_hash=flag.text_hash,
        last_decision=last,
    )


def _item(session: Session, task: Task, text: str, pii_types: list[str]) -> int:
    """The flagged text's item in the safety task (added, without a vector yet, if new)."""
    added = add_texts(session=session, task=task, texts=[text], labels=[None], source="triage",
                      encoder=None, vectors={}, pii_types=[pii_types])
    return added.ids[text_hash(text)]


def _origin(verdict: Verdict, origin: str | None) -> str:
    if origin is not None:
        return origin
    return "rule" if verdict.rule_hits else "policy"


@requires(Capability.triage)
def flag_verdicts(*, engine: Engine, actor: Actor, verdicts: Sequence[Verdict],
                  origin: str | None = None, output: dict[str, Any] | None = None
                  ) -> list[int]:
    """Raise a flag for each verdict that is not ``allow`` (one unit of work); return their ids.

    The safety team's bulk check (``workbench safety check --flag``, the demo's examples);
    ``origin`` defaults to ``rule`` where a rule matched, else ``policy``.
    """
    if origin is not None and origin not in ORIGINS:
        raise TriageError(f"origin must be one of {', '.join(ORIGINS)}")
    return _raise_flags(engine, actor, [v for v in verdicts if v.needs_review], origin=origin,
                        output=output, reported=False)


def _raise_flags(engine: Engine, actor: Actor, wanted: Sequence[Verdict], *,
                 origin: str | None, output: dict[str, Any] | None, reported: bool
                 ) -> list[int]:
    """Flags for ``wanted``, audited under the actor's audit name; ``reported``: the acting
    account (if any) is the flags' reporter."""
    if not wanted:
        return []
    ids = []
    with write_scope(engine) as session:
        who = authz.principal(session, actor)
        reported_by = who.account_id if reported else None
        for verdict in wanted:
            task = get_task(session=session, name=verdict.versions["task"]) \
                if verdict.versions.get("task") else None
            item_id = _item(session, task, verdict.redacted_text, verdict.pii_types) \
                if task is not None else None
            flag = safety_repo.add_flag(session=session, flag=Flag(
                prompt=verdict.redacted_text, output=dict(output or {}),
                origin=_origin(verdict, origin), reasons=list(verdict.reasons),
                scores=dict(verdict.categories), reported_by=reported_by,
                task_id=task.id if task else None, item_id=item_id,
                text_hash=text_hash(verdict.redacted_text), verdict=verdict.verdict,
                category=verdict.category, severity=verdict.severity,
                uncertainty=verdict.uncertainty, rule_hits=list(verdict.rule_hits),
                pii_types=list(verdict.pii_types), versions=dict(verdict.versions)))
            ids.append(flag.id)
        audit.record(session=session, actor=who.audit_name, action="flags.raise",
                     entity="flag", after={"flags": ids})
    return ids


@requires(Capability.preview)
def report(*, engine: Engine, actor: Actor, verdict: Verdict, note: str | None = None,
           output: dict[str, Any] | None = None) -> int:
    """A user's report of a prompt (or of the output it got): always a flag, whatever the
    verdict, with the acting account as its reporter; the note is redacted and kept in the
    flag's reasons."""
    reasons = list(verdict.reasons)
    if note and note.strip():
        reasons.insert(0, "reported: " + redact(note.strip()[:MAX_NOTE]).text)
    reported = Verdict(**{**verdict.as_dict(), "needs_review": True, "reasons": reasons,
                          "verdict": verdict.verdict if verdict.verdict != "allow" else REVIEW})
    return _raise_flags(engine, actor, [reported], origin="user_report", output=output,
                        reported=True)[0]


@requires(Capability.triage)
def triage_queue(*, engine: Engine, actor: Actor, task_name: str | None = None,
                 statuses: Sequence[str] = ("open",), categories: Sequence[str] | None = None,
                 origins: Sequence[str] | None = None, limit: int = 100) -> Queue:
    """Flags in the given states (most severe, most uncertain, oldest first), with counts."""
    bad = sorted(set(statuses) - set(STATUSES)) + sorted(set(origins or ()) - set(ORIGINS))
    if bad:
        raise TriageError(f"unknown status or origin {bad}; statuses: {', '.join(STATUSES)}; "
                          f"origins: {', '.join(ORIGINS)}")
    with session_scope(engine) as session:
        task_id = get_task(session=session, name=task_name).id if task_name else None
        rows = safety_repo.flags(session=session, task_id=task_id, statuses=statuses,
                                 categories=categories, origins=origins, limit=limit)
        last = safety_repo.flag_summary(session=session, flag_ids=[f.id for f in rows])
        names = {t.id: t.name for t in task_repo.list_tasks(session=session)}
        counts = safety_repo.status_counts(session=session, task_id=task_id)
        oldest = safety_repo.oldest_waiting(session=session, task_id=task_id, statuses=WAITING)
        return Queue(flags=[_view(f, names.get(f.task_id), last.get(f.id)) for f in rows],
                     counts={s: counts.get(s, 0) for s in STATUSES}, oldest_waiting=oldest)


@requires(Capability.triage)
def earlier_decisions(*, engine: Engine, actor: Actor, text_hash_: str, limit: int = 20
                      ) -> list[EarlierDecision]:
    """Decisions on any flag of the same text, newest first."""
    with session_scope(engine) as session:
        return [EarlierDecision(flag_id=f.id, decision=d.decision, category=d.category,
                                note=d.note, reviewer=name, decided_at=d.decided_at)
                for d, f, name in safety_repo.decisions_on_text(
                    session=session, text_hash=text_hash_, limit=limit)]


def _check_decision(task: Task | None, decision: str, category: str | None) -> str | None:
    if decision not in DECISIONS:
        raise TriageError(f"decision must be one of {', '.join(DECISIONS)}")
    if decision != "block":
        return None
    unsafe = [c for c in (task.labels if task else []) if c != (task.safe_label if task else "")]
    if category not in unsafe:
        raise TriageError(f"blocking needs a category: one of {', '.join(unsafe) or 'none'}")
    return category


def _settle(session: Session, task: Task, item_id: int, value: str, label_id: int) -> None:
    current = consensus_repo.get(session=session, item_id=item_id)
    if current is None:
        current = Consensus(item_id=item_id, task_id=task.id, method=TRIAGED)
    current.value, current.method, current.confidence = value, TRIAGED, 1.0
    current.settled, current.needs_adjudication, current.suspect = True, False, False
    current.n_labels, current.updated_at = max(current.n_labels, 1), utcnow()
    session.add(current)
    for older in label_repo.live_triage_labels(session=session, item_id=item_id):
        if older.id != label_id:
            older.superseded = True
            session.add(older)


def _label(session: Session, task: Task, flag: Flag, *, value: str, reviewer_id: int,
           note: str | None) -> int:
    item = session.get(Item, flag.item_id)
    guideline = task_repo.latest_guideline(session=session, task_id=task.id)
    label = label_repo.add(session=session, label=Label(
        task_id=task.id, item_id=item.id, rater_id=reviewer_id, value=value, slots={},
        source=LabelSource.triage, source_detail=(note or None), submitted_at=utcnow(),
        shown_at=flag.created_at, guideline_version=guideline.version if guideline else None,
        strategy=f"flag:{flag.origin}", is_gold=item.gold_label is not None))
    _settle(session, task, item.id, value, label.id)
    return label.id


@requires(Capability.triage)
def decide(*, engine: Engine, actor: Actor, flag_id: int, decision: str,
           category: str | None = None, note: str | None = None) -> int | None:
    """Record the acting reviewer's decision on a flag; return the safety label's id
    (``None`` for an escalation, which leaves the flag waiting for a lead).

    A decision is a person's (it becomes their safety label): an operator without an account
    is refused with ``TriageError``."""
    note = redact(note.strip()[:MAX_NOTE]).text if note and note.strip() else None
    with write_scope(engine) as session:
        who = authz.principal(session, actor)
        if who.account_id is None:
            raise TriageError("a triage decision is a reviewer's: sign in to decide flags")
        reviewer_id = who.account_id
        flag = safety_repo.get_flag(session=session, flag_id=flag_id,
                                    lock=session.get_bind().dialect.name == "postgresql")
        if flag is None:
            raise TriageError(f"no flag {flag_id}")
        task = session.get(Task, flag.task_id) if flag.task_id else None
        category = _check_decision(task, decision, category)
        label_id = None
        if decision != "escalate" and task is not None and flag.item_id is not None:
            value = category if decision == "block" else task.safe_label
            label_id = _label(session, task, flag, value=value, reviewer_id=reviewer_id,
                              note=note)
        before = {"status": flag.status, "category": flag.category}
        flag.status = "escalated" if decision == "escalate" else "decided"
        flag.category = category or flag.category
        flag.severity = severity_of(flag.category) if decision == "block" else flag.severity
        session.add(flag)
        safety_repo.add_decision(session=session, decision=TriageDecision(
            flag_id=flag.id, reviewer_id=reviewer_id, decision=decision, category=category,
            note=note, label_id=label_id))
        audit.record(session=session, actor=who.audit_name, action=f"flag.{decision}",
                     entity="flag", entity_id=flag.id, before=before,
                     after={"status": flag.status, "category": category, "label_id": label_id})
        return label_id
