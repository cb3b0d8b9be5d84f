"""Aggregating several raters' labels into one per item.

Pure functions over votes; the services load and store. ``majority`` is the one majority vote
(ties reported, never broken) over a counts matrix: the ``majority`` aggregator, the
``majority_vote`` of (item, value) pairs and the rater-quality measures all call it. The
registry ``AGGREGATORS`` holds methods over a long-format ratings table (``item``, ``rater``,
``label``) that also estimate each rater's accuracy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from labeling.metrics.dawid_skene import fit_dawid_skene
from labeling.metrics.ratings import CodedRatings, agreement_rate, prepare_ratings


@dataclass(frozen=True)
class Majority:
    """Per row of a counts matrix (items x labels): the majority and whether it is a tie."""

    winner: np.ndarray
    """Column of the largest count (on a tie, the first tied column: read ``tie`` first)."""
    share: np.ndarray
    """The largest count's share of the row's votes (NaN for a row without votes)."""
    tie: np.ndarray
    """Two or more columns share the largest count (never broken silently)."""
    total: np.ndarray
    """Votes in the row."""

    @property
    def decided(self) -> np.ndarray:
        """The winner where there is one, ``-1`` for a tie or a row without votes."""
        return np.where(self.tie | (self.total == 0), -1, self.winner)


def majority(counts: np.ndarray) -> Majority:
    """The majority of each row of ``counts`` (rows: items, columns: labels, cells: votes)."""
    counts = np.asarray(counts)
    top = counts.max(axis=1)
    total = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, top / np.maximum(total, 1), np.nan)
    return Majority(winner=counts.argmax(axis=1).astype(np.int64), share=share.astype(float),
                    tie=(counts == top[:, None]).sum(axis=1) > 1, total=total.astype(np.int64))


@dataclass(frozen=True)
class ItemConsensus:
    value: str | None
    """The winning label, or ``None`` for a tie (never broken silently)."""
    confidence: float
    """Share of the votes for the winner (for a tie: the tied share)."""
    n_votes: int
    tie: bool


def majority_vote(votes: Iterable[tuple[Hashable, str]]) -> dict[Hashable, ItemConsensus]:
    """Per item, the label most raters chose; ties are reported as ties.

    ``votes`` are (item, value) pairs, one per judgement (no rater needed: imported labels).
    """
    pairs = list(votes)
    if not pairs:
        return {}
    item_code, items = pd.factorize(pd.Series([item for item, _ in pairs], dtype=object))
    value_code, values = pd.factorize(pd.Series([value for _, value in pairs], dtype=object))
    counts = np.zeros((len(items), len(values)), dtype=np.int64)
    np.add.at(counts, (item_code, value_code), 1)
    result = majority(counts)
    return {
        item: ItemConsensus(
            value=None if result.tie[i] else str(values[result.winner[i]]),
            confidence=float(result.share[i]), n_votes=int(result.total[i]),
            tie=bool(result.tie[i]),
        )
        for i, item in enumerate(items)
    }


# --- Aggregators: a registry of methods giving per-item consensus and per-rater accuracy -----

@dataclass(frozen=True)
class AggregationResult:
    """Per-item consensus and per-rater estimated accuracy.

    ``items`` has columns ``item``, ``label`` (``None`` for a tie), ``confidence``,
    ``n_ratings``, ``tie``, one row per item in sorted item order. ``rater_accuracy`` has
    columns ``rater``, ``accuracy`` (NaN where it cannot be estimated).
    """

    items: pd.DataFrame
    rater_accuracy: pd.DataFrame


def _result(
    coded: CodedRatings, winner: np.ndarray, confidence: np.ndarray, tie: np.ndarray,
    accuracy: np.ndarray,
) -> AggregationResult:
    label = np.where(tie, None, coded.labels[winner]).astype(object)
    items = pd.DataFrame({
        "item": pd.Series(coded.items, dtype=object),
        "label": pd.Series(label, dtype=object),
        "confidence": confidence.astype(float),
        "n_ratings": np.bincount(coded.item, minlength=coded.n_items),
        "tie": tie.astype(bool),
    })
    raters = pd.DataFrame({"rater": pd.Series(coded.raters, dtype=object), "accuracy": accuracy})
    return AggregationResult(items=items, rater_accuracy=raters)


class Aggregator(ABC):
    """A method that turns several raters' labels into one per item."""

    def aggregate(self, ratings: pd.DataFrame) -> AggregationResult:
        """Aggregate a ratings table (columns ``item``, ``rater``, ``label``)."""
        return self.aggregate_coded(prepare_ratings(ratings))

    @abstractmethod
    def aggregate_coded(self, coded: CodedRatings) -> AggregationResult:
        """Aggregate an already validated table (see ``prepare_ratings``)."""


class MajorityAggregator(Aggregator):
    """The label most raters chose. A tie gives label ``None`` and ``tie=True``, never a pick.

    Confidence is the winner's share of the item's ratings (for a tie, the tied share). A rater's
    accuracy is their agreement with the majority over the items that have no tie.
    """

    def aggregate_coded(self, coded: CodedRatings) -> AggregationResult:
        result = majority(coded.counts())
        _, accuracy = agreement_rate(coded, result.decided)
        return _result(coded, result.winner, result.share, result.tie, accuracy)


@dataclass(frozen=True)
class DawidSkeneAggregator(Aggregator):
    """Dawid-Skene EM: a confusion matrix per rater and a prior over labels
    (``labeling.metrics.dawid_skene``, crowd-kit's algorithm in numpy, checked against it).

    Confidence is the largest posterior; two posteriors within ``tie_tol`` are a tie. A rater's
    accuracy is ``sum_k prior_k * P(rater says k | true label k)``. The fit works on codes in
    canonical order, so the result does not depend on row order and is deterministic.
    """

    n_iter: int = 100
    tol: float = 1e-5
    tie_tol: float = 1e-9

    def aggregate_coded(self, coded: CodedRatings) -> AggregationResult:
        fit = fit_dawid_skene(coded.item, coded.rater, coded.label, n_items=coded.n_items,
                              n_raters=coded.n_raters, n_labels=coded.n_labels,
                              n_iter=self.n_iter, tol=self.tol)
        probas = fit.posteriors
        ranked = np.sort(probas, axis=1)
        confidence = ranked[:, -1]
        tie = (ranked[:, -1] - ranked[:, -2] <= self.tie_tol) if coded.n_labels > 1 else (
            np.zeros(coded.n_items, dtype=bool))
        return _result(coded, probas.argmax(axis=1), confidence, tie, fit.rater_accuracy())


AGGREGATORS: dict[str, type[Aggregator]] = {
    "majority": MajorityAggregator,
    "dawid_skene": DawidSkeneAggregator,
}


def get_aggregator(name: str, **options: Any) -> Aggregator:
    """The aggregator registered as ``name``, built with ``options`` (e.g. ``n_iter=50``).

    Raises
    ------
    ValueError
        ``name`` is not registered; the message lists the valid names.
    """
    try:
        cls = AGGREGATORS[name]
    except KeyError:
        raise ValueError(
            f"unknown aggregation method {name!r}; valid: {', '.join(sorted(AGGREGATORS))}"
        ) from None
    return cls(**options)
