"""Adjudication: reviewers settle the items whose raters disagree. A decision is final.

The decision is stored as a label with ``source=adjudication`` (who, when, note) and as the
item's consensus (method ``adjudicated``), which later recomputations leave alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from labeling.exceptions import LabelingError
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


def cases(*, engine: Engine, task_name: str, limit: int = 100) -> list[Case]:
    """Items waiting for a reviewer, least confident first, with every rater's label."""
    with session_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        waiting = consensus_repo.needing_adjudication(session=session, task_id=task.id,
                                                      limit=limit)
        ids = [c.item_id for c, _ in waiting]
        labels: dict[int, list[RaterLabel]] = {i: [] for i in ids}
        for label, username in label_repo.rater_labels_for_items(session=session, item_ids=ids):
            labels[label.item_id].append(RaterLabel(
                rater=username, value=label.value, slots=dict(label.slots or {}),
                unsure=label.unsure, submitted_at=label.submitted_at))
        return [Case(item_id=c.item_id, text=text, consensus=c.value, confidence=c.confidence,
                     agreement=c.agreement, labels=labels[c.item_id]) for c, text in waiting]


def decide(
    *,
    engine: Engine,
    task_name: str,
    item_id: int,
    reviewer_id: int,
    value: str,
    slots: dict[str, Any] | None = None,
    note: str | None = None,
) -> int:
    """Record the reviewer's final label for the item; return the new label's id."""
    now = utcnow()
    note = redact(note.strip()[:512]).text if note and note.strip() else None
    with write_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        item = session.get(Item, item_id)
        if item is None or item.task_id != task.id:
            raise AdjudicationError(f"no item {item_id} in task {task_name!r}")
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
        audit.record(session=session, actor=str(reviewer_id), action="item.adjudicate",
                     entity="item", entity_id=item_id, before=before,
                     after={"value": value, "label_id": label.id, "note": note})
        return label.id
