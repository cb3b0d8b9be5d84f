"""Label quality for ML leads: agreement over time, raters against consensus and gold,
pairwise kappa, label mix, confusion with consensus and queue throughput.

``quality_report`` is the service: it brings the task's consensus up to date, loads the rater
labels of a range of UTC days and hands them to ``labeling.metrics.rater_quality``, whose pure
functions turn a labels frame (one row per live rater label) into the report's tables.

Which labels count: live rater labels (source ``rater``, not superseded) submitted in the range.
Unsure answers count as work (``labels``, throughput, seconds) but not as judgements (agreement,
kappa, accuracy, distribution, confusion). Consensus is the stored one, for items that have a
value (not a tie) and either at least two labels or a reviewer's decision; it includes the
rater's own vote, which flatters raters of items with few labels. In the confusion table an
item whose labels tied counts under the consensus label ``TIE``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine
from sqlmodel import Session

from labeling.exceptions import LabelingError
from labeling.metrics.rater_quality import (
    agreement_by_week,
    coded_ratings,
    confusion,
    kappa_pairs,
    label_distribution,
    overall,
    rater_accuracy_ds,
    rater_table,
    ratings_of,
    throughput,
    with_days,
)
from labeling.project.authz import Actor, Capability, requires
from labeling.project.tasks import get_task
from labeling.review.consensus import FINAL_METHODS, bring_up_to_date
from storage.db import read_aside, run_aside, session_scope
from storage.repositories import quality as quality_repo


@dataclass(frozen=True, eq=False)
class QualityReport:
    """The quality of one task's labels over a range of UTC days (``None``: open-ended)."""

    task: str
    start: date | None
    end: date | None
    labels: tuple[str, ...]
    """The task's label set, in its order (for chart axes)."""
    agreement_threshold: float
    """A rater whose agreement with consensus is below it is flagged."""
    gold_accuracy_threshold: float
    """A rater judged on gold whose gold accuracy is below it is flagged."""
    min_gold_answers: int
    """Gold answers a rater needs before being judged on gold."""
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


OBJECT_COLUMNS = frozenset({"rater", "value", "submitted_at"})


def labels_frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """Repository rows as a frame with ``day`` and ``week`` (Monday) as UTC dates (the items'
    gold answers are added by ``with_gold`` once read).

    Built column by column, the submission times kept as Python datetimes (letting pandas turn
    48,000 zoned datetimes into its own type took 0.4 s) and the strings as Python strings (the
    report's group-bys and lists read them faster than pandas' Arrow strings)."""
    names = quality_repo.RATER_LABEL_COLUMNS
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    frame = pd.DataFrame({
        name: pd.Series(values, dtype=object) if name in OBJECT_COLUMNS else list(values)
        for name, values in zip(names, columns, strict=True)})
    return with_days(frame)


def with_gold(labels: pd.DataFrame, gold: Mapping[int, str]) -> pd.DataFrame:
    """``labels`` with ``gold_label``: its item's gold answer from ``gold`` (item id -> answer),
    ``None`` for items that are not gold."""
    labels["gold_label"] = pd.Series([gold.get(item) for item in labels["item_id"].tolist()],
                                     dtype=object, index=labels.index)
    return labels


def consensus_reference(rows: list[dict[str, Any]]) -> dict[int, str]:
    """Item -> consensus value for items with a value and two labels or a reviewer's word."""
    return {r["item_id"]: r["value"] for r in rows
            if r["value"] is not None and (r["method"] in FINAL_METHODS or r["n_labels"] >= 2)}


def tied_items(rows: list[dict[str, Any]]) -> set[int]:
    """Items whose two or more labels ended in a tie (no consensus value, no decision yet)."""
    return {r["item_id"] for r in rows if r["value"] is None and r["n_labels"] >= 2}


def day_bounds(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """UTC datetimes for the inclusive range of UTC days ``start``..``end``: [from, to)."""
    if start is not None and end is not None and start > end:
        raise LabelingError(f"the range starts ({start}) after it ends ({end}); swap the dates")
    low = datetime.combine(start, time(), tzinfo=UTC) if start is not None else None
    high = (datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC)
            if end is not None else None)
    return low, high


def _consensus_and_backlog(session: Session, *, task_id: int, item_ids: list[int] | None
                           ) -> tuple[list[dict[str, Any]], int]:
    """The stored consensus rows of ``item_ids`` (all the task's with ``None``), and how many
    items wait for a reviewer now."""
    return (quality_repo.consensus_rows(session=session, task_id=task_id, item_ids=item_ids),
            quality_repo.waiting_for_adjudication(session=session, task_id=task_id))


