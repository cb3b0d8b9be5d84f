"""Query strategies: which unlabeled prompts to label next, from precomputed embeddings.

Every strategy wraps modAL's query functions or measures (``modAL.uncertainty``,
``modAL.batch``, ``modAL.disagreement``) applied to a fitted classifier; none uses modAL's
``ActiveLearner`` or ``Committee`` fitting (broken with scikit-learn >= 1.8). Probabilities come
from ``predict_proba_fast`` (float32, chunked), so a batch is picked from a million embeddings
with one matrix product per chunk and a partial sort.

With no model yet (``model=None``, a cold start) every strategy but ``random`` picks a diverse
seed set with ``kmeans_seed``.

Use ``get_strategy(name)``; ``STRATEGIES`` maps each name to its class. A new strategy is a
subclass of ``QueryStrategy`` in a module here, added to ``STRATEGIES``.
"""

from __future__ import annotations

from labeling.ml.strategies.base import QueryStrategy
from labeling.ml.strategies.baseline import RandomSampling
from labeling.ml.strategies.committee import BootstrapCommittee, QueryByCommittee
from labeling.ml.strategies.ranked_batch import RankedBatch
from labeling.ml.strategies.seeding import kmeans_seed
from labeling.ml.strategies.selection import Selection
from labeling.ml.strategies.uncertainty import Entropy, LeastConfidence, Margin

__all__ = [
    "STRATEGIES", "BootstrapCommittee", "Entropy", "LeastConfidence", "Margin",
    "QueryByCommittee", "QueryStrategy", "RandomSampling", "RankedBatch", "Selection",
    "get_strategy", "kmeans_seed",
]

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
