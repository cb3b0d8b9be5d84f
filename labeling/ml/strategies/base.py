"""The base class of every query strategy: it validates the request, handles the cold start
(a k-means seed set), then calls the strategy's ``_query``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from labeling.ml.classifier import FastProbaClassifier, as_fast, top_proba_fast
from labeling.ml.strategies.seeding import kmeans_seed
from labeling.ml.strategies.selection import Selection, check_request, make_selection


def _check_labeled(
    X_labeled: Any, y_labeled: Any, *, dim: int
) -> tuple[np.ndarray | None, np.ndarray | None]:
    if X_labeled is None and y_labeled is None:
        return None, None
    if X_labeled is None or y_labeled is None:
        raise ValueError("give both X_labeled and y_labeled, or neither")
    X = np.asarray(X_labeled)
    y = np.asarray(y_labeled, dtype=object) if not isinstance(y_labeled, np.ndarray) else y_labeled
    if X.ndim != 2 or X.shape[1] != dim:
        raise ValueError(f"X_labeled must be (n, {dim}), got shape {X.shape}")
    if len(y) != len(X):
        raise ValueError(f"X_labeled has {len(X)} rows but y_labeled has {len(y)}")
    return X, y


class QueryStrategy(ABC):
    """Base class: validates the request, handles the cold start, then calls ``_query``.

    Subclasses set ``name`` and implement ``_query`` on an already checked request with a fitted
    model (wrapped in a ``FastProbaClassifier``) and ``1 <= n <= len(X_pool)``.
    """

    name: ClassVar[str] = ""
    cold_start_kmeans: ClassVar[bool] = True
    itemwise: ClassVar[bool] = False
    """Whether an item's score depends on the model and the item's vector alone (``scores``),
    so that a changing pool's scores can be kept between selections under one model."""

    def scores(self, *, model: Any, X: np.ndarray) -> np.ndarray:  # noqa: ARG002
        """Each row's score under the fitted ``model`` (higher = more worth labeling); only
        for ``itemwise`` strategies, whose selection is the ``n`` best of these."""
        raise TypeError(f"the {self.name!r} strategy does not score items one by one")

    def select(
        self,
        *,
        model: Any,
        X_pool: np.ndarray,
        n_instances: int,
        X_labeled: np.ndarray | None = None,
        y_labeled: np.ndarray | None = None,
        rng: np.random.Generator,
    ) -> Selection:
        """Pick ``n_instances`` items of ``X_pool`` to label next.

        Parameters
        ----------
        model
            A fitted classifier (``classes_``, ``predict_proba``), or ``None`` for a cold start.
        X_pool
            ``(n, d)`` embeddings of the unlabeled items.
        n_instances
            How many to pick; more than the pool returns the whole pool.
        X_labeled, y_labeled
            The labeled items so far (used by ``ranked_batch`` and ``qbc``).
        rng
            The only source of randomness, so equal seeds give equal selections.

        Raises
        ------
        EmptyPoolError
            The pool has no items.
        ValueError
            ``n_instances < 1``, ``X_pool`` not 2-d, or mismatched labeled data.
        """
        X, n = check_request(X_pool, n_instances)
        X_lab, y_lab = _check_labeled(X_labeled, y_labeled, dim=X.shape[1])
        if not isinstance(rng, np.random.Generator):
            raise ValueError("rng must be a numpy.random.Generator (np.random.default_rng(seed))")
        n = min(n, len(X))
        if model is None and self.cold_start_kmeans:
            seed = kmeans_seed(X, n, rng=rng)
            return make_selection(seed.indices, seed.scores, self.name)
        if model is not None and not hasattr(model, "classes_"):
            raise ValueError("model must be a fitted classifier (with classes_) or None")
        fast = as_fast(model) if model is not None else None
        return self._query(model=fast, X=X, n=n, X_labeled=X_lab, y_labeled=y_lab, rng=rng)

    @abstractmethod
    def _query(self, *, model: FastProbaClassifier | None, X: np.ndarray, n: int,
               X_labeled: np.ndarray | None, y_labeled: np.ndarray | None,
               rng: np.random.Generator) -> Selection:
        """Pick ``n`` rows of ``X`` (checked request, fitted model or ``None`` for random)."""


class TopProbabilities:
    """A classifier face whose ``predict_proba`` gives each row's ``k`` largest probabilities
    only: all that modAL's least-confidence (``k=1``) and margin (``k=2``) measures read."""

    def __init__(self, model: FastProbaClassifier, k: int) -> None:
        self.model, self.k = model, k

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return top_proba_fast(self.model.model, X, k=self.k, chunk=self.model.chunk)


