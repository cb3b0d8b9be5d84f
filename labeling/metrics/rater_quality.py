"""Label-quality tables for ML leads, from a labels frame (one row per live rater label):
agreement by week, raters against consensus and gold, pairwise kappa, label mix, confusion with
consensus and throughput.

Unsure answers count as work (``labels``, seconds) but not as judgements (agreement, kappa,
accuracy, distribution, confusion). In the confusion table an item whose labels tied counts
under the consensus label ``TIE``. ``labeling.review.quality`` loads the frame and calls these.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from datetime import UTC, date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from labeling.metrics.aggregation import DawidSkeneAggregator, majority
from labeling.metrics.agreement import (
    alpha_coded,
    fleiss_coded,
    gold_accuracy,
    item_agreement_coded,
    pairwise_cohen_coded,
)
from labeling.metrics.ratings import CodedRatings, prepare_ratings

AGREEMENT_BY_WEEK_COLUMNS = ("week", "alpha_nominal", "mean_pairwise_agreement", "n_items")
RATER_COLUMNS = (
    "rater", "labels", "unsure", "median_seconds", "n_compared", "agreement_with_consensus",
    "n_gold", "gold_accuracy", "gold_status", "ds_accuracy", "flagged", "reason",
)
KAPPA_COLUMNS = ("rater_a", "rater_b", "kappa", "n_shared")
DISTRIBUTION_COLUMNS = ("week", "label", "count")
CONFUSION_COLUMNS = ("rater_label", "consensus_label", "count")
TIE = "(tie)"
"""``consensus_label`` of the confusion rows whose item ended in a tie."""
THROUGHPUT_COLUMNS = ("day", "labels", "items_completed")


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def with_days(labels: pd.DataFrame) -> pd.DataFrame:
    """``labels`` (with a ``submitted_at`` column) plus ``day`` and ``week`` (its Monday), as
    UTC dates."""
    days = [moment.astimezone(UTC).date() for moment in labels["submitted_at"]]
    mondays = {day: _monday(day) for day in set(days)}
    labels["day"] = pd.Series(days, dtype=object, index=labels.index)
    labels["week"] = pd.Series([mondays[d] for d in days], dtype=object, index=labels.index)
    return labels


def ratings_of(labels: pd.DataFrame) -> pd.DataFrame:
    """The sure judgements as an (item, rater, label) ratings table."""
    sure = labels[~labels["unsure"].astype(bool)]
    return pd.DataFrame({"item": sure["item_id"].tolist(), "rater": sure["rater"].tolist(),
                         "label": sure["value"].tolist()})


def coded_ratings(ratings: pd.DataFrame, *, labels: Sequence[str]) -> CodedRatings | None:
    """``ratings`` coded once for the report's measures over the label set ``labels`` (which
    must hold every label used), or ``None`` without ratings."""
    return None if ratings.empty else prepare_ratings(ratings, labels=labels)


def _alpha(coded: CodedRatings | None) -> float:
    return math.nan if coded is None or not len(coded.item) else alpha_coded(
        coded, "nominal", None)


def _mean_pairwise(coded: CodedRatings | None) -> tuple[float, int]:
    if coded is None or not len(coded.item):
        return math.nan, 0
    pairwise = item_agreement_coded(coded)["pairwise_agreement"].dropna()
    return (float(pairwise.mean()) if len(pairwise) else math.nan), len(pairwise)


def agreement_by_week(labels: pd.DataFrame, coded: CodedRatings | None) -> pd.DataFrame:
    """Per week: alpha and mean pairwise agreement of the items *completed* that week.

    ``coded`` holds the sure labels of ``labels`` (``coded_ratings``). An item belongs to the
    week of its last sure label in the frame, and all its labels in the frame count there, so
    two labels a few days apart still form a pair. ``n_items`` counts the week's items with at
    least two labels.
    """
    sure = labels[~labels["unsure"].astype(bool)]
    if sure.empty or coded is None:
        return _empty(AGREEMENT_BY_WEEK_COLUMNS)
    weeks = pd.to_datetime(sure["week"])  # a datetime column: max() in pandas' fast path
    cohort = weeks.groupby(sure["item_id"]).max()
    week_of_item = cohort.reindex(pd.Index(coded.items, dtype=object)).to_numpy()
    week_of_rating = week_of_item[coded.item]
    rows = []
    for week in sorted(set(cohort.tolist())):
        ratings = coded.subset(week_of_rating == np.datetime64(week))
        mean, n_items = _mean_pairwise(ratings)
        rows.append({"week": week, "alpha_nominal": _alpha(ratings), "mean_pairwise_agreement":
                     mean, "n_items": n_items})
    frame = pd.DataFrame(rows, columns=list(AGREEMENT_BY_WEEK_COLUMNS))
    frame["week"] = pd.to_datetime(frame["week"])
    return frame


def _indexed(table: pd.DataFrame, names: Mapping[str, str]) -> pd.DataFrame:
    return table.rename(columns=dict(names)).set_index("rater")


def gold_status(n_gold: int, *, min_gold_answers: int) -> str:
    """``judged`` once a rater has ``min_gold_answers`` gold answers, else how far they are."""
    if n_gold >= min_gold_answers:
        return "judged"
    return f"not judged yet ({n_gold} of {min_gold_answers})"


def _reasons(row: Mapping[str, Any], *, agreement_threshold: float,
             gold_accuracy_threshold: float, min_gold_answers: int) -> str:
    reasons = []
    agreement, gold, n_gold = row["agreement_with_consensus"], row["gold_accuracy"], row["n_gold"]
    if pd.notna(agreement) and agreement < agreement_threshold:
        reasons.append(f"agreement with consensus {agreement:.2f} < {agreement_threshold:.2f}")
    if n_gold >= min_gold_answers and pd.notna(gold) and gold < gold_accuracy_threshold:
        reasons.append(f"gold accuracy {gold:.2f} < gold threshold "
                       f"{gold_accuracy_threshold:.2f} ({n_gold} gold answers)")
    return "; ".join(reasons)


def peer_consensus_agreement(
    ratings: pd.DataFrame, decided: Mapping[Hashable, str]
) -> pd.DataFrame:
    """Per rater: agreement with a consensus that leaves the rater's own vote out.

    On an adjudicated item the reference is the reviewer's decision; elsewhere it is the
    majority (``labeling.metrics.aggregation.majority``) of the *other* raters' labels (items
    where they tie, or where nobody else rated, are skipped). Counting the rater's own vote would
    flatter everyone: with two raters and a majority vote, every non-tied item would agree with
    both.
    """
    if ratings.empty:
        return pd.DataFrame(columns=["rater", "n", "agreement"])
    item_code, items = pd.factorize(ratings["item"])
    label_code, labels = pd.factorize(ratings["label"])
    counts = np.zeros((len(items), len(labels)), dtype=np.int64)
    np.add.at(counts, (item_code, label_code), 1)
    others = counts[item_code]
    others[np.arange(len(others)), label_code] -= 1  # leave the rater's own vote out
    reference = majority(others).decided
    position = {label: i for i, label in enumerate(labels)}
    reviewer = np.array([position.get(decided[item], -2) if item in decided else -1
                         for item in items], dtype=np.int64)[item_code]
    reference = np.where(reviewer != -1, reviewer, reference)  # -2: a label no rater gave
    compared = reference != -1
    frame = pd.DataFrame({"rater": ratings["rater"].to_numpy(dtype=object)[compared],
                          "hit": (label_code == reference)[compared]})
    grouped = frame.groupby("rater", sort=False)["hit"]
    return pd.DataFrame({"n": grouped.size(), "agreement": grouped.mean()}).reset_index()[
        ["rater", "n", "agreement"]]


def rater_table(
    labels: pd.DataFrame, consensus: Mapping[Hashable, str], *, agreement_threshold: float,
    gold_accuracy_threshold: float, min_gold_answers: int,
    ds_accuracy: pd.DataFrame | None = None, ratings: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per rater: work done, agreement with consensus, gold and Dawid-Skene accuracy.

    ``consensus`` holds the reviewers' decisions (item -> label); other items are compared with
    the other raters' majority (``peer_consensus_agreement``).

    A rater is ``flagged`` when agreement with consensus is below ``agreement_threshold``, or
    when they have at least ``min_gold_answers`` sure answers on gold items (``n_gold``) and
    their gold accuracy is below ``gold_accuracy_threshold``; ``reason`` says which (NaN never
    flags). With fewer gold answers ``gold_status`` says ``not judged yet (n of min)``.
    ``ds_accuracy`` has columns ``rater``, ``accuracy`` (an ``AggregationResult``'s).
    """
    if labels.empty:
        return _empty(RATER_COLUMNS)
    grouped = labels.groupby("rater")
    table = pd.DataFrame({
        "labels": grouped.size(),
        "unsure": grouped["unsure"].sum().astype(int),
        "median_seconds": grouped["seconds"].median(),
    })
    ratings = ratings_of(labels) if ratings is None else ratings
    gold_rows = labels[labels["gold_label"].notna()]
    gold = {i: g for i, g in zip(gold_rows["item_id"], gold_rows["gold_label"], strict=True)
            if isinstance(g, str)}
    extra = [pd.DataFrame(index=pd.Index([], name="rater"))]
    if not ratings.empty:
        extra = [
            _indexed(peer_consensus_agreement(ratings, consensus),
                     {"n": "n_compared", "agreement": "agreement_with_consensus"}),
            _indexed(gold_accuracy(ratings, gold), {"accuracy": "gold_accuracy"}),
        ]
        if ds_accuracy is not None:
            extra.append(_indexed(ds_accuracy, {"accuracy": "ds_accuracy"}))
    table = table.join(extra, how="left").reset_index(names="rater")
    for column in ("n_compared", "n_gold"):
        table[column] = table.get(column, pd.Series(0, index=table.index)).fillna(0).astype(int)
    for column in ("agreement_with_consensus", "gold_accuracy", "ds_accuracy"):
        table[column] = table.get(column, pd.Series(np.nan, index=table.index)).astype(float)
    table["gold_status"] = [gold_status(n, min_gold_answers=min_gold_answers)
                            for n in table["n_gold"]]
    table["reason"] = [_reasons(row, agreement_threshold=agreement_threshold,
                                gold_accuracy_threshold=gold_accuracy_threshold,
                                min_gold_answers=min_gold_answers)
                       for row in table.to_dict("records")]
    table["flagged"] = table["reason"] != ""
    return table[list(RATER_COLUMNS)].sort_values("rater", ignore_index=True)


