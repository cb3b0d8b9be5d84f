"""Selecting the next batch of items to label with the task's query strategy.

The pool's vectors come from the in-memory ``PoolMatrix``; the strategy runs outside any write
transaction, and the batch is stored in a short one that drops items another process selected
meanwhile.

``refill`` selects ahead of time (in a background thread of the app, or right after a retrain),
so a rater's request for their next items only leases from the active batches and never waits
for a selection.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import Session

from labeling.exceptions import LabelingError
from labeling.lifecycle.registry import serving_classifier
from labeling.ml.encoders import Encoder
from labeling.ml.strategies import QueryStrategy, get_strategy
from labeling.project import authz
from labeling.project.authz import Actor, Capability, requires
from labeling.project.tasks import get_task
from labeling.project.vectors import embed_texts
from labeling.queue.pool import pool_matrix
from labeling.queue.scores import best_in_pool
from labeling.review.consensus import training_set
from storage.db import again_on_conflict, session_scope, write_scope
from storage.models import Task, utcnow
from storage.repositories import models as model_repo
from storage.repositories import queue as queue_repo
from storage.repositories import tasks as task_repo

MAX_LABELED_FOR_DIVERSITY = 5000
PREFETCH = 3
"""How many leases a rater holds at most: the prompt on screen and the next ones, so the next
prompt needs no lease, let alone a selection."""
LOW_WATER = 2 * PREFETCH
"""A rater's next batch is selected when fewer than ``low_water`` items are left for them in the
active batches, so it is ready before their prefetched run is used up."""
RECENT_RATERS = timedelta(minutes=15)
"""Raters leased an item within this time count as active when ``refill`` judges what is low."""


@dataclass(frozen=True)
class Batch:
    batch_id: str
    strategy: str
    model_version: int | None
    item_ids: list[int]
    scores: list[float]


def _labeled(*, session: Session, task: Task, encoder: Encoder, rng: np.random.Generator):
    data = training_set(session=session, task=task)
    if not data.labels:
        return None, None
    keep = np.arange(len(data.labels))
    if len(keep) > MAX_LABELED_FOR_DIVERSITY:
        keep = np.sort(rng.choice(keep, MAX_LABELED_FOR_DIVERSITY, replace=False))
    texts = [data.texts[i] for i in keep]
    X = embed_texts(session=session, encoder=encoder, texts=texts)
    return X, np.asarray([data.labels[i] for i in keep], dtype=object)


CLAIM_SECONDS = 300.0
"""How long a batch selection holds the task's claim at most (a crashed one frees it then)."""
CLAIM_POLL_SECONDS = 0.2
WANTED_EVERY = 5


@contextmanager
def _selection_claim(engine: Engine, task_name: str, *,
                     wanted: Callable[[], bool] | None = None) -> Iterator[bool]:
    """Hold the task's selection claim (``task.selecting_until``, in the database, so across
    processes and app instances): one batch selection at a time per task. Waits while another
    runs; a claim left by a crashed process runs out after ``CLAIM_SECONDS``. Yields whether
    it holds the claim: with ``wanted``, a waiter that no longer wants it (checked every
    ``WANTED_EVERY`` tries) stops waiting and yields ``False``. (16 raters' refills waited in
    line for one claim, and most found on their turn that another's batch had been enough.)

    Before the first try, and every ``WANTED_EVERY`` tries after, it loads the task's serving
    model into this process (a cache hit when loaded), so that the claim is never held while a
    model loads: the first load in a process (skops' import and the file) took 3-9 s of CPU on
    a busy 2-core machine, and inside the claim it held every other rater's refill for that
    long. A promotion while this caller waits is loaded while it waits.
    """
    deadline = time.monotonic() + CLAIM_SECONDS + 30
    for tries in itertools.count(0):
        if tries % WANTED_EVERY == 0:  # the first try, then about once a second
            if tries and wanted is not None and not wanted():
                yield False
                return
            with session_scope(engine) as session:
                serving_classifier(session=session,
                                   task_id=get_task(session=session, name=task_name).id)
        with write_scope(engine) as session:
            task = get_task(session=session, name=task_name)
            now = utcnow()
            task_id = task.id
            if task_repo.claim_selection(session=session, task_id=task_id, now=now,
                                         until=now + timedelta(seconds=CLAIM_SECONDS)):
                break
        if time.monotonic() > deadline:
            raise LabelingError(f"another batch selection for {task_name!r} is still running; "
                                "try again in a minute")
        time.sleep(CLAIM_POLL_SECONDS)
    def release() -> None:
        with write_scope(engine) as session:
            task_repo.release_selection(session=session, task_id=task_id)

    try:
        yield True
    finally:
        again_on_conflict(release)  # a claim left held would stop selections for minutes


