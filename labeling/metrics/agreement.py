"""Inter-rater agreement over a long-format ratings table (columns ``item``, ``rater``, ``label``).

Pure functions: a table in, numbers and frames out. Every public function validates its table
with ``prepare_ratings`` (one judgement per rater per item: a repeat is dropped, keeping the
first row), so raters who skipped items, items rated once and labels nobody used are all fine.
Fleiss' kappa comes from statsmodels and Krippendorff's alpha from ``krippendorff``; this
module only decides which ratings each sees. Cohen's kappa is scikit-learn's unweighted
``cohen_kappa_score`` formula applied to every rater pair at once (one sparse product gives all
the confusion matrices): calling scikit-learn per pair costs about 1 ms of input checks a pair,
most of the 2 s budget for 40 raters. The tests and ``bench.agreement_speed`` check it against
``cohen_kappa_score`` itself.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import krippendorff
import numpy as np
import pandas as pd
from scipy import sparse
from statsmodels.stats.inter_rater import fleiss_kappa

from labeling.exceptions import RatingsError
from labeling.metrics.aggregation import DawidSkeneAggregator, majority
from labeling.metrics.ratings import CodedRatings, agreement_rate, prepare_ratings

LEVELS = ("nominal", "ordinal")
"""Levels of measurement ``krippendorff_alpha`` accepts."""


@dataclass(frozen=True)
class FleissResult:
    kappa: float
    """Fleiss' kappa, NaN when no item has two ratings or only one label was used."""
    n_items: int
    """Items that entered the computation."""
    raters_per_item: int
    """Ratings each of those items contributed."""
    method: str
    """How the items and ratings were chosen, as a sentence for the reader."""


def _reference(coded: CodedRatings, mapping: Mapping[Hashable, Any]) -> np.ndarray:
    """Label code per item from ``mapping`` (item -> label); ``-1`` where missing or ``None``.

    A label outside the label set gets a code no rating has, so it counts but never matches.
    """
    position = {item: i for i, item in enumerate(coded.items)}
    code = {label: i for i, label in enumerate(coded.labels)}
    out = np.full(coded.n_items, -1, dtype=np.int64)
    for item, label in mapping.items():
        i = position.get(item)
        if i is None or (pd.api.types.is_scalar(label) and pd.isna(label)):
            continue
        out[i] = code.get(str(label), coded.n_labels)
    return out


def _rank_in_item(coded: CodedRatings) -> np.ndarray:
    """Per row, its position among its item's rows in row order (0 for the first)."""
    order = np.argsort(coded.item, kind="stable")
    sorted_items = coded.item[order]
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - np.searchsorted(sorted_items, sorted_items, "left")
    return rank


# --- Cohen's kappa per rater pair -----------------------------------------------------------