def kappa_pairs(coded: CodedRatings | None) -> pd.DataFrame:
    """Cohen's kappa per rater pair (long; one row per unordered pair)."""
    if coded is None:
        return _empty(KAPPA_COLUMNS)
    return pairwise_cohen_coded(coded)[list(KAPPA_COLUMNS)]


def label_distribution(labels: pd.DataFrame) -> pd.DataFrame:
    """Sure labels per week and label."""
    sure = labels[~labels["unsure"].astype(bool)]
    if sure.empty:
        return _empty(DISTRIBUTION_COLUMNS)
    counts = (sure.groupby(["week", "value"]).size().reset_index(name="count")
              .rename(columns={"value": "label"}))
    counts["week"] = pd.to_datetime(counts["week"])
    return counts[list(DISTRIBUTION_COLUMNS)]


def confusion(ratings: pd.DataFrame, consensus: Mapping[Hashable, str | None]) -> pd.DataFrame:
    """Counts of (a rater's label, the item's consensus) over the items in ``consensus``;
    an item mapped to ``None`` (a tie) counts under ``TIE``."""
    if ratings.empty:
        return _empty(CONFUSION_COLUMNS)
    reference = ratings["item"].map(
        lambda item: (consensus[item] or TIE) if item in consensus else None)
    paired = pd.DataFrame({"rater_label": ratings["label"].tolist(),
                           "consensus_label": reference.tolist()}).dropna()
    if paired.empty:
        return _empty(CONFUSION_COLUMNS)
    return (paired.groupby(["rater_label", "consensus_label"]).size().reset_index(name="count")
            [list(CONFUSION_COLUMNS)])


