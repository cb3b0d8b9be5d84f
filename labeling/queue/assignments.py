"""The rater's side of the queue: hand an item to a rater, take their label, skip, correct,
and what they did (progress, history).

Per task: k distinct raters per item; gold items mixed in unannounced; leases that return an
item to the pool when they run out; a rater never gets an item twice and never sees others'
labels before submitting (an item comes with its text and the model's suggestion, never with
others' answers). Handing out (``upcoming``, ``next_item``) lives in ``labeling.queue.leases``
and batch selection (``refill``) in ``labeling.queue.batches``; both are re-exported here, so the
pages and the command line use this module alone. Submitting is safe under concurrent raters:
each decision runs in ``write_scope`` (``BEGIN IMMEDIATE`` on SQLite) and locks the rows it
decides on (``FOR UPDATE`` on PostgreSQL).

Each function acts for the acting rater (``actor``): the rater is always the actor, never a
parameter, so a rater reads and changes only their own assignments and labels. An operator (the
command line) has no account and cannot label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from labeling.project import authz
from labeling.project.authz import Actor, Capability, PermissionDenied, requires
from labeling.project.tasks import get_task
from labeling.queue.batches import PREFETCH as PREFETCH
from labeling.queue.batches import refill as refill
from labeling.queue.leases import QueueError as QueueError
from labeling.queue.leases import QueueItem as QueueItem
from labeling.queue.leases import Run as Run
from labeling.queue.leases import Suggestion as Suggestion
from labeling.queue.leases import acting_rater, is_postgres, own_id
from labeling.queue.leases import next_item as next_item
from labeling.queue.leases import upcoming as upcoming
from labeling.text.pii import redact
from storage.db import again_on_conflict, session_scope, write_scope
from storage.models import Assignment, Label, LabelSource, Selection, Task, utcnow
from storage.repositories import audit
from storage.repositories import labels as label_repo
from storage.repositories import queue as queue_repo
from storage.repositories import tasks as task_repo

UNSURE = "?"
"""The value stored for an "unsure" answer; it never counts towards k or consensus."""


def _validate_answer(task: Task, value: str, slots: dict[str, Any], unsure: bool) -> None:
    if not (unsure and value == UNSURE) and value not in task.labels:
        raise QueueError(f"{value!r} is not a label of task {task.name!r}")
    schema = task.slot_schema or {}
    for slot, slot_value in slots.items():
        if slot not in schema:
            raise QueueError(f"unknown slot {slot!r}; slots: {', '.join(schema) or 'none'}")
        allowed = (schema[slot] or {}).get("values")
        if allowed and slot_value not in allowed:
            raise QueueError(f"slot {slot!r} does not take {slot_value!r}")


def _held_assignment(session: Session, assignment_id: int, rater_id: int) -> Assignment:
    assignment = session.get(Assignment, assignment_id,
                             with_for_update=is_postgres(session) or None)
    if assignment is None:
        raise QueueError("this item is not assigned to you; take the next one")
    if assignment.rater_id != rater_id:
        raise PermissionDenied("this item is assigned to another rater; take your next one")
    if assignment.status not in {queue_repo.LEASED, "expired"}:
        raise QueueError(f"this item was already {assignment.status}; take the next one")
    return assignment


def _check_late(session: Session, task: Task, assignment: Assignment, unsure: bool) -> None:
    """Refuse a late answer (the lease ran out) once the item is no longer the rater's to label:
    others labeled it up to k, or it was given to another rater since."""
    if not unsure and queue_repo.item_room(session=session, item_id=assignment.item_id,
                                           k=task.overlap_k) <= 0:
        raise QueueError("your time on this item ran out and others labeled it or hold it "
                         "now; take the next one")
    if queue_repo.given_to_another_since(session=session, assignment=assignment):
        raise QueueError("your time on this item ran out and it went to another rater; "
                         "take the next one")


@requires(Capability.label)
def submit(
    *,
    engine: Engine,
    actor: Actor,
    assignment_id: int,
    value: str,
    slots: dict[str, Any] | None = None,
    unsure: bool = False,
    now: datetime | None = None,
    seconds: float | None = None,
) -> int:
    """Store the acting rater's answer to their assignment with its full provenance; return
    the label id.

    ``seconds`` is how long the item was on screen as the page measured it (so it was shown at
    ``now - seconds``); without it, the time since the lease. An assignment that is no longer
    the rater's open lease (already answered or skipped, or run out and given to another rater
    or labeled by others) is refused with a ``QueueError`` and nothing is stored; another
    rater's assignment is refused (``PermissionDenied``).
    """
    now, slots = now or utcnow(), dict(slots or {})
    value = UNSURE if unsure and not value else value
    if seconds is not None and not (math.isfinite(seconds) and seconds >= 0):
        raise QueueError(f"the time on screen must be a number of seconds >= 0, not {seconds}")
    def store() -> int:
        with write_scope(engine) as session:
            rater_id = acting_rater(session, actor)
            assignment = _held_assignment(session, assignment_id, rater_id)
            task = session.get(Task, assignment.task_id)
            _validate_answer(task, value, slots, unsure)
            item = queue_repo.lock_item(session=session, item_id=assignment.item_id)
            is_gold = item.gold_label is not None
            if assignment.status == "expired" and not is_gold:
                _check_late(session, task, assignment, unsure)
            if seconds is None:
                shown_at = assignment.leased_at
                spent = (now - assignment.leased_at).total_seconds()
            else:
                shown_at, spent = now - timedelta(seconds=seconds), seconds
            selection = session.get(Selection, assignment.selection_id) if assignment.selection_id \
                else None
            guideline = task_repo.latest_guideline(session=session, task_id=task.id)
            label = label_repo.add(session=session, label=Label(
                task_id=task.id, item_id=item.id, rater_id=rater_id, value=value, slots=slots,
                unsure=unsure, source=LabelSource.rater, shown_at=shown_at,
                submitted_at=now, seconds=round(spent, 3),
                guideline_version=guideline.version if guideline else None,
                strategy=selection.strategy if selection else ("gold" if is_gold else None),
                model_version_id=selection.model_version_id if selection else None,
                selection_score=selection.score if selection else None,
                batch_id=selection.batch_id if selection else None, is_gold=is_gold,
            ))
            assignment.status = "submitted"
            session.add(assignment)
            # The label row holds the provenance; the audit row says who changed what, without
            # the slot values (fragments of the prompt) so an erasure leaves nothing of it here.
            audit.record(session=session, actor=str(rater_id), action="label.submit",
                         entity="item", entity_id=item.id,
                         after={"label_id": label.id, "value": value, "unsure": unsure,
                                "slots": sorted(slots)})
            return label.id

    # PostgreSQL may break a deadlock with another rater's hand-out by rolling this back
    return again_on_conflict(store)


@requires(Capability.label)
def skip(*, engine: Engine, actor: Actor, assignment_id: int, reason: str) -> None:
    """Give the acting rater's item back with a reason; they will not get it again."""
    if not reason.strip():
        raise QueueError("say why you skip this item")
    # Redacted before the write lock: the first call in a process loads the recognisers (5 s).
    reason = redact(reason.strip()[:256]).text
    with write_scope(engine) as session:
        rater_id = acting_rater(session, actor)
        assignment = _held_assignment(session, assignment_id, rater_id)
        assignment.status = "skipped"
        assignment.skip_reason = reason
        session.add(assignment)
        audit.record(session=session, actor=str(rater_id), action="item.skip", entity="item",
                     entity_id=assignment.item_id, after={"assignment_id": assignment.id})


