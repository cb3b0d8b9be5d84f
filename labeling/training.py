"""Retraining a task's classifier on its settled labels, as a new registry version.

Training uses the settled consensus (``labeling.consensus``): items whose raters agree, imported
labels, and adjudicated decisions. Gold items never enter the training set.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import Session

from labeling import embeddings
from labeling.classifier import make_classifier
from labeling.consensus import recompute
from labeling.embeddings import Encoder
from labeling.exceptions import LabelingError
from labeling.registry import save_model
from labeling.tasks import get_task
from storage.db import session_scope, write_scope
from storage.models import ModelVersion, Task
from storage.repositories import audit
from storage.repositories import consensus as consensus_repo
from storage.repositories import items as item_repo
from storage.repositories import models as model_repo


class TrainingError(LabelingError):
    """Not enough settled labels to train on."""


@dataclass(frozen=True)
class TrainingSet:
    item_ids: list[int]
    texts: list[str]
    labels: list[str]

    def snapshot_hash(self) -> str:
        pairs = sorted(zip(self.item_ids, self.labels, strict=True))
        return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()


def settled_labels(*, session: Session, task: Task) -> dict[int, str]:
    """Item id → settled consensus label, as last stored by ``consensus.recompute``."""
    return consensus_repo.settled_values(session=session, task_id=task.id)


def training_set(*, session: Session, task: Task) -> TrainingSet:
    settled = settled_labels(session=session, task=task)
    items = {i.id: i for i in item_repo.list_for_task(session=session, task_id=task.id)}
    ids = sorted(i for i in settled if i in items and items[i].gold_label is None)
    return TrainingSet(item_ids=ids, texts=[items[i].text for i in ids],
                       labels=[settled[i] for i in ids])


@dataclass(frozen=True)
class TrainedModel:
    task: str
    version: int
    n_train: int
    classes: list[str]
    seconds: float
    serving: bool


def retrain(
    *, engine: Engine, task_name: str, encoder: Encoder, models_dir: Path, actor: str,
    seed: int = 0,
) -> TrainedModel:
    """Train on the settled labels and store the model as a new version.

    The task's first model serves at once; later versions wait for ``registry.promote``.
    """
    start = time.perf_counter()
    recompute(engine=engine, task_name=task_name)
    with session_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        data = training_set(session=session, task=task)
        if len(set(data.labels)) < 2:
            raise TrainingError(
                f"task {task_name!r} has {len(data.labels)} settled labels in "
                f"{len(set(data.labels))} classes; training needs at least two classes"
            )
        X = embeddings.embed_texts(session=session, encoder=encoder, texts=data.texts)
    model = make_classifier(seed=seed)
    model.fit(X, np.asarray(data.labels, dtype=object))
    with write_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        version = model_repo.next_version(session=session, task_id=task.id)
        path = models_dir / task.name / f"v{version}.skops"
        file_hash = save_model(model, path)
        parent = model_repo.serving(session=session, task_id=task.id)
        counts = {c: data.labels.count(c) for c in sorted(set(data.labels))}
        registered = model_repo.add(session=session, model=ModelVersion(
            task_id=task.id, version=version, label_snapshot_hash=data.snapshot_hash(),
            file_path=str(path.resolve()), file_hash=file_hash, trained_by=actor,
            parent_id=parent.id if parent else None,
            settings={"classifier": type(model).__name__, "encoder": encoder.name, "seed": seed},
            metrics={"n_train": len(data.labels), "class_counts": counts},
        ))
        serves = parent is None  # the first model serves at once; later ones wait for promotion
        if serves:
            model_repo.set_serving(session=session, task_id=task.id, model_id=registered.id)
        audit.record(session=session, actor=actor, action="model.train", entity="modelversion",
                     entity_id=registered.id, after={"task": task.name, "version": version,
                                                     "n_train": len(data.labels)})
    return TrainedModel(task=task_name, version=version, n_train=len(data.labels),
                        classes=sorted(counts), seconds=time.perf_counter() - start,
                        serving=serves)
