"""Handing items to raters: a rater's run of leases (the prompt on screen and the next ones,
at most ``PREFETCH``), leased from the task's active batches, each item with the serving model's
suggestion and never with another rater's answer.

A rater never gets an item twice; leases return the item to the pool when they run out. Leasing
is safe under concurrent raters: each decision runs in ``write_scope`` (``BEGIN IMMEDIATE`` on
SQLite) and locks the item rows it decides on (``FOR UPDATE SKIP LOCKED`` on PostgreSQL).
``upcoming`` never selects a batch (``refill`` does, ahead of need); ``next_item``, for the
command line and tests, selects one when the active batches run dry.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

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
from labeling.queue.batches import PREFETCH, low_water, retire_stale, select_batch
from storage.db import DatabaseUnavailableError, session_scope, write_scope
from storage.models import Assignment, Item, Task, utcnow
from storage.repositories import queue as queue_repo

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


def acting_rater(session: Session, actor: Actor) -> int:
    """The account id of ``actor``, who labels as themselves; an operator has none."""
    return own_id(authz.principal(session, actor))


def own_id(who: authz.Principal) -> int:
    if who.account_id is None:
        raise PermissionDenied(f"{who.audit_name} acts without an account, so has no labels "
                               "of its own and cannot label: sign in with a rater's account")
    return who.account_id


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _pick(
    session: Session, task: Task, rater_id: int, rng: random.Random
) -> tuple[int, int | None] | None:
    """(item id, selection id) for the rater, or ``None`` when the active batches are used up."""
    lock = is_postgres(session)
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


def _suggestions(session: Session, task: Task, items: list[Item], encoder: Encoder
                 ) -> list[Suggestion | None]:
    """The serving model's best label per item: the model is loaded once per process and the
    vectors are stored, so this is one read and one matrix product for the whole run."""
    model = serving_classifier(session=session, task_id=task.id) \
        if task.show_suggestions and items else None
    if model is None:
        return [None] * len(items)
    proba = model.predict_proba(embed_texts(session=session, encoder=encoder,
                                            texts=[item.text for item in items]))
    best = np.argmax(proba, axis=1)
    return [Suggestion(label=str(model.classes_[b]), probability=float(row[b]))
            for b, row in zip(best, proba, strict=True)]


@dataclass(frozen=True)
class _Lease:
    assignment_id: int
    item_id: int
    leased_at: datetime
    expires_at: datetime


def _to_queue_items(session: Session, task: Task, leases: list[_Lease], encoder: Encoder
                    ) -> list[QueueItem]:
    items = [session.get(Item, lease.item_id) for lease in leases]
    suggestions = _suggestions(session, task, items, encoder)
    return [
        QueueItem(assignment_id=lease.assignment_id, item_id=item.id, task=task.name,
                  text=item.text, leased_at=lease.leased_at, expires_at=lease.expires_at,
                  suggestion=suggestion)
        for lease, item, suggestion in zip(leases, items, suggestions, strict=True)
    ]


def _new_lease(session: Session, task: Task, rater_id: int, picked: tuple[int, int | None],
               now: datetime) -> Assignment:
    item_id, selection_id = picked
    assignment = Assignment(
        task_id=task.id, item_id=item_id, rater_id=rater_id, selection_id=selection_id,
        status=queue_repo.LEASED, leased_at=now,
        expires_at=now + timedelta(seconds=task.lease_seconds),
    )
    session.add(assignment)
    session.flush()
    return assignment


def _lease_run(*, engine, task_name, rater_id, n, now, rng) -> tuple[list[_Lease], int, str]:
    """The rater's open leases, oldest first, topped up to ``n`` from the active batches: (the
    first ``n``, how many the rater holds, "ok"); when fewer than ``n``, "busy" while other
    raters hold row locks on the remaining candidates, or "exhausted" when the active batches
    have nothing more for them. Only the decision runs in the write transaction (suggestions
    are read after it), and a rater who already holds a full run gets it from a read alone."""
    with session_scope(engine) as session:  # a full run decides nothing: read, never write
        task = get_task(session=session, name=task_name)
        held = queue_repo.open_leases(session=session, task_id=task.id, rater_id=rater_id)
        if len(held) >= n and all(a.expires_at > now for a in held[:n]):
            return ([_Lease(a.id, a.item_id, a.leased_at, a.expires_at) for a in held[:n]],
                    len(held), "ok")
    with write_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        retire_stale(session=session, task=task, now=now)
        # (a run-out lease another transaction is expiring right now still reads as open)
        held = [a for a in queue_repo.open_leases(session=session, task_id=task.id,
                                                  rater_id=rater_id) if a.expires_at > now]
        state = "ok"
        while len(held) < n:
            picked = _pick(session, task, rater_id, rng)
            if picked is None:
                waiting = is_postgres(session) and queue_repo.candidate_items(
                    session=session, task_id=task.id, rater_id=rater_id, k=task.overlap_k,
                    limit=1, lock=False)
                state = "busy" if waiting else "exhausted"
                break
            held.append(_new_lease(session, task, rater_id, picked, now))
        leases = [_Lease(a.id, a.item_id, a.leased_at, a.expires_at) for a in held[:n]]
        return leases, len(held), state


def _wait(attempt: int) -> None:
    """Others are deciding on the last candidates: give them a moment."""
    time.sleep(min(0.01 * (attempt + 1), 0.2))


@dataclass(frozen=True)
class Run:
    """The acting rater's next prompts: their leases in the order to show them."""

    items: list[QueueItem]
    needs_batch: bool
    """The active batches cannot supply what this rater could still label: ``refill``."""
    left: int
    """What the rater can still get from the active batches, their held leases included."""
    running_low: bool = False
    """Fewer than ``low_water`` items are left for the rater and the pool has more: ``refill``
    now, ahead of need (``needs_batch`` implies it)."""


