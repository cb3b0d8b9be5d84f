"""Query by committee: copies of the model fitted on bootstrap samples vote, and the items they
disagree on most (modAL's vote entropy) are picked."""

from __future__ import annotations

from typing import Any

import numpy as np
from modAL.disagreement import vote_entropy
from sklearn.base import clone

from labeling.ml.calibration import TemperatureScaledClassifier
from labeling.ml.classifier import (
    DEFAULT_CHUNK,
    FastProbaClassifier,
    inner_model,
    predict_proba_fast,
)
from labeling.ml.strategies.base import QueryStrategy
from labeling.ml.strategies.selection import Selection, make_selection, top_n


def unwrap(model: Any) -> Any:
    """The classifier inside any wrappers (``FastProbaClassifier``, a text-feature model's
    embedding view, ``TemperatureScaledClassifier``, ``ScopedClassifier``, the simulation's
    ``TaskTrainer``), or ``model`` itself: the thing to clone and refit."""
    while True:
        if isinstance(model, FastProbaClassifier):
            model = model.model
        elif isinstance(model, TemperatureScaledClassifier):
            model = model.estimator
        elif (inner := inner_model(model)) is not None:
            model = inner  # text-feature view, ScopedClassifier, TaskTrainer
        else:
            return model


def _bootstrap_rows(y: np.ndarray, rng: np.random.Generator, *, tries: int = 20) -> np.ndarray:
    """A bootstrap sample of row numbers with at least two classes (else all rows)."""
    for _ in range(tries):
        rows = rng.integers(0, len(y), len(y))
        if len(np.unique(y[rows])) > 1:
            return rows
    return np.arange(len(y))


class BootstrapCommittee:
    """Copies of a model fitted on bootstrap samples, with their class columns aligned.

    It reads like a modAL committee to ``modAL.disagreement.vote_entropy``: ``len()``,
    ``classes_`` and ``vote(X)`` (one predicted label per member and row). A member whose sample
    missed some classes gets zero probability for them.
    """

    def __init__(self, members: list[Any], classes: np.ndarray, *, chunk: int) -> None:
        self.members = members
        self.classes_ = classes
        self.chunk = chunk
        self._columns = [np.searchsorted(classes, unwrap(m).classes_) for m in members]

    @classmethod
    def fit(
        cls,
        model: Any,
        X: np.ndarray,
        y: np.ndarray,
        *,
        n_members: int,
        rng: np.random.Generator,
        chunk: int = DEFAULT_CHUNK // 4,
    ) -> BootstrapCommittee:
        """``n_members`` unfitted clones of ``model``, each fitted on a bootstrap of ``(X, y)``."""
        y = np.asarray(y, dtype=object)
        classes = np.unique(np.concatenate([np.asarray(model.classes_, dtype=object), y]))
        members = []
        for _ in range(n_members):
            rows = _bootstrap_rows(y, rng)
            members.append(clone(unwrap(model)).fit(X[rows], list(y[rows])))
        return cls(members, classes, chunk=chunk)

    def __len__(self) -> int:
        return len(self.members)

    def aligned_proba(self, X: np.ndarray) -> list[np.ndarray]:
        """Each member's float32 probabilities over all of ``classes_``."""
        out = []
        for member, columns in zip(self.members, self._columns, strict=True):
            proba = predict_proba_fast(member, X, chunk=self.chunk)
            if len(columns) < len(self.classes_):
                aligned = np.zeros((len(X), len(self.classes_)), dtype=np.float32)
                aligned[:, columns] = proba
                proba = aligned
            out.append(proba)
        return out

    def vote(self, X: np.ndarray) -> np.ndarray:
        """``(n, n_members)`` predicted labels."""
        return np.stack([self.classes_[p.argmax(axis=1)] for p in self.aligned_proba(X)], axis=1)

    def screen(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row, chunk by chunk: whether the members' votes differ, and ``1 - max`` of their
        mean probabilities."""
        disagree = np.empty(len(X), dtype=bool)
        uncertainty = np.empty(len(X), dtype=np.float32)
        for start in range(0, len(X), self.chunk):
            probas = self.aligned_proba(X[start : start + self.chunk])
            votes = np.stack([p.argmax(axis=1) for p in probas], axis=1)
            stop = start + len(votes)
            disagree[start:stop] = (votes != votes[:, :1]).any(axis=1)
            uncertainty[start:stop] = 1.0 - (sum(probas) / len(probas)).max(axis=1)
        return disagree, uncertainty


class QueryByCommittee(QueryStrategy):
    """Query by committee with vote entropy (``modAL.disagreement.vote_entropy``).

    The committee is ``n_members`` clones of the model, each fitted on a bootstrap sample of
    ``(X_labeled, y_labeled)``; members that missed classes are aligned to all classes. Vote
    entropy is exactly 0 wherever the members agree, so modAL's (per-row Python) measure runs only
    on the ``max(candidate_factor * n, min_candidates)`` items that disagree most, and ties
    (vote entropy takes few values) go to the item the committee's mean is least sure about.
    """

    name = "qbc"

    def __init__(
        self, *, n_members: int = 5, candidate_factor: int = 50, min_candidates: int = 2_000
    ) -> None:
        self.n_members = n_members
        self.candidate_factor = candidate_factor
        self.min_candidates = min_candidates

    def _query(self, *, model, X, n, X_labeled, y_labeled, rng) -> Selection:
        if X_labeled is None or len(np.unique(y_labeled)) < 2:
            raise ValueError("qbc needs X_labeled and y_labeled with at least two classes")
        committee = BootstrapCommittee.fit(
            model, X_labeled, y_labeled, n_members=self.n_members, rng=rng
        )
        disagree, uncertainty = committee.screen(X)
        wanted = min(len(X), max(self.candidate_factor * n, self.min_candidates))
        candidates = top_n(2.0 * disagree + uncertainty, wanted)
        entropy = vote_entropy(committee, X[candidates])
        best = top_n(entropy + 0.01 * uncertainty[candidates], n)
        return make_selection(candidates[best], entropy[best], self.name)


