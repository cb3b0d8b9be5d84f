"""Out-of-scope detection for an intent model: a score of how much a prompt looks like what the
task was trained on, and the cross-fitted scores that set its threshold.

The score adds two standardised signals (higher means more in scope):

- the classifier's largest logit (max-logit; Hendrycks et al., 2022, "Scaling out-of-distribution
  detection for real-world settings"), which stays informative where the softmax saturates;
- the mean cosine similarity to the ``neighbours`` nearest in-scope training prompts (deep
  nearest neighbours; Sun et al., ICML 2022), which sees a prompt far from every labeled one
  even when the classifier is confident.

Each is centred and scaled by its spread over the in-scope training rows, scored out of fold,
so neither dominates. A prompt is out of scope when the classifier's arg-max is the task's
out-of-scope class or its score is below the threshold. On CLINC150 (``val`` split, MiniLM)
the sum beat max-logit alone, the calibrated max probability, a Mahalanobis distance and the
neighbours alone at every recall (``bench/clinc_training.py`` prints the figures).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from labeling.ml.calibration import logits_of

NEIGHBOURS = 10
MAX_REFERENCE = 20_000
"""In-scope training vectors kept for the neighbour signal (a seeded sample beyond this)."""
CHUNK = 2_048
_FLOAT32: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""A loaded model's reference vectors as float32, made once (kept out of the model's file)."""


def neighbour_similarity(X: np.ndarray, reference: np.ndarray, *, k: int) -> np.ndarray:
    """Mean cosine similarity of each row of ``X`` to its ``k`` most similar ``reference`` rows
    (both unit-length; computed in float32, ``CHUNK`` rows at a time)."""
    X = np.asarray(X, dtype=np.float32)
    out = np.empty(len(X), dtype=np.float64)
    if len(reference) == 0:
        out.fill(0.0)
        return out
    k = max(1, min(k, len(reference)))
    ref = reference if reference.dtype == np.float32 else reference.astype(np.float32)
    for start in range(0, len(X), CHUNK):
        sims = X[start:start + CHUNK] @ ref.T
        if k < sims.shape[1]:
            sims = np.partition(sims, sims.shape[1] - k, axis=1)[:, -k:]
        out[start:start + len(sims)] = sims.mean(axis=1)
    return out


@dataclass(frozen=True)
class ScopeSignals:
    """The two raw signals of some rows: largest logit, and neighbour similarity."""

    max_logit: np.ndarray
    neighbours: np.ndarray


class ScopedClassifier(ClassifierMixin, BaseEstimator):
    """A fitted (calibrated) classifier with an in-scope score for out-of-scope rejection.

    Parameters
    ----------
    estimator
        The fitted classifier; probabilities and predictions are its own.
    oos_label
        The task's out-of-scope class.
    reference
        ``(m, d)`` float16 unit vectors of in-scope training prompts.
    neighbours
        How many nearest reference prompts the similarity averages.
    centre, spread
        Mean and standard deviation of (max-logit, neighbour similarity) over the in-scope
        training rows, scored out of fold.
    """

    def __init__(self, estimator: Any = None, *, oos_label: str | None = None,
                 reference: np.ndarray | None = None, neighbours: int = NEIGHBOURS,
                 centre: Sequence[float] = (0.0, 0.0),
                 spread: Sequence[float] = (1.0, 1.0)) -> None:
        self.estimator = estimator
        self.oos_label = oos_label
        self.reference = reference
        self.neighbours = neighbours
        self.centre = centre
        self.spread = spread

    @property
    def classes_(self) -> np.ndarray:
        return np.asarray(self.estimator.classes_)

    @property
    def n_features_in_(self) -> int:
        return int(np.shape(self.reference)[1])

    def __sklearn_is_fitted__(self) -> bool:
        return self.estimator is not None and hasattr(self.estimator, "classes_")

    def fit(self, X: np.ndarray, y: Any) -> ScopedClassifier:  # noqa: ARG002
        """Nothing to fit: a ``ScopedClassifier`` is built from fitted parts."""
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return logits_of(self.estimator, X)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator.predict_proba(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator.predict(X))

    def signals(self, X: np.ndarray, *, logits: np.ndarray | None = None) -> ScopeSignals:
        logits = self.decision_function(X) if logits is None else logits
        reference = _FLOAT32.get(self)
        if reference is None:
            reference = _FLOAT32[self] = np.asarray(self.reference, dtype=np.float32)
        return ScopeSignals(max_logit=np.asarray(logits, dtype=np.float64).max(axis=1),
                            neighbours=neighbour_similarity(X, reference, k=self.neighbours))

    def scope_scores(self, X: np.ndarray, *, logits: np.ndarray | None = None) -> np.ndarray:
        """How in scope each row looks (higher: more); compare with the task's threshold."""
        return combine(self.signals(X, logits=logits), self.centre, self.spread)


def combine(signals: ScopeSignals, centre: Sequence[float], spread: Sequence[float]
            ) -> np.ndarray:
    """The sum of the two standardised signals."""
    return ((signals.max_logit - centre[0]) / spread[0] +
            (signals.neighbours - centre[1]) / spread[1])


def standardisation(signals: ScopeSignals, in_scope: np.ndarray
                    ) -> tuple[tuple[float, float], tuple[float, float]]:
    """(centre, spread) of each signal over the ``in_scope`` rows (a zero spread becomes 1)."""
    parts = (signals.max_logit[in_scope], signals.neighbours[in_scope])
    centre = tuple(float(p.mean()) if len(p) else 0.0 for p in parts)
    spread = tuple(float(p.std()) if len(p) and p.std() > 1e-12 else 1.0 for p in parts)
    return centre, spread  # type: ignore[return-value]


def scope_scores_if_any(model: Any, X: np.ndarray) -> np.ndarray | None:
    """The in-scope scores a model rejects by: a ``ScopedClassifier``'s (or that of a
    text-feature model's embedding view); ``None`` for a model without one (the caller then
    rejects by the largest probability)."""
    scoped = model if hasattr(model, "scope_scores") else getattr(model, "embedding_model", None)
    if not hasattr(scoped, "scope_scores"):
        return None
    return np.asarray(scoped.scope_scores(X), dtype=np.float64)
