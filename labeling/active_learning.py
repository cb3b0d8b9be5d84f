"""Query strategies: which unlabeled prompts to label next, from precomputed embeddings.

Every strategy wraps one of modAL's query functions (``modAL.uncertainty``, ``modAL.batch``,
``modAL.disagreement``) applied to a fitted classifier; none uses modAL's ``ActiveLearner`` or
``Committee`` fitting (broken with scikit-learn >= 1.8). Probabilities come from
``predict_proba_fast`` (float32, chunked), so a batch is picked from a million embeddings with one
matrix product per chunk and a partial sort.

With no model yet (``model=None``, a cold start) every strategy but ``random`` picks a diverse
seed set with ``kmeans_seed``.

Use ``get_strategy(name)``; ``STRATEGIES`` maps each name to its class.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from modAL.batch import uncertainty_batch_sampling
from modAL.disagreement import vote_entropy
from modAL.uncertainty import entropy_sampling, margin_sampling, uncertainty_sampling
from sklearn.cluster import MiniBatchKMeans

from labeling.classifier import (
    DEFAULT_CHUNK,
    BootstrapCommittee,
    FastProbaClassifier,
    as_fast,
    top_proba_fast,
)
from labeling.clustering import nearest_distinct
from labeling.exceptions import EmptyPoolError

KMEANS_SAMPLE = 20_000  # rows k-means is fitted on for a bigger pool (nearest item: whole pool)


@dataclass(frozen=True)
class Selection:
    """The items a strategy picked, most worth labeling first: ``indices`` (distinct int64 rows
    of ``X_pool``), ``scores`` (one float each, the strategy's own measure, higher = more worth
    labeling) and ``strategy`` (its registry name)."""

    indices: np.ndarray
    scores: np.ndarray
    strategy: str


def _top(scores: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` largest scores, largest first (a partial sort, then ``n`` sorted)."""
    if n < len(scores):
        picked = np.argpartition(-scores, n - 1)[:n]
    else:
        picked = np.arange(len(scores))
    return picked[np.argsort(-scores[picked], kind="stable")]


def _selection(indices: np.ndarray, scores: np.ndarray, name: str) -> Selection:
    return Selection(
        indices=np.asarray(indices, dtype=np.int64),
        scores=np.asarray(scores, dtype=np.float64),
        strategy=name,
    )


def kmeans_seed(
    X_pool: np.ndarray, n: int, *, rng: np.random.Generator, sample_size: int = KMEANS_SAMPLE
) -> Selection:
    """A diverse seed set: the pool item nearest each centroid of ``n``-cluster k-means.

    ``MiniBatchKMeans`` is fitted on at most ``sample_size`` random rows (or ``3 * n`` if that is
    more), then every centroid takes the nearest pool item not taken by another.

    Returns
    -------
    Selection
        ``scores`` is the share of the (sampled) pool in the item's cluster, so the items that
        stand for the most prompts come first; ``strategy`` is ``"kmeans_seed"``.
    """
    X, n = _check_request(X_pool, n)
    if n >= len(X):
        return _selection(np.arange(len(X)), np.full(len(X), 1.0 / len(X)), "kmeans_seed")
    size = min(len(X), max(sample_size, 3 * n))
    rows = np.sort(rng.choice(len(X), size, replace=False)) if size < len(X) else slice(None)
    sample = np.asarray(X[rows], dtype=np.float32)
    kmeans = MiniBatchKMeans(
        n_clusters=n, random_state=int(rng.integers(2**31 - 1)), n_init=3,
        batch_size=max(1024, 4 * n),
    ).fit(sample)
    share = np.bincount(kmeans.labels_, minlength=n) / len(sample)
    chosen = nearest_distinct(X, kmeans.cluster_centers_, chunk=DEFAULT_CHUNK)
    order = np.argsort(-share, kind="stable")
    return _selection(chosen[order], share[order], "kmeans_seed")


def _check_request(X_pool: Any, n_instances: Any) -> tuple[np.ndarray, int]:
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
        X, n = _check_request(X_pool, n_instances)
        X_lab, y_lab = _check_labeled(X_labeled, y_labeled, dim=X.shape[1])
        if not isinstance(rng, np.random.Generator):
            raise ValueError("rng must be a numpy.random.Generator (np.random.default_rng(seed))")
        n = min(n, len(X))
        if model is None and self.cold_start_kmeans:
            seed = kmeans_seed(X, n, rng=rng)
            return _selection(seed.indices, seed.scores, self.name)
        if model is not None and not hasattr(model, "classes_"):
            raise ValueError("model must be a fitted classifier (with classes_) or None")
        fast = as_fast(model) if model is not None else None
        return self._query(model=fast, X=X, n=n, X_labeled=X_lab, y_labeled=y_lab, rng=rng)

    @abstractmethod
    def _query(self, *, model: FastProbaClassifier | None, X: np.ndarray, n: int,
               X_labeled: np.ndarray | None, y_labeled: np.ndarray | None,
               rng: np.random.Generator) -> Selection:
        """Pick ``n`` rows of ``X`` (checked request, fitted model or ``None`` for random)."""


