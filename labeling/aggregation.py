"""Aggregating several raters' labels into one per item.

Pure functions over (item, rater, value) votes; the services load and store. ``majority_vote``
works on (item, value) pairs; the registry ``AGGREGATORS`` holds methods over a long-format
ratings table (``item``, ``rater``, ``label``) that also estimate each rater's accuracy.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from labeling.exceptions import RatingsError

if TYPE_CHECKING:
    from crowdkit.aggregation import DawidSkene


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

    ``votes`` are (item, value) pairs, one per rater judgement.
    """
    by_item: dict[Hashable, Counter[str]] = defaultdict(Counter)
    for item, value in votes:
        by_item[item][value] += 1
    result = {}
    for item, counts in by_item.items():
        ranked = counts.most_common()
        n = sum(counts.values())
        top_value, top_count = ranked[0]
        tie = len(ranked) > 1 and ranked[1][1] == top_count
        result[item] = ItemConsensus(
            value=None if tie else top_value, confidence=top_count / n, n_votes=n, tie=tie,
        )
    return result


# --- Ratings tables: (item, rater, label) rows, validated and coded once ---------------------

RATING_COLUMNS = ("item", "rater", "label")
"""Columns of a long-format ratings table: one row per judgement."""


@dataclass(frozen=True)
class CodedRatings:
    """A validated ratings table as integer codes, one judgement per (rater, item).

    Codes index ``items``, ``raters`` and ``labels``, which are in a canonical order (sorted ids;
    the declared label order, else sorted labels), so the coding does not depend on row order.
    The per-row arrays keep the input's row order (after dropping duplicates).
    """

    item: np.ndarray
    rater: np.ndarray
    label: np.ndarray
    items: np.ndarray
    raters: np.ndarray
    labels: np.ndarray
    duplicates_dropped: int
    """Rows dropped because the same rater had already rated the same item (first kept)."""

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_raters(self) -> int:
        return len(self.raters)

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    def counts(self) -> np.ndarray:
        """Items x labels matrix: how many raters gave each label to each item."""
        flat = np.bincount(self.item * self.n_labels + self.label,
                           minlength=self.n_items * self.n_labels)
        return flat.reshape(self.n_items, self.n_labels)


def _sorted_order(uniques: np.ndarray) -> np.ndarray:
    """Positions of ``uniques`` in sorted order; mixed or unorderable types by (type, repr)."""
    if len({type(u) for u in uniques}) == 1:
        try:
            return np.argsort(uniques, kind="stable")
        except TypeError:  # e.g. tuples holding values that do not compare
            pass
    return np.array(sorted(range(len(uniques)),
                           key=lambda i: (type(uniques[i]).__name__, repr(uniques[i]))),
                    dtype=np.int64)