@requires(Capability.view_quality)
def quality_report(*, engine: Engine, actor: Actor, task_name: str, start: date | None,
                   end: date | None, refresh: bool = True) -> QualityReport:
    """The quality report of ``task_name`` over the UTC days ``start``..``end`` (inclusive),
    raters named (for leads and admins: ``view_quality``).

    With ``refresh`` it recomputes and stores the task's consensus (beside reading the labels),
    and reads it once stored, so it reflects every label; without, it reads the stored consensus
    (a page refreshes once per visit).

    Raises
    ------
    LabelingError
        An unknown task (``UnknownTaskError``), a range that ends before it starts, or ratings
        that cannot be measured (``RatingsError``).
    """
    low, high = day_bounds(start, end)
    with collection_paused():
        return _report(engine=engine, actor=actor, task_name=task_name, start=start, end=end,
                       bounds=(low, high), refresh=refresh)


@contextmanager
def collection_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the block, back as it was after.

    A week's report turns 48,000 fetched rows into tuples, frames and arrays; those allocations
    set off full collections of the whole process, each a pause of 0.1-0.2 s (the worst of a
    week's reports went from 1.3 s to 0.84 s without them, the median from 0.83 to 0.77 s).
    Reference counting still frees everything as usual meanwhile, and whatever cycles the block
    leaves are collected once the collector is back on.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _report(*, engine: Engine, actor: Actor, task_name: str, start: date | None,
            end: date | None, bounds: tuple[datetime | None, datetime | None], refresh: bool
            ) -> QualityReport:
    low, high = bounds
    with session_scope(engine) as session:
        task = get_task(session=session, name=task_name)
    # What does not need the labels starts first and runs beside the labels' read and the
    # measures that need no consensus (on PostgreSQL; see run_aside): the consensus refresh
    # and the completions. The consensus rows and the backlog are read once it is done.
    refreshed = run_aside(engine, lambda: bring_up_to_date(
        engine=engine, actor=actor, task_name=task_name)) if refresh else None
    completed_read = read_aside(engine, lambda session: quality_repo.completion_days(
        session=session, task_id=task.id, k=task.overlap_k, start=low, end=high))
    with session_scope(engine) as session:
        rows = quality_repo.rater_labels(session=session, task_id=task.id, start=low, end=high)
    item_ids = sorted({row[1] for row in rows})
    gold_read = read_aside(engine, lambda session: quality_repo.gold_labels(
        session=session, item_ids=item_ids))
    consensus_of_items = partial(_consensus_and_backlog, task_id=task.id,
                                 item_ids=None if low is None and high is None else item_ids)
    consensus_read = None if refreshed is not None else read_aside(engine, consensus_of_items)
    labels = labels_frame(rows)
    ratings = ratings_of(labels)
    task_labels = list(task.labels)
    extra = sorted(set(ratings["label"]) - set(task_labels))  # labels since removed from the set
    coded = coded_ratings(ratings, labels=task_labels + extra)  # once, for every measure below
    metrics = {**overall(coded, ordinal_order=task_labels if task.ordered else None),
               "agreement_by_week": agreement_by_week(labels, coded),
               "kappa_pairs": kappa_pairs(coded),
               "label_distribution": label_distribution(labels)}
    ds_accuracy = rater_accuracy_ds(coded)
    if consensus_read is None:  # read once the refresh has stored it
        refreshed.result()
        consensus_read = read_aside(engine, consensus_of_items)
    consensus_rows, waiting = consensus_read.result()
    reference = consensus_reference(consensus_rows)
    decided = {r["item_id"]: r["value"] for r in consensus_rows
               if r["method"] in FINAL_METHODS and r["value"] is not None}
    return QualityReport(
        task=task.name, start=start, end=end, labels=tuple(task_labels + extra),
        agreement_threshold=task.agreement_threshold,
        gold_accuracy_threshold=task.gold_accuracy_threshold,
        min_gold_answers=task.min_gold_answers,
        n_labels=len(labels), n_raters=labels["rater"].nunique(),
        n_items=labels["item_id"].nunique(), waiting_for_adjudication=waiting,
        raters=rater_table(with_gold(labels, gold_read.result()), decided,
                           agreement_threshold=task.agreement_threshold,
                           gold_accuracy_threshold=task.gold_accuracy_threshold,
                           min_gold_answers=task.min_gold_answers, ds_accuracy=ds_accuracy,
                           ratings=ratings),
        confusion=confusion(ratings, {**dict.fromkeys(tied_items(consensus_rows)), **reference}),
        throughput=throughput(labeled_days=labels["day"].tolist(),
                              completed_days=completed_read.result(), start=start, end=end,
                              today=datetime.now(UTC).date()),
        **metrics,
    )
