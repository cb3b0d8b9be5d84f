"""A task's settled labels with their embeddings, for showing the nearest labeled examples that
support a served decision ("why did the router say workout?")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy.engine import Engine

from labeling.ml.encoders import Encoder
from labeling.project.authz import Actor, Capability, requires
from labeling.project.tasks import get_task
from labeling.project.vectors import embed_texts
from labeling.review.consensus import training_set
from storage.db import session_scope


@dataclass(frozen=True)
class LabeledExamples:
    """Settled items of a task: texts, labels and unit vectors in the same order."""

    item_ids: list[int]
    texts: list[str]
    labels: list[str]
    vectors: np.ndarray

    def nearest(self, vector: np.ndarray, k: int = 3) -> list[dict]:
        """The ``k`` most similar examples to ``vector`` (cosine), most similar first."""
        if not self.texts:
            return []
        similarity = self.vectors @ np.asarray(vector, dtype=np.float32).ravel()
        k = min(k, len(self.texts))
        top = np.argpartition(-similarity, k - 1)[:k]
        top = top[np.argsort(-similarity[top], kind="stable")]
        return [{"item_id": self.item_ids[i], "text": self.texts[i], "label": self.labels[i],
                 "similarity": round(float(similarity[i]), 3)} for i in top]


@requires(Capability.preview)
def labeled_examples(*, engine: Engine, actor: Actor, encoder: Encoder, task_name: str
                     ) -> LabeledExamples:
    """The task's settled (consensus, adjudicated or triaged) labels, gold items excluded,
    with their vectors (encoded and stored once)."""
    with session_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        settled = training_set(session=session, task=task)
        vectors = embed_texts(session=session, encoder=encoder, texts=settled.texts) \
            if settled.texts else np.zeros((0, encoder.dim), dtype=np.float32)
    return LabeledExamples(item_ids=list(settled.item_ids), texts=list(settled.texts),
                           labels=list(settled.labels), vectors=vectors)
