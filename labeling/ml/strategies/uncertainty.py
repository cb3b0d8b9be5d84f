"""Uncertainty sampling: least confidence, margin and entropy, on modAL's uncertainty measures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from modAL.uncertainty import classifier_entropy, classifier_margin, classifier_uncertainty

from labeling.ml.classifier import as_fast
from labeling.ml.strategies.base import QueryStrategy, TopProbabilities
from labeling.ml.strategies.selection import Selection, make_selection, top_n


class _UncertaintyStrategy(QueryStrategy):
    """A modAL uncertainty measure of every row, chunk by chunk (the probabilities of only one
    chunk are in memory at a time), then the best ``n``.

    A row's score depends on the model and the row alone (``itemwise``), so the queue keeps a
    task's scores between selections under one model (``labeling.queue.scores``)."""

    measure: ClassVar[Callable[..., np.ndarray]]  # a modAL measure: (classifier, X) -> (n,)
    top_k: ClassVar[int | None] = None
    """How many of each row's largest probabilities the measure needs (``None``: all)."""
    itemwise = True

    @staticmethod
    def _worth(values: np.ndarray) -> np.ndarray:
        """modAL's measure as 'higher = more worth labeling'."""
        return values

    def scores(self, *, model: Any, X: np.ndarray) -> np.ndarray:
        fast = as_fast(model)
        scorer = fast if self.top_k is None else TopProbabilities(fast, self.top_k)
        worth = np.empty(len(X), dtype=np.float64)
        for start in range(0, len(X), fast.chunk):
            block = X[start : start + fast.chunk]
            worth[start : start + len(block)] = self._worth(
                np.asarray(type(self).measure(scorer, block), dtype=np.float64))
        return worth

    def _query(self, *, model, X, n, X_labeled, y_labeled, rng) -> Selection:  # noqa: ARG002
        worth = self.scores(model=model, X=X)
        best = top_n(worth, n)
        return make_selection(best, worth[best], self.name)


class LeastConfidence(_UncertaintyStrategy):
    """``1 - max_k p(k | x)`` is highest (``modAL.uncertainty.classifier_uncertainty``)."""

    name = "least_confidence"
    measure = staticmethod(classifier_uncertainty)
    top_k = 1


class Margin(_UncertaintyStrategy):
    """The gap between the two most likely classes is smallest (``classifier_margin``).

    Scores are ``1 - margin``.
    """

    name = "margin"
    measure = staticmethod(classifier_margin)
    top_k = 2

    @staticmethod
    def _worth(values: np.ndarray) -> np.ndarray:
        return 1.0 - values


class Entropy(_UncertaintyStrategy):
    """The predicted class distribution has the most entropy (``classifier_entropy``)."""

    name = "entropy"
    measure = staticmethod(classifier_entropy)
