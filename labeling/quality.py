"""Label quality for ML leads: agreement over time, raters against consensus and gold,
pairwise kappa, label mix, confusion with consensus and queue throughput.

``quality_report`` is the service: it brings the task's consensus up to date, loads the rater
labels of a range of UTC days and hands them to the pure functions below, which turn a labels
frame (one row per live rater label) into the report's tables.

Which labels count: live rater labels (source ``rater``, not superseded) submitted in the range.
Unsure answers count as work (``labels``, throughput, seconds) but not as judgements (agreement,
kappa, accuracy, distribution, confusion). Consensus is the stored one, for items that have a
value (not a tie) and either at least two labels or a reviewer's decision; it includes the
rater's own vote, which flatters raters of items with few labels. In the confusion table an
item whose labels tied counts under the consensus label ``TIE``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from labeling.aggregation import get_aggregator
from labeling.agreement import (
    fleiss,
    gold_accuracy,
    item_agreement,
    krippendorff_alpha,
    pairwise_cohen,
)
from labeling.consensus import recompute
from labeling.exceptions import LabelingError
from labeling.tasks import get_task
from storage.db import session_scope
from storage.models import Task
from storage.repositories import quality as quality_repo

AGREEMENT_BY_WEEK_COLUMNS = ("week", "alpha_nominal", "mean_pairwise_agreement", "n_items")
RATER_COLUMNS = (
    "rater", "labels", "unsure", "median_seconds", "n_compared", "agreement_with_consensus",
    "n_gold", "gold_accuracy", "ds_accuracy", "flagged", "reason",
)
KAPPA_COLUMNS = ("rater_a", "rater_b", "kappa", "n_shared")
DISTRIBUTION_COLUMNS = ("week", "label", "count")
CONFUSION_COLUMNS = ("rater_label", "consensus_label", "count")
TIE = "(tie)"
"""``consensus_label`` of the confusion rows whose item ended in a tie."""
THROUGHPUT_COLUMNS = ("day", "labels", "items_completed")


@dataclass(frozen=True, eq=False)
class QualityReport:
    """The quality of one task's labels over a range of UTC days (``None``: open-ended)."""

    task: str
    start: date | None
    end: date | None
    labels: tuple[str, ...]
    """The task's label set, in its order (for chart axes)."""
    agreement_threshold: float
    confidence_threshold: float
    n_labels: int
    """Live rater labels in range, unsure ones included."""
    n_raters: int
    n_items: int
    """Items with at least one label in range."""
    alpha_nominal: float
    alpha_ordinal: float | None
    """Only for ordered tasks (the label set's order is the scale)."""
    fleiss_kappa: float
    mean_pairwise_agreement: float
    waiting_for_adjudication: int
    """Items waiting for a reviewer now, whatever the range."""
    agreement_by_week: pd.DataFrame
    raters: pd.DataFrame
    kappa_pairs: pd.DataFrame
    label_distribution: pd.DataFrame
    confusion: pd.DataFrame
    throughput: pd.DataFrame

    @property
    def empty(self) -> bool:
        return self.n_labels == 0

    @property
    def n_flagged(self) -> int:
        return int(self.raters["flagged"].sum()) if not self.raters.empty else 0

    def tables(self) -> dict[str, pd.DataFrame]:
        """The downloadable tables by name."""
        return {"agreement_by_week": self.agreement_by_week, "raters": self.raters,
                "kappa_pairs": self.kappa_pairs, "label_distribution": self.label_distribution,
                "confusion": self.confusion, "throughput": self.throughput}


# --- pure functions over a labels frame -------------------------------------------------------

def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def labels_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Repository rows as a frame with ``day`` and ``week`` (Monday) as UTC dates."""
    frame = pd.DataFrame(rows, columns=list(quality_repo.RATER_LABEL_COLUMNS))
    days = [moment.astimezone(UTC).date() for moment in frame["submitted_at"]]
    frame["day"] = pd.Series(days, dtype=object, index=frame.index)
    frame["week"] = pd.Series([_monday(d) for d in days], dtype=object, index=frame.index)
    return frame


def ratings_of(labels: pd.DataFrame) -> pd.DataFrame:
    """The sure judgements as an (item, rater, label) ratings table."""
    sure = labels[~labels["unsure"].astype(bool)]
    return pd.DataFrame({"item": sure["item_id"].tolist(), "rater": sure["rater"].tolist(),
                         "label": sure["value"].tolist()})


def consensus_reference(rows: list[dict[str, Any]]) -> dict[int, str]:
    """Item -> consensus value for items with a value and two labels or a reviewer's word."""
    return {r["item_id"]: r["value"] for r in rows
            if r["value"] is not None and (r["method"] == "adjudicated" or r["n_labels"] >= 2)}