class _TopProbabilities:
    """A classifier face whose ``predict_proba`` gives each row's ``k`` largest probabilities
    only: all that modAL's least-confidence (``k=1``) and margin (``k=2``) measures read."""

    def __init__(self, model: FastProbaClassifier, k: int) -> None:
        self.model, self.k = model, k

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return top_proba_fast(self.model.model, X, k=self.k, chunk=self.model.chunk)


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
        scorer = model if self.top_k is None else _TopProbabilities(model, self.top_k)
        found_rows, found_scores = [], []
        for start in range(0, len(X), model.chunk):
            block = X[start : start + model.chunk]
            rows, values = type(self).query(scorer, block, n_instances=min(n, len(block)))
            found_rows.append(np.asarray(rows) + start)
            found_scores.append(self._worth(np.asarray(values, dtype=np.float64)))
        rows, scores = np.concatenate(found_rows), np.concatenate(found_scores)
        best = _top(scores, n)
        return _selection(rows[best], scores[best], self.name)


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


class RandomSampling(QueryStrategy):
    """Uniformly random items: the baseline every other strategy must beat (no cold-start
    k-means: random is random from the first label on)."""

    name = "random"
    cold_start_kmeans = False

    def _query(self, *, model, X, n, X_labeled, y_labeled, rng) -> Selection:  # noqa: ARG002
        rows = rng.choice(len(X), n, replace=False)
        return _selection(rows, np.ones(n), self.name)


class _BatchLearner:
    """What ``modAL.batch.uncertainty_batch_sampling`` reads from a learner, and no more."""

    on_transformed = False

    def __init__(self, model: FastProbaClassifier, X_training: np.ndarray | None) -> None:
        self.confidence = _TopProbabilities(model, 1)  # modAL reads 1 - max probability only
        self.X_training = X_training

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.confidence.predict_proba(X)


class RankedBatch(QueryStrategy):
    """Uncertainty with diversity: ``modAL.batch.uncertainty_batch_sampling`` (Cardoso et al.,
    "Ranked batch-mode active learning", 2017).

    modAL measures, for every pick, the distance from every candidate to every labeled row (and
    to the picks so far), so the work grows as ``n x candidates x labeled``. To keep it bounded
    on a large pool it runs on a prefiltered candidate set, the
    ``max(candidate_factor * n, min_candidates)`` least confident items, and keeps away from a
    random sample of at most ``max_labeled`` labeled rows (2,000 x 1,000 distances per pick by
    default: a batch of 150 takes about 10 s on 2 cores, a batch of 20 about 1 s).
    Scores follow modAL's ranking: ``1`` for the first pick down to ``1 / n``.
    """

    name = "ranked_batch"

    def __init__(
        self, *, candidate_factor: int = 10, min_candidates: int = 2_000, max_labeled: int = 1_000
    ) -> None:
        self.candidate_factor = candidate_factor
        self.min_candidates = min_candidates
        self.max_labeled = max_labeled

    def _query(self, *, model, X, n, X_labeled, y_labeled, rng) -> Selection:  # noqa: ARG002
        labeled = None
        if X_labeled is not None and len(X_labeled):
            keep = min(len(X_labeled), self.max_labeled)
            labeled = np.asarray(X_labeled[np.sort(rng.choice(len(X_labeled), keep, False))],
                                 dtype=np.float32)
        # with no labeled rows modAL compares every candidate with every other: keep that small
        factor = self.candidate_factor if labeled is not None else 1
        wanted = max(factor * n, self.min_candidates)
        confidence = _TopProbabilities(model, 1).predict_proba(X)[:, 0]
        candidates = _top(-confidence, min(len(X), wanted))
        rows, _ = uncertainty_batch_sampling(
            _BatchLearner(model, labeled), np.asarray(X[candidates], dtype=np.float32),
            n_instances=n,
        )
        ranks = np.arange(len(rows), 0, -1) / len(rows)
        return _selection(candidates[np.asarray(rows, dtype=np.int64)], ranks, self.name)


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
        candidates = _top(2.0 * disagree + uncertainty, wanted)
        entropy = vote_entropy(committee, X[candidates])
        best = _top(entropy + 0.01 * uncertainty[candidates], n)
        return _selection(candidates[best], entropy[best], self.name)


STRATEGIES: dict[str, type[QueryStrategy]] = {
    cls.name: cls
    for cls in (LeastConfidence, Margin, Entropy, RankedBatch, QueryByCommittee, RandomSampling)
}


def get_strategy(name: str) -> QueryStrategy:
    """A new strategy registered as ``name``, with its default settings.

    Raises
    ------
    ValueError
        Unknown name; the message lists the valid ones.
    """
    try:
        cls = STRATEGIES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown query strategy {name!r}; valid: {', '.join(STRATEGIES)}"
        ) from None
    return cls()