@requires(Capability.label)
def upcoming(
    *,
    engine: Engine,
    actor: Actor,
    task_name: str,
    encoder: Encoder,
    n: int = PREFETCH,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> Run:
    """The acting rater's open leases, oldest first, topped up to ``n`` (at most ``PREFETCH``)
    from the task's active batches; it never selects a batch.

    A repeat call gives the same leases back (a reload loses nothing). An empty run with
    ``needs_batch`` means a batch should be selected (``refill``); an empty run without it means
    nothing is left for the rater. No item carries another rater's label.
    """
    if not 1 <= n <= PREFETCH:
        raise QueueError(f"a rater holds 1 to {PREFETCH} items at a time, not {n}")
    now, rng = now or utcnow(), rng or random.Random()
    with session_scope(engine) as session:
        rater_id = acting_rater(session, actor)
    last = MAX_ATTEMPTS - 1
    for attempt in range(MAX_ATTEMPTS):
        try:
            leases, held, state = _lease_run(engine=engine, task_name=task_name,
                                             rater_id=rater_id, n=n, now=now, rng=rng)
        except DatabaseUnavailableError as exc:
            if not exc.retryable or attempt == last:
                raise
            _wait(attempt)  # PostgreSQL broke a deadlock by rolling this decision back
            continue
        if state == "busy" and len(leases) < n and attempt < last:
            # Another rater's decision holds the rows this run would be topped up from (their
            # locks last one short transaction): a run short of ``n`` is topped up, not shown.
            _wait(attempt)
            continue
        exhausted = state == "exhausted"
        with session_scope(engine) as session:
            task = get_task(session=session, name=task_name)
            k = task.overlap_k
            # The pool first: items only move from the pool into batches, so a batch stored
            # meanwhile (a background refill) shows in one of the two counts.
            more = exhausted and queue_repo.pool_has_item_for(
                session=session, task_id=task.id, rater_id=rater_id, k=k)
            in_batches = queue_repo.left_in_batches(session=session, task_id=task.id,
                                                    rater_id=rater_id, k=k)
            if exhausted and in_batches > 0 and attempt < last:
                continue  # a batch arrived after the leases were decided: lease from it
            left = held + in_batches
            low = left < low_water(task)
            if low and not exhausted:
                more = queue_repo.pool_has_item_for(session=session, task_id=task.id,
                                                    rater_id=rater_id, k=k)
            items = _to_queue_items(session, task, leases, encoder)
        return Run(items=items, needs_batch=exhausted and more, left=left,
                   running_low=low and more)
    raise AssertionError("unreachable: the last attempt returns")


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
    """The acting rater's current item (the first of their run), or a newly leased one; ``None``
    when nothing is left for them.

    A rater holding an open lease gets the same item back (a reload loses nothing). When the
    active batches have nothing left for the rater, the next batch is selected first (the
    command line and tests; the Label page uses ``upcoming`` and ``refill``). The item carries
    no other rater's label.
    """
    now, rng = now or utcnow(), rng or random.Random()
    with session_scope(engine) as session:
        rater_id = acting_rater(session, actor)
    pool_empty = False
    for attempt in range(MAX_ATTEMPTS):
        try:
            leases, _, state = _lease_run(engine=engine, task_name=task_name,
                                          rater_id=rater_id, n=1, now=now, rng=rng)
        except DatabaseUnavailableError as exc:
            if not exc.retryable or attempt == MAX_ATTEMPTS - 1:
                raise
            _wait(attempt)
            continue
        if leases:
            with session_scope(engine) as session:
                task = get_task(session=session, name=task_name)
                return _to_queue_items(session, task, leases, encoder)[0]
        if state == "busy":
            _wait(attempt)
            continue
        if pool_empty:
            return None  # the pool was empty before this look at the active batches
        # An empty pool is not the end yet: another rater's selection may have just taken its
        # last items into a batch this rater can label from, so look at the batches once more.
        pool_empty = select_batch(engine=engine, actor=actor, task_name=task_name,
                                  encoder=encoder, now=now) is None
    return None