@requires(Capability.label)
def select_batch(
    *,
    engine: Engine,
    actor: Actor,
    task_name: str,
    encoder: Encoder,
    now: datetime | None = None,
    rng: np.random.Generator | None = None,
) -> Batch | None:
    """Pick and store the task's next batch; ``None`` when the pool is empty.

    One selection at a time per task (``_selection_claim``): a second caller waits for the
    first, then selects from what is left."""
    with _selection_claim(engine, task_name):
        return _select(engine=engine, task_name=task_name, encoder=encoder, now=now, rng=rng)


def _select(*, engine: Engine, task_name: str, encoder: Encoder, now: datetime | None,
            rng: np.random.Generator | None) -> Batch | None:
    now = now or utcnow()
    rng = rng or np.random.default_rng()
    database = engine.url.render_as_string(hide_password=True)
    with session_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        serving = model_repo.serving(session=session, task_id=task.id)
        task_id, batch_size, overlap_k = task.id, task.batch_size, task.overlap_k
        strategy = get_strategy(task.strategy)
        model = serving_classifier(session=session, task_id=task_id)
        if model is not None and serving is not None and strategy.itemwise:
            item_ids, scores = best_in_pool(
                session=session, database=database, task_id=task_id,
                items_deleted=task.items_deleted, k=overlap_k, n=batch_size, encoder=encoder,
                strategy=strategy, model=model, model_hash=serving.file_hash)
            name = strategy.name
        else:
            found = _select_from_pool(session=session, database=database, task=task,
                                      strategy=strategy, model=model, encoder=encoder, rng=rng)
            if found is None:
                return None
            item_ids, scores, name = found
    if not item_ids:
        return None
    batch = Batch(batch_id=uuid.uuid4().hex, strategy=name,
                  model_version=serving.version if serving else None,
                  item_ids=item_ids, scores=scores)
    with write_scope(engine) as session:
        task_repo.lock(session=session, task_id=task_id)  # and the schema: one active batch
        free = queue_repo.still_free(session=session, task_id=task_id,
                                     item_ids=batch.item_ids, k=overlap_k)
        rows = [
            {"task_id": task_id, "item_id": item, "batch_id": batch.batch_id,
             "strategy": batch.strategy, "model_version_id": serving.id if serving else None,
             "score": score, "active": True, "created_at": now}
            for item, score in zip(batch.item_ids, batch.scores, strict=True)
            if item in free
        ]
        queue_repo.add_selections(session=session, rows=rows)
    return batch


def _select_from_pool(*, session: Session, database: str, task: Task, strategy: QueryStrategy,
                      model: Any, encoder: Encoder, rng: np.random.Generator
                      ) -> tuple[list[int], list[float], str] | None:
    """Run ``strategy`` over the whole pool's vectors: (item ids, scores, strategy), or ``None``
    when the pool is empty."""
    pool_ids = queue_repo.pool_item_ids(session=session, task_id=task.id, k=task.overlap_k)
    if not pool_ids:
        return None
    X_pool = pool_matrix(database=database, task_id=task.id, encoder=encoder,
                         items_deleted=task.items_deleted).rows(
        session=session, encoder=encoder, item_ids=pool_ids)
    X_labeled, y_labeled = (None, None)
    if task.strategy in {"ranked_batch", "qbc"}:
        X_labeled, y_labeled = _labeled(session=session, task=task, encoder=encoder, rng=rng)
    chosen = strategy.select(model=model, X_pool=X_pool, n_instances=task.batch_size,
                             X_labeled=X_labeled, y_labeled=y_labeled, rng=rng)
    return ([pool_ids[i] for i in chosen.indices], [float(s) for s in chosen.scores],
            chosen.strategy)


