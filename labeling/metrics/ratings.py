"""Ratings tables: long-format (item, rater, label) rows, validated and coded as integers once,
for the agreement and aggregation measures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from labeling.exceptions import RatingsError

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

    def subset(self, rows: np.ndarray) -> CodedRatings:
        """The ratings at ``rows`` (a mask or positions) in the same codes: items, raters and
        labels that none of them uses stay, without ratings."""
        return replace(self, item=self.item[rows], rater=self.rater[rows],
                       label=self.label[rows], duplicates_dropped=0)

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
