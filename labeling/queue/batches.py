"""Selecting the next batch of items to label with the task's query strategy.

The pool's vectors come from the in-memory ``PoolMatrix``; the strategy runs outside any write
transaction, and the batch is stored in a short one that drops items another process selected
meanwhile.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import Session

from labeling.lifecycle.registry import serving_classifier
from labeling.ml.encoders import Encoder
from labeling.ml.strategies import get_strategy
from labeling.project.authz import Actor, Capability, requires
from labeling.project.tasks import get_task
from labeling.project.vectors import embed_texts
from labeling.queue.pool import pool_matrix
from labeling.review.consensus import training_set
from storage.db import session_scope, write_scope
from storage.models import Task, utcnow
from storage.repositories import models as model_repo
from storage.repositories import queue as queue_repo

MAX_LABELED_FOR_DIVERSITY = 5000


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

    A rater's request for an item selects it when the active batches run dry (``label``)."""
    now = now or utcnow()
    rng = rng or np.random.default_rng()
    database = engine.url.render_as_string(hide_password=True)
    with session_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        serving = model_repo.serving(session=session, task_id=task.id)
        pool_ids = queue_repo.pool_item_ids(session=session, task_id=task.id, k=task.overlap_k)
        if not pool_ids:
            return None
        X_pool = pool_matrix(database=database, task_id=task.id, encoder=encoder).rows(
            session=session, encoder=encoder, item_ids=pool_ids
        )
        strategy = get_strategy(task.strategy)
        X_labeled, y_labeled = (None, None)
        if task.strategy in {"ranked_batch", "qbc"}:
            X_labeled, y_labeled = _labeled(session=session, task=task, encoder=encoder, rng=rng)
        task_id, batch_size, overlap_k = task.id, task.batch_size, task.overlap_k
        model = serving_classifier(session=session, task_id=task_id)
    chosen = strategy.select(
        model=model, X_pool=X_pool, n_instances=batch_size,
        X_labeled=X_labeled, y_labeled=y_labeled, rng=rng,
    )
    batch = Batch(
        batch_id=uuid.uuid4().hex, strategy=chosen.strategy,
        model_version=serving.version if serving else None,
        item_ids=[pool_ids[i] for i in chosen.indices],
        scores=[float(s) for s in chosen.scores],
    )
    with write_scope(engine) as session:
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
