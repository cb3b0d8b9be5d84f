"""Adjudication: reviewers settle the items whose raters disagree. A decision is final.

The decision is stored as a label with ``source=adjudication`` (who, when, note) and as the
item's consensus (method ``adjudicated``), which later recomputations leave alone.

A reviewer never settles an item they labeled themselves: ``cases`` leaves those out and
``decide`` refuses them. Cases show every rater's label, but the raters' names only to a role
that sees every rater's labels (``view_quality``, leads); other reviewers see "rater 1",
"rater 2", in the order the labels came.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from labeling.exceptions import LabelingError
from labeling.project import authz
from labeling.project.authz import Actor, Capability, PermissionDenied, requires
from labeling.project.tasks import get_task
from labeling.review.consensus import ADJUDICATED
from labeling.text.pii import redact
from storage.db import session_scope, write_scope
from storage.models import Consensus, Item, Label, LabelSource, utcnow
from storage.repositories import audit
from storage.repositories import consensus as consensus_repo
from storage.repositories import labels as label_repo
from storage.repositories import tasks as task_repo


class AdjudicationError(LabelingError):
    """An adjudication that cannot be made as asked."""


@dataclass(frozen=True)
class RaterLabel:
    rater: str
    value: str
    slots: dict[str, Any]
    unsure: bool
    submitted_at: datetime


@dataclass(frozen=True)
class Case:
    item_id: int
    text: str
    consensus: str | None
    confidence: float | None
    agreement: float | None
    labels: list[RaterLabel]


@requires(Capability.adjudicate)
def cases(*, engine: Engine, actor: Actor, task_name: str, limit: int = 100) -> list[Case]:
    """Items waiting for the acting reviewer, least confident first, with every rater's label
    (named only for a role holding ``view_quality``). Items the reviewer labeled are left out:
    another reviewer settles them."""
    with session_scope(engine) as session:
        who = authz.principal(session, actor)
        show_names = who.may(Capability.view_quality)
        task = get_task(session=session, name=task_name)
        waiting = consensus_repo.needing_adjudication(session=session, task_id=task.id,
                                                      limit=limit, not_rated_by=who.account_id)
        ids = [c.item_id for c, _ in waiting]
        labels: dict[int, list[RaterLabel]] = {i: [] for i in ids}
        for label, username in label_repo.rater_labels_for_items(session=session, item_ids=ids):
            shown = labels[label.item_id]
            shown.append(RaterLabel(
                rater=username if show_names else f"rater {len(shown) + 1}", value=label.value,
                slots=dict(label.slots or {}), unsure=label.unsure,
                submitted_at=label.submitted_at))
        return [Case(item_id=c.item_id, text=text, consensus=c.value, confidence=c.confidence,
                     agreement=c.agreement, labels=labels[c.item_id]) for c, text in waiting]


@requires(Capability.adjudicate)
def decide(
    *,
    engine: Engine,
    actor: Actor,
    task_name: str,
    item_id: int,
    value: str,
    slots: dict[str, Any] | None = None,
    note: str | None = None,
) -> int:
    """Record the acting reviewer's final label for the item; return the new label's id.

    Raises
    ------
    PermissionDenied
        The reviewer labeled the item: another reviewer must settle it.
    """
    now = utcnow()
    note = redact(note.strip()[:512]).text if note and note.strip() else None
    with write_scope(engine) as session:
        who = authz.principal(session, actor)
        reviewer_id = who.account_id
        task = get_task(session=session, name=task_name)
        item = session.get(Item, item_id)
        if item is None or item.task_id != task.id:
            raise AdjudicationError(f"no item {item_id} in task {task_name!r}")
        if reviewer_id is not None and label_repo.rated_by(session=session, item_id=item_id,
                                                           rater_id=reviewer_id):
            raise PermissionDenied(f"you labeled item {item_id}; another reviewer must settle "
                                   "it")
        if value not in task.labels:
            raise AdjudicationError(f"{value!r} is not a label of task {task_name!r}")
        current = consensus_repo.get(session=session, item_id=item_id)
        if current is not None and current.method == ADJUDICATED:
            raise AdjudicationError(f"item {item_id} was adjudicated already; the decision is "
                                    "final")
        guideline = task_repo.latest_guideline(session=session, task_id=task.id)
        label = label_repo.add(session=session, label=Label(
            task_id=task.id, item_id=item_id, rater_id=reviewer_id, value=value,
            slots=dict(slots or {}), source=LabelSource.adjudication,
            source_detail=note, shown_at=None, submitted_at=now,
            guideline_version=guideline.version if guideline else None,
            is_gold=item.gold_label is not None,
        ))
        before = None if current is None else {"value": current.value,
                                               "confidence": current.confidence}
        if current is None:
            current = Consensus(item_id=item_id, task_id=task.id, method=ADJUDICATED)
        current.value, current.method, current.confidence = value, ADJUDICATED, 1.0
        current.settled, current.needs_adjudication, current.suspect = True, False, False
        current.updated_at = now
        session.add(current)
        audit.record(session=session, actor=who.audit_name, action="item.adjudicate",
                     entity="item", entity_id=item_id, before=before,
                     after={"value": value, "label_id": label.id, "note": note})
        return label.id