def pairwise_cohen_coded(coded: CodedRatings) -> pd.DataFrame:
    """Every pair's confusion counts from one sparse product of the (rater, label) x item
    indicator matrix with its transpose, then scikit-learn's unweighted kappa formula:
    ``1 - sum(w * C) / sum(w * E)``, ``E = outer(col sums, row sums) / n``, ``w = 1 - I``.
    """
    n_labels, n_raters = coded.n_labels, coded.n_raters
    first, second = np.triu_indices(n_raters, k=1)
    indicator = sparse.csr_matrix(
        (np.ones(len(coded.item)), (coded.rater * n_labels + coded.label, coded.item)),
        shape=(n_raters * n_labels, coded.n_items))
    product = (indicator @ indicator.T).tocoo()
    (a, i), (b, j) = np.divmod(product.row, n_labels), np.divmod(product.col, n_labels)
    keep = a < b
    a, b, i, j, count = a[keep], b[keep], i[keep], j[keep], np.rint(product.data[keep])
    present, slot = np.unique(a * n_raters - a * (a + 1) // 2 + b - a - 1, return_inverse=True)
    n, agree, chance = (np.zeros(len(first)) for _ in range(3))
    n[present] = np.bincount(slot, weights=count)
    agree[present] = np.bincount(slot, weights=count * (i == j), minlength=len(present))
    size = len(present) * n_labels
    row = np.bincount(slot * n_labels + i, weights=count, minlength=size).reshape(-1, n_labels)
    col = np.bincount(slot * n_labels + j, weights=count, minlength=size).reshape(-1, n_labels)
    chance[present] = (row * col).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = (n * n - chance) / n  # chance disagreement, times n
        kappa = np.where((n >= 2) & (expected > 0), 1 - (n - agree) / expected, np.nan)
    return pd.DataFrame({
        "rater_a": pd.Series(coded.raters[first], dtype=object),
        "rater_b": pd.Series(coded.raters[second], dtype=object),
        "n_shared": n.astype(np.int64),
        "kappa": kappa,
    })


def pairwise_cohen(ratings: pd.DataFrame, *, labels: Sequence[str] | None = None) -> pd.DataFrame:
    """Cohen's kappa for every pair of raters, on the items both rated.

    Parameters
    ----------
    ratings
        Columns ``item``, ``rater``, ``label``.
    labels
        The full label set (labels nobody used are fine); default: the labels used.

    Returns
    -------
    pandas.DataFrame
        Columns ``rater_a``, ``rater_b`` (``rater_a`` sorts first), ``n_shared``, ``kappa``:
        one row per unordered pair. ``kappa`` equals ``sklearn.metrics.cohen_kappa_score`` on
        the shared items; NaN with fewer than two shared items or where kappa is undefined
        (both raters gave one and the same label throughout).
    """
    return pairwise_cohen_coded(prepare_ratings(ratings, labels=labels))


def kappa_matrix(pairwise: pd.DataFrame) -> pd.DataFrame:
    """The symmetric raters x raters matrix of a ``pairwise_cohen`` result (diagonal 1.0)."""
    missing = [c for c in ("rater_a", "rater_b", "kappa") if c not in pairwise.columns]
    if missing:
        raise RatingsError(f"pairwise table lacks column(s) {', '.join(missing)}")
    a = pairwise["rater_a"].tolist()
    b = pairwise["rater_b"].tolist()
    raters = list(dict.fromkeys(a + b))
    position = {rater: i for i, rater in enumerate(raters)}
    values = np.full((len(raters), len(raters)), np.nan)
    np.fill_diagonal(values, 1.0)
    rows = np.array([position[r] for r in a], dtype=np.int64)
    cols = np.array([position[r] for r in b], dtype=np.int64)
    kappa = pairwise["kappa"].to_numpy(dtype=float)
    values[rows, cols] = kappa
    values[cols, rows] = kappa
    index = pd.Index(raters, dtype=object)
    return pd.DataFrame(values, index=index, columns=index)


# --- Fleiss' kappa --------------------------------------------------------------------------

def fleiss_coded(coded: CodedRatings) -> FleissResult:
    n_ratings = np.bincount(coded.item, minlength=coded.n_items)
    multi = n_ratings >= 2
    if not multi.any():
        return FleissResult(math.nan, 0, 0, "Fleiss' kappa: no item has two ratings.")
    m = int(n_ratings[multi].min())
    chosen = multi[coded.item] & (_rank_in_item(coded) < m)
    table = np.bincount(coded.item[chosen] * coded.n_labels + coded.label[chosen],
                        minlength=coded.n_items * coded.n_labels).reshape(coded.n_items, -1)
    table = table[multi]
    n_items = len(table)
    method = (
        f"Fleiss' kappa (statsmodels, method 'fleiss') over the {n_items} items with at least "
        f"two ratings, each contributing its first {m} ratings in row order ({m} being the "
        "fewest ratings any such item has), after repeat ratings (same rater, same item) were "
        "dropped keeping the first; items rated once are left out."
    )
    if (table.sum(axis=0) > 0).sum() < 2:  # one label only: chance agreement is 1, kappa 0/0
        return FleissResult(math.nan, n_items, m, method)
    return FleissResult(float(fleiss_kappa(table, method="fleiss")), n_items, m, method)


def fleiss(ratings: pd.DataFrame, *, labels: Sequence[str] | None = None) -> FleissResult:
    """Fleiss' kappa. statsmodels needs the same number of ratings per item, so each item
    with at least two ratings contributes its first ``m`` ratings in row order, ``m`` being the
    fewest ratings any such item has (2 as soon as one item has exactly two); ``method`` states
    this with the numbers.
    """
    return fleiss_coded(prepare_ratings(ratings, labels=labels))


# --- Krippendorff's alpha -------------------------------------------------------------------

def _ranks(coded: CodedRatings, order: Sequence[str]) -> np.ndarray:
    """Per label code, the label's position in ``order``; unknown used labels raise."""
    ordered = [str(v) for v in order]
    if len(set(ordered)) != len(ordered):
        raise RatingsError(f"the ordinal order repeats a label: {ordered}")
    position = {label: i for i, label in enumerate(ordered)}
    used = coded.labels[np.unique(coded.label)]
    unknown = [str(label) for label in used if label not in position]
    if unknown:
        raise RatingsError(
            f"label(s) {', '.join(map(repr, unknown))} are not in the ordinal order "
            f"({', '.join(map(repr, ordered))})"
        )
    return np.array([position.get(label, -1) for label in coded.labels], dtype=np.int64)


def alpha_coded(coded: CodedRatings, level: str, order: Sequence[str] | None) -> float:
    """``krippendorff_alpha`` of already coded ratings."""
    if level not in LEVELS:
        raise RatingsError(f"unknown level {level!r}; valid: {', '.join(LEVELS)}")
    if level == "ordinal":
        if order is None:
            raise RatingsError("ordinal alpha needs the label order (order=[...])")
        values, domain = _ranks(coded, order)[coded.label], np.arange(len(order))
    else:
        values, domain = coded.label, np.arange(coded.n_labels)
    pairable = np.bincount(coded.item, minlength=coded.n_items)[coded.item] >= 2
    if len(np.unique(values[pairable])) < 2:  # no pair, or one value only: alpha is 0/0
        return math.nan
    # krippendorff's own input: per item, how many ratings took each value (items rated
    # fewer than twice add nothing to its coincidences, so only pairable items are passed)
    counts = np.bincount(coded.item * len(domain) + values,
                         minlength=coded.n_items * len(domain)).reshape(coded.n_items, -1)
    counts = counts[counts.sum(axis=1) >= 2]
    return float(krippendorff.alpha(value_counts=counts, value_domain=domain,
                                     level_of_measurement=level))


def krippendorff_alpha(
    ratings: pd.DataFrame,
    *,
    level: Literal["nominal", "ordinal"] = "nominal",
    order: Sequence[str] | None = None,
) -> float:
    """Krippendorff's alpha over the raters x items matrix (missing ratings are NaN).

    Parameters
    ----------
    level
        ``"nominal"`` or ``"ordinal"``.
    order
        For ``"ordinal"`` (required): the labels from one end of the scale to the other, e.g.
        ``["1", "0", "-1", "-2", "-3"]``; each label is replaced by its position. Ignored for
        ``"nominal"``.

    Returns
    -------
    float
        NaN when no item has two ratings or those ratings use a single value. Items rated once
        do not count (alpha pairs ratings within an item).

    Raises
    ------
    RatingsError
        (a ``ValueError``) an unknown level, no order for ordinal, or a used label outside it.
    """
    return alpha_coded(prepare_ratings(ratings), level, order)


# --- Per item and per rater -----------------------------------------------------------------

def item_agreement_coded(coded: CodedRatings) -> pd.DataFrame:
    counts = coded.counts()
    n = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):  # items rated once: 0/0, then NaN
        pairwise = np.where(n >= 2, (counts * (counts - 1)).sum(axis=1) / (n * (n - 1)), np.nan)
    return pd.DataFrame({
        "item": pd.Series(coded.items, dtype=object),
        "n_ratings": n,
        "majority_share": majority(counts).share,
        "pairwise_agreement": pairwise,
    })