def throughput(*, labeled_days: Iterable[date], completed_days: Iterable[date],
               start: date | None, end: date | None, today: date) -> pd.DataFrame:
    """Per UTC day: live rater labels submitted (``labeled_days``, one date per label, unsure
    ones included) and items completed (``completed_days``, one date per item whose ``k``-th
    rater's label came that day), with the quiet days of the range (capped at ``today``)
    filled with 0."""
    labels, completed = Counter(labeled_days), Counter(completed_days)
    active = set(labels) | set(completed)
    if not active:
        return _empty(THROUGHPUT_COLUMNS)
    first = start or min(active)
    last = max(min(end or today, today), max(active))
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    frame = pd.DataFrame({
        "day": pd.to_datetime(days),
        "labels": [labels.get(d, 0) for d in days],
        "items_completed": [completed.get(d, 0) for d in days],
    })
    return frame[list(THROUGHPUT_COLUMNS)]


def rater_accuracy_ds(coded: CodedRatings | None) -> pd.DataFrame | None:
    """Each rater's accuracy as Dawid-Skene estimates it (``None`` without ratings)."""
    if coded is None:
        return None
    return DawidSkeneAggregator().aggregate_coded(coded).rater_accuracy


def overall(coded: CodedRatings | None, *, ordinal_order: Sequence[str] | None
            ) -> dict[str, Any]:
    """Alpha (nominal, and ordinal along ``ordinal_order`` if given), Fleiss' kappa and the
    mean pairwise agreement of one coded ratings table (NaN where undefined)."""
    mean, _ = _mean_pairwise(coded)
    ordinal = None
    if ordinal_order is not None and coded is not None:
        ordinal = alpha_coded(coded, "ordinal", list(ordinal_order))
    return {
        "alpha_nominal": _alpha(coded), "alpha_ordinal": ordinal,
        "fleiss_kappa": fleiss_coded(coded).kappa if coded is not None else math.nan,
        "mean_pairwise_agreement": mean,
    }