@requires(Capability.label)
def correct(
    *,
    engine: Engine,
    actor: Actor,
    label_id: int,
    value: str,
    slots: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> int:
    """Replace one of the acting rater's own labels; the old label stays, marked superseded.
    Another rater's label is refused (``PermissionDenied``)."""
    now = now or utcnow()
    with write_scope(engine) as session:
        rater_id = acting_rater(session, actor)
        old = label_repo.get(session=session, label_id=label_id)
        if old is None:
            raise QueueError(f"there is no label #{label_id}; reload your labels")
        if old.rater_id != rater_id:
            raise PermissionDenied("you can only correct your own labels")
        if old.superseded:
            raise QueueError("this label was corrected already; correct the newer one")
        task = session.get(Task, old.task_id)
        _validate_answer(task, value, dict(slots or {}), unsure=False)
        guideline = task_repo.latest_guideline(session=session, task_id=task.id)
        old.superseded = True  # first: the database allows one live label per rater and item
        session.add(old)
        session.flush()
        new = label_repo.add(session=session, label=Label(
            task_id=old.task_id, item_id=old.item_id, rater_id=rater_id, value=value,
            slots=dict(slots or {}), unsure=False, source=LabelSource.rater,
            shown_at=old.shown_at, submitted_at=now, seconds=None,
            guideline_version=guideline.version if guideline else None, strategy=old.strategy,
            model_version_id=old.model_version_id, selection_score=old.selection_score,
            batch_id=old.batch_id, is_gold=old.is_gold, corrects_label_id=old.id,
        ))
        audit.record(session=session, actor=str(rater_id), action="label.correct",
                     entity="label", entity_id=new.id,
                     before={"label_id": old.id, "value": old.value},
                     after={"label_id": new.id, "value": value})
        return new.id


@dataclass(frozen=True)
class Progress:
    labeled_today: int
    left: int


@requires(Capability.label)
def progress(*, engine: Engine, actor: Actor, task_name: str, now: datetime | None = None
             ) -> Progress:
    """The acting rater's labels today and the items still left for them."""
    now = now or utcnow()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with session_scope(engine) as session:
        rater_id = acting_rater(session, actor)
        task = get_task(session=session, name=task_name)
        return Progress(
            labeled_today=queue_repo.labeled_today(session=session, task_id=task.id,
                                                   rater_id=rater_id, since=midnight),
            left=queue_repo.left_for_rater(session=session, task_id=task.id, rater_id=rater_id,
                                           k=task.overlap_k),
        )


@dataclass(frozen=True)
class HistoryEntry:
    label_id: int
    item_id: int
    text: str
    value: str
    slots: dict[str, Any]
    unsure: bool
    submitted_at: datetime
    corrects_label_id: int | None


@requires(Capability.label)
def history(*, engine: Engine, actor: Actor, task_name: str, rater_id: int | None = None,
            limit: int = 50) -> list[HistoryEntry]:
    """The acting rater's most recent live labels on the task, newest first.

    ``rater_id`` names another rater, for a role that sees every rater's labels
    (``view_quality``); anyone else is refused (``PermissionDenied``).
    """
    with session_scope(engine) as session:
        who = authz.principal(session, actor)
        if rater_id is None:
            rater_id = own_id(who)
        elif rater_id != who.account_id and not who.may(Capability.view_quality):
            raise PermissionDenied("you can only see your own labels")
        task = get_task(session=session, name=task_name)
        rows = queue_repo.rater_history(session=session, task_id=task.id, rater_id=rater_id,
                                        limit=limit)
        return [
            HistoryEntry(label_id=label.id, item_id=label.item_id, text=text, value=label.value,
                         slots=dict(label.slots or {}), unsure=label.unsure,
                         submitted_at=label.submitted_at,
                         corrects_label_id=label.corrects_label_id)
            for label, text in rows
        ]