def _canonical_codes(values: pd.Series, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes for ``values`` numbered in sorted order of the distinct values, so the
    numbering never depends on row order."""
    if values.dtype != object:  # strings or numbers: one type, pandas sorts them
        codes, uniques = pd.factorize(values, sort=True)
        uniques = np.asarray(uniques, dtype=object)
    else:
        codes, uniques = pd.factorize(values)
        uniques = np.asarray(uniques, dtype=object)
        order = _sorted_order(uniques)
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        if len(order):
            codes = np.where(codes >= 0, rank[np.maximum(codes, 0)], -1)
        uniques = uniques[order]
    missing = int((codes < 0).sum())
    if missing:
        raise RatingsError(f"{missing} rating row(s) have no {what}")
    return np.asarray(codes, dtype=np.int64), uniques


def _label_codes(
    values: pd.Series, declared: Sequence[str] | None,
) -> tuple[np.ndarray, np.ndarray]:
    missing = int(values.isna().sum())
    if missing:
        raise RatingsError(f"{missing} rating row(s) have no label")
    if not pd.api.types.is_string_dtype(values):
        values = values.map(str)
    if declared is None:
        return _canonical_codes(values, "label")
    label_set = list(dict.fromkeys(str(v) for v in declared))
    codes = pd.Index(label_set, dtype=object).get_indexer(values.to_numpy(dtype=object))
    if (codes < 0).any():
        unknown = sorted(set(values[codes < 0]))
        raise RatingsError(
            f"label(s) {', '.join(map(repr, unknown))} are not in the label set "
            f"({', '.join(map(repr, label_set))})"
        )
    return codes.astype(np.int64), np.asarray(label_set, dtype=object)


def prepare_ratings(ratings: pd.DataFrame, *, labels: Sequence[str] | None = None) -> CodedRatings:
    """Validate a ratings table and code it as integers.

    Parameters
    ----------
    ratings
        Long format, columns ``item``, ``rater``, ``label``; ids may be any hashable values,
        labels are compared as strings. Other columns are ignored.
    labels
        The full label set, in order; labels nobody used are allowed. Default: the labels used.

    Returns
    -------
    CodedRatings
        Duplicate judgements (same rater, same item) are dropped keeping the first row.

    Raises
    ------
    RatingsError
        Not a DataFrame, a missing column, no rows, a missing id or label, or a label outside
        ``labels``.
    """
    if not isinstance(ratings, pd.DataFrame):
        raise RatingsError(f"ratings must be a pandas DataFrame, not {type(ratings).__name__}")
    absent = [c for c in RATING_COLUMNS if c not in ratings.columns]
    if absent:
        raise RatingsError(
            f"ratings lack column(s) {', '.join(absent)}; columns: "
            f"{', '.join(map(str, ratings.columns)) or 'none'}"
        )
    if ratings.empty:
        raise RatingsError("ratings have no rows")
    item, items = _canonical_codes(ratings["item"], "item")
    rater, raters = _canonical_codes(ratings["rater"], "rater")
    label, label_set = _label_codes(ratings["label"], labels)
    _, first = np.unique(item * len(raters) + rater, return_index=True)
    keep = np.sort(first)
    return CodedRatings(
        item=item[keep], rater=rater[keep], label=label[keep], items=items, raters=raters,
        labels=label_set, duplicates_dropped=len(item) - len(keep),
    )


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


def agreement_rate(coded: CodedRatings, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per rater: how many of their items have a reference label, and the share they match.

    ``reference`` holds a label code per item, ``-1`` where there is none (a tie, no gold).
    """
    ref = reference[coded.item]
    has = ref >= 0
    n = np.bincount(coded.rater[has], minlength=coded.n_raters)
    hits = np.bincount(coded.rater[has & (coded.label == ref)], minlength=coded.n_raters)
    with np.errstate(invalid="ignore", divide="ignore"):
        return n, np.where(n > 0, hits / np.maximum(n, 1), np.nan)


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
        counts = coded.counts()
        top = counts.max(axis=1)
        tie = (counts == top[:, None]).sum(axis=1) > 1
        winner = counts.argmax(axis=1)
        _, accuracy = agreement_rate(coded, np.where(tie, -1, winner))
        return _result(coded, winner, top / counts.sum(axis=1), tie, accuracy)


@dataclass(frozen=True)
class DawidSkeneAggregator(Aggregator):
    """Dawid-Skene EM (crowd-kit): a confusion matrix per rater and a prior over labels.

    Confidence is the largest posterior; two posteriors within ``tie_tol`` are a tie. A rater's
    accuracy is ``sum_k prior_k * P(rater says k | true label k)``. Inputs are sorted by
    (item, rater, label) codes before crowd-kit sees them, so the result does not depend on row
    order and is deterministic.
    """

    n_iter: int = 100
    tol: float = 1e-5
    tie_tol: float = 1e-9

    def aggregate_coded(self, coded: CodedRatings) -> AggregationResult:
        from crowdkit.aggregation import DawidSkene  # heavy import (scipy, nltk): only when used

        order = np.lexsort((coded.label, coded.rater, coded.item))
        data = pd.DataFrame({
            "task": coded.item[order], "worker": coded.rater[order], "label": coded.label[order],
        })
        model = DawidSkene(n_iter=self.n_iter, tol=self.tol)
        with warnings.catch_warnings():  # crowd-kit's own pandas deprecations, not ours to fix
            for category in (FutureWarning, DeprecationWarning):
                warnings.filterwarnings("ignore", category=category, module="crowdkit")
            model.fit(data)
        probas = (model.probas_.reindex(index=np.arange(coded.n_items),
                                        columns=np.arange(coded.n_labels))
                  .fillna(0.0).to_numpy(dtype=float))
        ranked = np.sort(probas, axis=1)
        confidence = ranked[:, -1]
        tie = (ranked[:, -1] - ranked[:, -2] <= self.tie_tol) if coded.n_labels > 1 else (
            np.zeros(coded.n_items, dtype=bool))
        return _result(coded, probas.argmax(axis=1), confidence, tie, _ds_accuracy(model, coded))


def _ds_accuracy(model: DawidSkene, coded: CodedRatings) -> np.ndarray:
    errors = model.errors_
    worker = errors.index.get_level_values("worker").to_numpy(dtype=np.int64)
    said = errors.index.get_level_values("label").to_numpy(dtype=np.int64)
    column = pd.Index(errors.columns.to_numpy(dtype=np.int64)).get_indexer(said)
    correct = errors.to_numpy(dtype=float)[np.arange(len(said)), column]
    prior = model.priors_.reindex(np.arange(coded.n_labels)).fillna(0.0).to_numpy(dtype=float)
    return np.bincount(worker, weights=prior[said] * correct, minlength=coded.n_raters)


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