def tied_items(rows: list[dict[str, Any]]) -> set[int]:
    """Items whose two or more labels ended in a tie (no consensus value, no decision yet)."""
    return {r["item_id"] for r in rows if r["value"] is None and r["n_labels"] >= 2}


def _alpha(ratings: pd.DataFrame, **options: Any) -> float:
    return krippendorff_alpha(ratings, **options) if not ratings.empty else math.nan


def _mean_pairwise(ratings: pd.DataFrame) -> tuple[float, int]:
    if ratings.empty:
        return math.nan, 0
    pairwise = item_agreement(ratings)["pairwise_agreement"].dropna()
    return (float(pairwise.mean()) if len(pairwise) else math.nan), len(pairwise)


def agreement_by_week(labels: pd.DataFrame) -> pd.DataFrame:
    """Per week: alpha and mean pairwise agreement of the items *completed* that week.

    An item belongs to the week of its last sure label in the frame, and all its labels in the
    frame count there, so two labels a few days apart still form a pair. ``n_items`` counts the
    week's items with at least two labels.
    """
    sure = labels[~labels["unsure"].astype(bool)]
    if sure.empty:
        return _empty(AGREEMENT_BY_WEEK_COLUMNS)
    cohort = sure.groupby("item_id")["week"].max()
    week_of = sure["item_id"].map(cohort)
    rows = []
    for week in sorted(set(cohort.tolist())):
        ratings = ratings_of(sure[week_of == week])
        mean, n_items = _mean_pairwise(ratings)
        rows.append({"week": week, "alpha_nominal": _alpha(ratings), "mean_pairwise_agreement":
                     mean, "n_items": n_items})
    frame = pd.DataFrame(rows, columns=list(AGREEMENT_BY_WEEK_COLUMNS))
    frame["week"] = pd.to_datetime(frame["week"])
    return frame


def _indexed(table: pd.DataFrame, names: Mapping[str, str]) -> pd.DataFrame:
    return table.rename(columns=dict(names)).set_index("rater")


def _reasons(row: Mapping[str, Any], agreement_threshold: float,
             accuracy_threshold: float) -> str:
    reasons = []
    agreement, gold = row["agreement_with_consensus"], row["gold_accuracy"]
    if pd.notna(agreement) and agreement < agreement_threshold:
        reasons.append(f"agreement with consensus {agreement:.2f} < {agreement_threshold:.2f}")
    if pd.notna(gold) and gold < accuracy_threshold:
        reasons.append(f"gold accuracy {gold:.2f} < {accuracy_threshold:.2f}")
    return "; ".join(reasons)


def peer_consensus_agreement(
    ratings: pd.DataFrame, decided: Mapping[Hashable, str]
) -> pd.DataFrame:
    """Per rater: agreement with a consensus that leaves the rater's own vote out.

    On an adjudicated item the reference is the reviewer's decision; elsewhere it is the
    majority of the *other* raters' labels (items where they tie, or where nobody else rated,
    are skipped). Counting the rater's own vote would flatter everyone: with two raters and a
    majority vote, every non-tied item would agree with both.
    """
    counts = ratings.groupby(["item", "label"]).size()
    per_item: dict[Hashable, dict[str, int]] = {}
    for (item, label), n in counts.items():
        per_item.setdefault(item, {})[label] = int(n)
    hits: dict[Hashable, list[int]] = {}
    for item, rater, label in ratings[["item", "rater", "label"]].itertuples(index=False):
        if item in decided:
            reference = decided[item]
        else:
            others = dict(per_item[item])
            others[label] -= 1
            ranked = sorted((n for n in others.values() if n > 0), reverse=True)
            if not ranked or (len(ranked) > 1 and ranked[0] == ranked[1]):
                continue
            reference = next(lab for lab, n in others.items() if n == ranked[0])
        hits.setdefault(rater, []).append(int(label == reference))
    return pd.DataFrame(
        [{"rater": r, "n": len(h), "agreement": sum(h) / len(h)} for r, h in hits.items()],
        columns=["rater", "n", "agreement"],
    )