def retire_stale(*, session: Session, task: Task, now: datetime) -> None:
    """Return run-out leases to the pool and retire the batches another model selected (inside
    the caller's write transaction)."""
    queue_repo.expire_leases(session=session, task_id=task.id, now=now)
    serving = model_repo.serving(session=session, task_id=task.id)
    queue_repo.deactivate_batches(session=session, task_id=task.id,
                                  keep_model_id=serving.id if serving else None)


_SELECTING: dict[tuple[str, str], threading.Lock] = {}
_SELECTING_GUARD = threading.Lock()


def _selection_lock(engine: Engine, task_name: str) -> threading.Lock:
    """One refill at a time per task in this process (across processes: ``_selection_claim``)."""
    key = (engine.url.render_as_string(hide_password=True), task_name)
    with _SELECTING_GUARD:
        return _SELECTING.setdefault(key, threading.Lock())


def low_water(task: Task) -> int:
    """Below how many items left in the active batches a rater's next batch is selected: half a
    batch, and at least twice the prefetched run, but never a whole batch (a fresh batch is
    not low)."""
    return min(task.batch_size, max(LOW_WATER, math.ceil(task.batch_size / 2)))


def _running_low(*, engine: Engine, actor: Actor, task_name: str, now: datetime) -> bool:
    """Whether the active batches are low: fewer free slots than half a batch's, or than
    ``PREFETCH`` for each recently active rater, or fewer than ``low_water`` items left for the
    acting rater (their leases included)."""
    with write_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        retire_stale(session=session, task=task, now=now)
        free = queue_repo.free_slots(session=session, task_id=task.id, k=task.overlap_k)
        raters = queue_repo.recent_raters(session=session, task_id=task.id,
                                          since=now - RECENT_RATERS)
        if free < max(math.ceil(task.batch_size * task.overlap_k / 2), PREFETCH * raters):
            return True
        rater_id = authz.principal(session, actor).account_id
        if rater_id is None:
            return False
        held = len(queue_repo.open_leases(session=session, task_id=task.id, rater_id=rater_id))
        return held + queue_repo.left_in_batches(
            session=session, task_id=task.id, rater_id=rater_id, k=task.overlap_k
        ) < low_water(task)


@requires(Capability.label)
def refill(
    *,
    engine: Engine,
    actor: Actor,
    task_name: str,
    encoder: Encoder,
    now: datetime | None = None,
) -> bool:
    """Select the task's next batch ahead of need when the active batches run low; return
    whether a batch was selected (``False``: enough is left, or the pool is empty).

    At most one selection runs at a time per task: a second caller waits for the first, and
    stops waiting (or finds on its turn) once enough is left. Safe to call from a background
    thread; called when ``upcoming`` says ``needs_batch`` and right after a retrain (which may
    retire the old model's batches).
    """
    now = now or utcnow()

    def select_if_low() -> bool:
        if not _running_low(engine=engine, actor=actor, task_name=task_name, now=now):
            return False
        return _select(engine=engine, task_name=task_name, encoder=encoder, now=now,
                       rng=None) is not None

    def still_low() -> bool:
        return again_on_conflict(lambda: _running_low(engine=engine, actor=actor,
                                                      task_name=task_name, now=now))

    with _selection_lock(engine, task_name), \
            _selection_claim(engine, task_name, wanted=still_low) as claimed:
        # PostgreSQL may break a deadlock with raters' hand-outs by rolling a step back
        return claimed and again_on_conflict(select_if_low)
