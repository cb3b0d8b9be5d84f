"""The rater's side of the queue: hand an item to a rater, take their label, skip, correct,
and what they did (progress, history).

Per task: k distinct raters per item; gold items mixed in unannounced; leases that return an
item to the pool when they run out; a rater never gets an item twice and never sees others'
labels before submitting (an item comes with its text and the model's suggestion, never with
others' answers). Handing out and submitting are safe under concurrent raters: each decision
runs in ``write_scope`` (``BEGIN IMMEDIATE`` on SQLite) and locks the item rows it decides on
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL).

Each function acts for the acting rater (``actor``): the rater is always the actor, never a
parameter, so a rater reads and changes only their own assignments and labels. An operator (the
command line) has no account and cannot label.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import Session

from labeling.exceptions import LabelingError
from labeling.lifecycle.registry import serving_classifier
from labeling.ml.encoders import Encoder
from labeling.project import authz
from labeling.project.authz import Actor, Capability, PermissionDenied, requires
from labeling.project.tasks import get_task
from labeling.project.vectors import embed_texts
from labeling.queue.batches import select_batch
from labeling.text.pii import redact
from storage.db import session_scope, write_scope
from storage.models import Assignment, Item, Label, LabelSource, Selection, Task, utcnow
from storage.repositories import audit
from storage.repositories import labels as label_repo
from storage.repositories import models as model_repo
from storage.repositories import queue as queue_repo
from storage.repositories import tasks as task_repo

UNSURE = "?"
"""The value stored for an "unsure" answer; it never counts towards k or consensus."""
CANDIDATES_PER_TRY = 16
MAX_ATTEMPTS = 60


class QueueError(LabelingError):
    """A queue action that cannot be done as asked (with what to do instead)."""


@dataclass(frozen=True)
class Suggestion:
    label: str
    probability: float


@dataclass(frozen=True)
class QueueItem:
    assignment_id: int
    item_id: int
    task: str
    text: str
    leased_at: datetime
    expires_at: datetime
    suggestion: Suggestion | None


def _rater_id(session: Session, actor: Actor) -> int:
    """The account id of ``actor``, who labels as themselves; an operator has none."""
    return _own_id(authz.principal(session, actor))


def _own_id(who: authz.Principal) -> int:
    if who.account_id is None:
        raise PermissionDenied(f"{who.audit_name} acts without an account, so has no labels "
                               "of its own and cannot label: sign in with a rater's account")
    return who.account_id


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _pick(
    session: Session, task: Task, rater_id: int, rng: random.Random
) -> tuple[int, int | None] | None:
    """(item id, selection id) for the rater, or ``None`` when the active batches are used up."""
    lock = _is_postgres(session)
    if task.gold_share > 0 and rng.random() < task.gold_share:
        gold = queue_repo.gold_candidates(session=session, task_id=task.id, rater_id=rater_id,
                                          limit=1, lock=lock)
        if gold:
            return gold[0], None
    candidates = queue_repo.candidate_items(session=session, task_id=task.id, rater_id=rater_id,
                                            k=task.overlap_k, limit=CANDIDATES_PER_TRY, lock=lock)
    for item_id, selection_id in candidates:
        # Recount in a new statement: under READ COMMITTED it sees leases committed meanwhile.
        if queue_repo.item_room(session=session, item_id=item_id, k=task.overlap_k) > 0:
            return item_id, selection_id
    return None


def _suggestion(session: Session, task: Task, item: Item, encoder: Encoder) -> Suggestion | None:
    if not task.show_suggestions:
        return None
    model = serving_classifier(session=session, task_id=task.id)
    if model is None:
        return None
    vector = embed_texts(session=session, encoder=encoder, texts=[item.text])
    proba = model.predict_proba(vector)[0]
    best = int(np.argmax(proba))
    return Suggestion(label=str(model.classes_[best]), probability=float(proba[best]))


def _to_queue_item(session, task, assignment, encoder) -> QueueItem:
    item = session.get(Item, assignment.item_id)
    return QueueItem(
        assignment_id=assignment.id, item_id=item.id, task=task.name, text=item.text,
        leased_at=assignment.leased_at, expires_at=assignment.expires_at,
        suggestion=_suggestion(session, task, item, encoder),
    )


def _lease(*, engine, task_name, rater_id, encoder, now, rng) -> tuple[QueueItem | None, str]:
    """Lease an item: (item, "ok"), or (None, "busy") while other raters hold row locks on the
    remaining candidates, or (None, "exhausted") when the active batches have nothing left."""
    with write_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        queue_repo.expire_leases(session=session, task_id=task.id, now=now)
        serving = model_repo.serving(session=session, task_id=task.id)
        queue_repo.deactivate_batches(session=session, task_id=task.id,
                                      keep_model_id=serving.id if serving else None)
        held = queue_repo.open_lease(session=session, task_id=task.id, rater_id=rater_id)
        if held is not None:
            return _to_queue_item(session, task, held, encoder), "ok"
        picked = _pick(session, task, rater_id, rng)
        if picked is None:
            waiting = _is_postgres(session) and queue_repo.candidate_items(
                session=session, task_id=task.id, rater_id=rater_id, k=task.overlap_k,
                limit=1, lock=False)
            return None, "busy" if waiting else "exhausted"
        item_id, selection_id = picked
        assignment = Assignment(
            task_id=task.id, item_id=item_id, rater_id=rater_id, selection_id=selection_id,
            status=queue_repo.LEASED, leased_at=now,
            expires_at=now + timedelta(seconds=task.lease_seconds),
        )
        session.add(assignment)
        session.flush()
        return _to_queue_item(session, task, assignment, encoder), "ok"


@requires(Capability.label)
def next_item(
    *,
    engine: Engine,
    actor: Actor,
    task_name: str,
    encoder: Encoder,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> QueueItem | None:
    """The acting rater's current item, or a newly leased one; ``None`` when nothing is left
    for them.

    A rater holding an open lease gets the same item back (a reload loses nothing). When the
    active batches have nothing left for the rater, the next batch is selected first. The item
    carries no other rater's label.
    """
    now, rng = now or utcnow(), rng or random.Random()
    with session_scope(engine) as session:
        rater_id = _rater_id(session, actor)
    for attempt in range(MAX_ATTEMPTS):
        item, state = _lease(engine=engine, task_name=task_name, rater_id=rater_id,
                             encoder=encoder, now=now, rng=rng)
        if item is not None:
            return item
        if state == "busy":  # others are deciding on the last candidates: wait for them
            time.sleep(min(0.01 * (attempt + 1), 0.2))
            continue
        if select_batch(engine=engine, actor=actor, task_name=task_name, encoder=encoder,
                        now=now) is None:
            return None
    return None


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
                             with_for_update=_is_postgres(session) or None)
    if assignment is None:
        raise QueueError("this item is not assigned to you; take the next one")
    if assignment.rater_id != rater_id:
        raise PermissionDenied("this item is assigned to another rater; take your next one")
    if assignment.status not in {queue_repo.LEASED, "expired"}:
        raise QueueError(f"this item was already {assignment.status}; take the next one")
    return assignment


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
) -> int:
    """Store the acting rater's answer to their assignment with its full provenance; return
    the label id. Another rater's assignment is refused (``PermissionDenied``)."""
    now, slots = now or utcnow(), dict(slots or {})
    value = UNSURE if unsure and not value else value
    with write_scope(engine) as session:
        rater_id = _rater_id(session, actor)
        assignment = _held_assignment(session, assignment_id, rater_id)
        task = session.get(Task, assignment.task_id)
        _validate_answer(task, value, slots, unsure)
        item = queue_repo.lock_item(session=session, item_id=assignment.item_id)
        is_gold = item.gold_label is not None
        if assignment.status == "expired" and not is_gold and not unsure:
            if queue_repo.item_room(session=session, item_id=item.id, k=task.overlap_k) <= 0:
                raise QueueError("your time on this item ran out and others labeled it; "
                                 "take the next one")
        selection = session.get(Selection, assignment.selection_id) if assignment.selection_id \
            else None
        guideline = task_repo.latest_guideline(session=session, task_id=task.id)
        label = label_repo.add(session=session, label=Label(
            task_id=task.id, item_id=item.id, rater_id=rater_id, value=value, slots=slots,
            unsure=unsure, source=LabelSource.rater, shown_at=assignment.leased_at,
            submitted_at=now, seconds=round((now - assignment.leased_at).total_seconds(), 3),
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


@requires(Capability.label)
def skip(*, engine: Engine, actor: Actor, assignment_id: int, reason: str) -> None:
    """Give the acting rater's item back with a reason; they will not get it again."""
    if not reason.strip():
        raise QueueError("say why you skip this item")
    with write_scope(engine) as session:
        rater_id = _rater_id(session, actor)
        assignment = _held_assignment(session, assignment_id, rater_id)
        assignment.status = "skipped"
        assignment.skip_reason = redact(reason.strip()[:256]).text
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
        rater_id = _rater_id(session, actor)
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
        new = label_repo.add(session=session, label=Label(
            task_id=old.task_id, item_id=old.item_id, rater_id=rater_id, value=value,
            slots=dict(slots or {}), unsure=False, source=LabelSource.rater,
            shown_at=old.shown_at, submitted_at=now, seconds=None,
            guideline_version=guideline.version if guideline else None, strategy=old.strategy,
            model_version_id=old.model_version_id, selection_score=old.selection_score,
            batch_id=old.batch_id, is_gold=old.is_gold, corrects_label_id=old.id,
        ))
        old.superseded = True
        session.add(old)
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
        rater_id = _rater_id(session, actor)
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
            rater_id = _own_id(who)
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