def rater_table(
    labels: pd.DataFrame, consensus: Mapping[Hashable, str], *, agreement_threshold: float,
    accuracy_threshold: float, ds_accuracy: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per rater: work done, agreement with consensus, gold and Dawid-Skene accuracy.

    ``consensus`` holds the reviewers' decisions (item -> label); other items are compared with
    the other raters' majority (``peer_consensus_agreement``).

    A rater is ``flagged`` when agreement with consensus is below ``agreement_threshold`` or
    gold accuracy below ``accuracy_threshold``; ``reason`` says which (NaN never flags).
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
    ratings = ratings_of(labels)
    gold = {i: g for i, g in zip(labels["item_id"], labels["gold_label"], strict=True)
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
    table["reason"] = [_reasons(row, agreement_threshold, accuracy_threshold)
                       for row in table.to_dict("records")]
    table["flagged"] = table["reason"] != ""
    return table[list(RATER_COLUMNS)].sort_values("rater", ignore_index=True)


def kappa_pairs(ratings: pd.DataFrame, *, labels: list[str]) -> pd.DataFrame:
    """Cohen's kappa per rater pair (long; one row per unordered pair)."""
    if ratings.empty:
        return _empty(KAPPA_COLUMNS)
    return pairwise_cohen(ratings, labels=labels)[list(KAPPA_COLUMNS)]


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


def throughput(rows: list[dict[str, Any]], *, start: date | None, end: date | None,
               today: date) -> pd.DataFrame:
    """Per-day counts with the quiet days of the range (capped at ``today``) filled with 0."""
    if not rows:
        return _empty(THROUGHPUT_COLUMNS)
    counts = {r["day"]: r for r in rows}
    first = start or min(counts)
    last = min(end or today, today)
    last = max(last, max(counts))
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    frame = pd.DataFrame({
        "day": pd.to_datetime(days),
        "labels": [counts[d]["labels"] if d in counts else 0 for d in days],
        "items_completed": [counts[d]["items_completed"] if d in counts else 0 for d in days],
    })
    return frame[list(THROUGHPUT_COLUMNS)]


# --- the service -------------------------------------------------------------------------

def day_bounds(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """UTC datetimes for the inclusive range of UTC days ``start``..``end``: [from, to)."""
    if start is not None and end is not None and start > end:
        raise LabelingError(f"the range starts ({start}) after it ends ({end}); swap the dates")
    low = datetime.combine(start, time(), tzinfo=UTC) if start is not None else None
    high = (datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC)
            if end is not None else None)
    return low, high


def _ds_accuracy(ratings: pd.DataFrame) -> pd.DataFrame | None:
    if ratings.empty:
        return None
    return get_aggregator("dawid_skene").aggregate(ratings).rater_accuracy


def _overall(ratings: pd.DataFrame, task: Task) -> dict[str, Any]:
    mean, _ = _mean_pairwise(ratings)
    ordinal = None
    if task.ordered and not ratings.empty:
        ordinal = krippendorff_alpha(ratings, level="ordinal", order=list(task.labels))
    return {
        "alpha_nominal": _alpha(ratings), "alpha_ordinal": ordinal,
        "fleiss_kappa": fleiss(ratings).kappa if not ratings.empty else math.nan,
        "mean_pairwise_agreement": mean,
    }


def quality_report(*, engine: Engine, task_name: str, start: date | None,
                   end: date | None, refresh: bool = True) -> QualityReport:
    """The quality report of ``task_name`` over the UTC days ``start``..``end`` (inclusive).

    With ``refresh`` it recomputes and stores the task's consensus first, so it reflects every
    label; without, it reads the stored consensus (a page refreshes once per visit).

    Raises
    ------
    LabelingError
        An unknown task (``UnknownTaskError``), a range that ends before it starts, or ratings
        that cannot be measured (``RatingsError``).
    """
    low, high = day_bounds(start, end)
    if refresh:
        recompute(engine=engine, task_name=task_name)
    with session_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        rows = quality_repo.rater_labels(session=session, task_id=task.id, start=low, end=high)
        consensus_rows = quality_repo.consensus_rows(session=session, task_id=task.id)
        daily = quality_repo.throughput_per_day(session=session, task_id=task.id,
                                                k=task.overlap_k, start=low, end=high)
        waiting = quality_repo.waiting_for_adjudication(session=session, task_id=task.id)
    labels = labels_frame(rows)
    ratings = ratings_of(labels)
    reference = consensus_reference(consensus_rows)
    decided = {r["item_id"]: r["value"] for r in consensus_rows
               if r["method"] == "adjudicated" and r["value"] is not None}
    task_labels = list(task.labels)
    extra = sorted(set(ratings["label"]) - set(task_labels))  # labels since removed from the set
    return QualityReport(
        task=task.name, start=start, end=end, labels=tuple(task_labels + extra),
        agreement_threshold=task.agreement_threshold,
        confidence_threshold=task.confidence_threshold,
        n_labels=len(labels), n_raters=labels["rater"].nunique(),
        n_items=labels["item_id"].nunique(), waiting_for_adjudication=waiting,
        **_overall(ratings, task),
        agreement_by_week=agreement_by_week(labels),
        raters=rater_table(labels, decided, agreement_threshold=task.agreement_threshold,
                           accuracy_threshold=task.confidence_threshold,
                           ds_accuracy=_ds_accuracy(ratings)),
        kappa_pairs=kappa_pairs(ratings, labels=task_labels + extra),
        label_distribution=label_distribution(labels),
        confusion=confusion(ratings, {**dict.fromkeys(tied_items(consensus_rows)), **reference}),
        throughput=throughput(daily, start=start, end=end,
                              today=datetime.now(UTC).date()),
    )