def item_agreement(ratings: pd.DataFrame) -> pd.DataFrame:
    """Per item: ``n_ratings``, ``majority_share`` (share of its ratings for the most chosen
    label) and ``pairwise_agreement`` (share of its rater pairs that agree; NaN if rated once).
    """
    return item_agreement_coded(prepare_ratings(ratings))


def _rate_frame(coded: CodedRatings, reference: np.ndarray, n_col: str, rate_col: str
                ) -> pd.DataFrame:
    n, rate = agreement_rate(coded, reference)
    return pd.DataFrame({"rater": pd.Series(coded.raters, dtype=object), n_col: n,
                         rate_col: rate})


def rater_vs_consensus(ratings: pd.DataFrame, consensus: Mapping[Hashable, Any]) -> pd.DataFrame:
    """Each rater's agreement with a consensus label per item (item -> label, ``None`` = tie).

    Items whose consensus is ``None`` or NaN are skipped. Columns ``rater``, ``n`` (items
    compared), ``agreement`` (NaN where ``n`` is 0). The consensus usually includes the rater's
    own vote, which flatters raters of items with few ratings.
    """
    coded = prepare_ratings(ratings)
    return _rate_frame(coded, _reference(coded, consensus), "n", "agreement")


def gold_accuracy(ratings: pd.DataFrame, gold: Mapping[Hashable, Any]) -> pd.DataFrame:
    """Each rater's accuracy on the items with a gold label (item -> label).

    Columns ``rater``, ``n_gold`` (gold items they rated), ``accuracy`` (NaN where 0).
    """
    coded = prepare_ratings(ratings)
    return _rate_frame(coded, _reference(coded, gold), "n_gold", "accuracy")


