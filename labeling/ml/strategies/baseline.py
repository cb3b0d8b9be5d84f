"""The baseline: uniformly random items."""

from __future__ import annotations

import numpy as np

from labeling.ml.strategies.base import QueryStrategy
from labeling.ml.strategies.selection import Selection, make_selection


class RandomSampling(QueryStrategy):
    """Uniformly random items: the baseline every other strategy must beat (no cold-start
    k-means: random is random from the first label on)."""

    name = "random"
    cold_start_kmeans = False

    def _query(self, *, model, X, n, X_labeled, y_labeled, rng) -> Selection:  # noqa: ARG002
        rows = rng.choice(len(X), n, replace=False)
        return make_selection(rows, np.ones(n), self.name)


