"""Label-error detection with cleanlab: settled labels the model finds implausible go back.

Out-of-fold probabilities (cross-validation of the task's classifier on the embeddings) are
given to ``cleanlab.filter.find_label_issues``; each suspect item is marked, wants one more
rater than before, and is put at the front of the queue (strategy ``label_issue``).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass

import numpy as np
from cleanlab.filter import find_label_issues
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sqlalchemy.engine import Engine

from labeling.exceptions import LabelingError
from labeling.ml.classifier import make_classifier
from labeling.ml.encoders import Encoder
from labeling.project import authz
from labeling.project.authz import Actor, Capability, requires
from labeling.project.tasks import get_task
from labeling.project.vectors import embed_texts
from labeling.review.consensus import recompute, training_set
from storage.db import session_scope, write_scope
from storage.models import Item, utcnow
from storage.repositories import audit
from storage.repositories import consensus as consensus_repo
from storage.repositories import queue as queue_repo


@dataclass(frozen=True)
class Suspect:
    item_id: int
    text: str
    label: str
    suggested: str
    label_quality: float


def out_of_fold_proba(X: np.ndarray, y: np.ndarray, *, folds: int = 5, seed: int = 0
                      ) -> tuple[np.ndarray, list[str]]:
    """Cross-validated class probabilities for every row (classes sorted)."""
    classes = sorted(set(y.tolist()))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    proba = cross_val_predict(make_classifier(seed=seed), X, y, cv=splitter,
                              method="predict_proba")
    return proba, classes


@requires(Capability.view_quality)
def find_suspects(*, engine: Engine, actor: Actor, task_name: str, encoder: Encoder,
                  folds: int = 5) -> list[Suspect]:
    """Settled items whose label cleanlab finds likely wrong, most suspect first.

    Classes with fewer examples than folds are left out (they cannot be cross-validated).
    """
    recompute(engine=engine, actor=actor, task_name=task_name)
    with session_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        data = training_set(session=session, task=task)
        counts = Counter(data.labels)
        keep = [i for i, label in enumerate(data.labels) if counts[label] >= folds]
        if len({data.labels[i] for i in keep}) < 2:
            raise LabelingError(f"task {task_name!r} needs settled labels in at least two "
                                f"classes with {folds}+ examples each to look for label errors")
        texts = [data.texts[i] for i in keep]
        X = embed_texts(session=session, encoder=encoder, texts=texts)
    y = np.asarray([data.labels[i] for i in keep], dtype=object)
    proba, classes = out_of_fold_proba(X, y, folds=folds)
    index = {c: n for n, c in enumerate(classes)}
    y_index = np.asarray([index[v] for v in y])
    ranked = find_label_issues(labels=y_index, pred_probs=proba,
                               return_indices_ranked_by="self_confidence")
    return [
        Suspect(item_id=data.item_ids[keep[r]], text=texts[r], label=str(y[r]),
                suggested=classes[int(np.argmax(proba[r]))],
                label_quality=float(proba[r, y_index[r]]))
        for r in ranked
    ]


@requires(Capability.manage_tasks)
def send_back(*, engine: Engine, actor: Actor, task_name: str, suspects: list[Suspect]) -> int:
    """Mark the suspects and return them to the queue for one more rater each (a change to the
    task's queue: ``manage_tasks``)."""
    if not suspects:
        return 0
    now, batch = utcnow(), f"label-issues-{uuid.uuid4().hex[:12]}"
    with write_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        rows = []
        for suspect in suspects:
            item = session.get(Item, suspect.item_id)
            item.extra_raters += 1
            session.add(item)
            consensus = consensus_repo.get(session=session, item_id=suspect.item_id)
            if consensus is not None:
                consensus.suspect, consensus.settled = True, False
                session.add(consensus)
            rows.append({"task_id": task.id, "item_id": suspect.item_id, "batch_id": batch,
                         "strategy": "label_issue", "model_version_id": None,
                         "score": 1.0 - suspect.label_quality, "active": True,
                         "created_at": now})
        queue_repo.deactivate_item_selections(session=session,
                                              item_ids=[s.item_id for s in suspects])
        queue_repo.add_selections(session=session, rows=rows)
        audit.record(session=session, actor=authz.audit_name(actor), action="items.relabel",
                     entity="task", entity_id=task.id,
                     after={"items": [s.item_id for s in suspects], "batch": batch})
    return len(suspects)