# --- The whole report -----------------------------------------------------------------------

def _jsonable(value: Any) -> Any:
    """A JSON-ready copy: NaN and infinities become ``None``, NumPy scalars Python ones."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


def _per_rater(coded: CodedRatings, majority_accuracy: np.ndarray, majority_n: np.ndarray,
               ds_accuracy: np.ndarray, gold: Mapping[Hashable, Any] | None) -> list[dict]:
    counts = np.bincount(coded.rater * coded.n_labels + coded.label,
                         minlength=coded.n_raters * coded.n_labels).reshape(coded.n_raters, -1)
    gold_n, gold_acc = (agreement_rate(coded, _reference(coded, gold)) if gold is not None
                        else (None, None))
    rows = []
    for r, rater in enumerate(coded.raters):
        row = {
            "rater": rater,
            "n_ratings": int(counts[r].sum()),
            "label_counts": dict(zip(coded.labels.tolist(), counts[r].tolist(), strict=True)),
            "n_majority_items": int(majority_n[r]),
            "agreement_with_majority": majority_accuracy[r],
            "dawid_skene_accuracy": ds_accuracy[r],
        }
        if gold_n is not None:
            row["n_gold"] = int(gold_n[r])
            row["gold_accuracy"] = gold_acc[r]
        rows.append(row)
    return rows


def agreement_report(
    ratings: pd.DataFrame,
    *,
    labels: Sequence[str] | None = None,
    ordinal_order: Sequence[str] | None = None,
    gold: Mapping[Hashable, Any] | None = None,
) -> dict[str, Any]:
    """Every agreement figure and both aggregations of one ratings table, JSON-ready.

    Keys: ``n_ratings`` (after dropping repeats), ``n_items``, ``n_raters``, ``labels``,
    ``duplicates_dropped``, ``fleiss``, ``krippendorff_alpha`` (``nominal``, ``ordinal`` or
    ``None`` without ``ordinal_order``), ``pairwise_cohen``, ``per_rater`` (label counts,
    agreement with the majority over its non-tied items, Dawid-Skene accuracy, gold accuracy
    when ``gold`` is given), ``items`` (single-rater count, mean pairwise agreement),
    ``majority`` (``n_ties``) and ``dawid_skene`` (``consensus``: item, label, confidence).
    NaN becomes ``None``.
    """
    coded = prepare_ratings(ratings, labels=labels)
    votes = majority(coded.counts())
    majority_n, majority_acc = agreement_rate(coded, votes.decided)
    dawid_skene = DawidSkeneAggregator().aggregate_coded(coded)
    items = item_agreement_coded(coded)
    pairwise = pairwise_cohen_coded(coded)
    consensus = dawid_skene.items
    report = {
        "n_ratings": len(coded.item),
        "n_items": coded.n_items,
        "n_raters": coded.n_raters,
        "labels": coded.labels.tolist(),
        "duplicates_dropped": coded.duplicates_dropped,
        "fleiss": asdict(fleiss_coded(coded)),
        "krippendorff_alpha": {
            "nominal": alpha_coded(coded, "nominal", None),
            "ordinal": (None if ordinal_order is None
                        else alpha_coded(coded, "ordinal", ordinal_order)),
        },
        "pairwise_cohen": pairwise.to_dict(orient="records"),
        "per_rater": _per_rater(coded, majority_acc, majority_n,
                                dawid_skene.rater_accuracy["accuracy"].to_numpy(), gold),
        "items": {
            "n_single_rater": int((items["n_ratings"] == 1).sum()),
            "mean_pairwise_agreement": float(items["pairwise_agreement"].mean()),
            "mean_majority_share": float(items["majority_share"].mean()),
        },
        "majority": {"n_ties": int(votes.tie.sum())},
        "dawid_skene": {
            "n_ties": int(consensus["tie"].sum()),
            "consensus": [
                {"item": item, "label": label, "confidence": confidence}
                for item, label, confidence in zip(
                    consensus["item"].tolist(), consensus["label"].tolist(),
                    consensus["confidence"].tolist(), strict=True)
            ],
        },
    }
    return _jsonable(report)
