"""A strategy's answer (``Selection``), the checks every request passes, and the partial sort
that picks the best ``n`` scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from labeling.exceptions import EmptyPoolError


@dataclass(frozen=True)
class Selection:
    """The items a strategy picked, most worth labeling first: ``indices`` (distinct int64 rows
    of ``X_pool``), ``scores`` (one float each, the strategy's own measure, higher = more worth
    labeling) and ``strategy`` (its registry name)."""

    indices: np.ndarray
    scores: np.ndarray
    strategy: str


def top_n(scores: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` largest scores, largest first (a partial sort, then ``n`` sorted)."""
    if n < len(scores):
        picked = np.argpartition(-scores, n - 1)[:n]
    else:
        picked = np.arange(len(scores))
    return picked[np.argsort(-scores[picked], kind="stable")]


def make_selection(indices: np.ndarray, scores: np.ndarray, name: str) -> Selection:
    return Selection(
        indices=np.asarray(indices, dtype=np.int64),
        scores=np.asarray(scores, dtype=np.float64),
        strategy=name,
    )



def check_request(X_pool: Any, n_instances: Any) -> tuple[np.ndarray, int]:
    if isinstance(n_instances, bool) or not isinstance(n_instances, int | np.integer):
        raise ValueError(f"n_instances must be an int, got {type(n_instances).__name__}")
    if n_instances < 1:
        raise ValueError(f"n_instances must be >= 1, got {n_instances}")
    X = np.asarray(X_pool)
    if X.ndim != 2:
        raise ValueError(f"X_pool must be 2-d (items x dimensions), got shape {X.shape}")
    if X.shape[0] == 0:
        raise EmptyPoolError("the pool is empty: there is nothing left to label")
    return X, int(n_instances)


