"""Uncertainty sampling: least confidence, margin and entropy, on modAL's query functions."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np
from modAL.uncertainty import entropy_sampling, margin_sampling, uncertainty_sampling

from labeling.ml.strategies.base import QueryStrategy, TopProbabilities
from labeling.ml.strategies.selection import Selection, make_selection, top_n


class _UncertaintyStrategy(QueryStrategy):
    """A modAL uncertainty function run chunk by chunk: each chunk's best ``n``, then the best
    ``n`` of those (exact, and the probabilities of only one chunk are in memory at a time)."""

    query: ClassVar[Callable[..., tuple[np.ndarray, np.ndarray]]]  # a modAL query function
    top_k: ClassVar[int | None] = None
    """How many of each row's largest probabilities the measure needs (``None``: all)."""

    @staticmethod
    def _worth(values: np.ndarray) -> np.ndarray:
        """modAL's returned measure as 'higher = more worth labeling'."""
        return values

    def _query(self, *, model, X, n, X_labeled, y_labeled, rng) -> Selection:  # noqa: ARG002
        scorer = model if self.top_k is None else TopProbabilities(model, self.top_k)
        found_rows, found_scores = [], []
        for start in range(0, len(X), model.chunk):
            block = X[start : start + model.chunk]
            rows, values = type(self).query(scorer, block, n_instances=min(n, len(block)))
            found_rows.append(np.asarray(rows) + start)
            found_scores.append(self._worth(np.asarray(values, dtype=np.float64)))
        rows, scores = np.concatenate(found_rows), np.concatenate(found_scores)
        best = top_n(scores, n)
        return make_selection(rows[best], scores[best], self.name)


class LeastConfidence(_UncertaintyStrategy):
    """``1 - max_k p(k | x)`` is highest (``modAL.uncertainty.uncertainty_sampling``)."""

    name = "least_confidence"
    query = staticmethod(uncertainty_sampling)
    top_k = 1


class Margin(_UncertaintyStrategy):
    """The gap between the two most likely classes is smallest (``margin_sampling``).

    Scores are ``1 - margin``.
    """

    name = "margin"
    query = staticmethod(margin_sampling)
    top_k = 2

    @staticmethod
    def _worth(values: np.ndarray) -> np.ndarray:
        return 1.0 - values


class Entropy(_UncertaintyStrategy):
    """The predicted class distribution has the most entropy (``entropy_sampling``)."""

    name = "entropy"
    query = staticmethod(entropy_sampling)


