"""Label quality (leads, admins): agreement over time, raters, kappa, label mix, throughput."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import streamlit as st

from app import auth, resources
from app.components.consensus import mark_fresh, refresh_due
from app.components.quality_charts import (
    agreement_by_week_chart,
    confusion_chart,
    kappa_heatmap,
    label_distribution_chart,
    throughput_chart,
)
from app.components.task_picker import task_picker
from app.errors import SERVICE_ERRORS, describe
from labeling.dataio.spreadsheet import to_csv
from labeling.metrics.rater_quality import TIE
from labeling.project.authz import Capability
from labeling.review.quality import QualityReport, quality_report

DEFAULT_DAYS = 30
FLAG_BACKGROUND = "background-color: rgba(255, 75, 75, 0.14)"
FLAGGED, OK = "⚠ flagged", "✓ ok"


def _range(today: date) -> tuple[date, date] | None:
    picked = st.date_input(
        "Days (UTC)", value=(today - timedelta(days=DEFAULT_DAYS - 1), today),
        max_value=today, key="quality_range", format="YYYY-MM-DD",
        help="Labels submitted on these days, both included (UTC).",
    )
    if isinstance(picked, date):
        return picked, picked
    if len(picked) != 2:
        st.info("Pick the first and the last day of the range.")
        return None
    return picked[0], picked[1]


def _number(value: float | None) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.2f}"


def _metrics(report: QualityReport) -> None:
    alpha_help = ("Krippendorff's alpha (nominal) over the items with two or more labels in "
                  "the range; 1 is perfect agreement, 0 is chance.")
    if report.alpha_ordinal is not None:
        alpha_help += (" Ordinal alpha (the label order as the scale): "
                       f"{_number(report.alpha_ordinal)}.")
    columns = st.columns(5)
    columns[0].metric("Labels", f"{report.n_labels:,}", help="Live rater labels in the range, "
                      "unsure answers included.")
    columns[1].metric("Raters", report.n_raters,
                      help=f"{report.n_flagged} under the task's thresholds.")
    columns[2].metric("Krippendorff's α", _number(report.alpha_nominal), help=alpha_help)
    columns[3].metric("Fleiss' κ", _number(report.fleiss_kappa),
                      help="Over the items with two or more labels in the range.")
    columns[4].metric("Waiting for adjudication", report.waiting_for_adjudication,
                      help="Items a reviewer must decide now (any date).")


def _csv(frame: pd.DataFrame) -> bytes:
    return str(to_csv(frame)).encode("utf-8")


def _download(report: QualityReport, name: str, label: str) -> None:
    st.download_button(
        f"Download {label} (CSV)", _csv(report.tables()[name]),
        file_name=f"{report.task}_{name}_{report.start}_{report.end}.csv", mime="text/csv",
        key=f"dl_{name}", on_click="ignore", type="tertiary", icon=":material/download:",
    )


def _highlight(row: pd.Series) -> list[str]:
    return [FLAG_BACKGROUND if row["flagged"] else ""] * len(row)


RATER_COLUMNS = {
    "status": st.column_config.TextColumn("Status", width="small"),
    "rater": st.column_config.TextColumn("Rater", width="small"),
    "labels": st.column_config.NumberColumn("Labels", format="%d", width="small"),
    "unsure": st.column_config.NumberColumn("Unsure", format="%d", width="small"),
    "median_seconds": st.column_config.NumberColumn(
        "Median s", format="%.1f", width="small", help="Median seconds per label."),
    "n_compared": st.column_config.NumberColumn(
        "n consensus", format="%d",
        help="Their items with a consensus (two or more labels, or a reviewer's decision)."),
    "agreement_with_consensus": st.column_config.NumberColumn(
        "Agreement", format="percent", width="small",
        help="Share of those items where they gave the consensus label."),
    "n_gold": st.column_config.NumberColumn("n gold", format="%d", width="small",
                                            help="Gold items they labeled."),
    "gold_accuracy": st.column_config.NumberColumn("Gold acc.", format="percent",
                                                   width="small"),
    "gold_status": st.column_config.TextColumn(
        "Gold", width="small",
        help="Judged on gold once they have the task's minimum of gold answers."),
    "ds_accuracy": st.column_config.NumberColumn(
        "Dawid-Skene acc.", format="percent",
        help="Estimated from everyone's labels in the range, no gold needed."),
    "reason": st.column_config.TextColumn("Why flagged", width="large"),
    "flagged": None,
}


def _rater_table(report: QualityReport) -> None:
    st.subheader("Raters")
    st.caption(
        f"Flagged (red) when agreement with consensus is below {report.agreement_threshold:.0%} "
        "(the task's agreement threshold), or when a rater with at least "
        f"{report.min_gold_answers} gold answers has gold accuracy below "
        f"{report.gold_accuracy_threshold:.0%} (the task's gold settings); with fewer gold "
        "answers gold is not judged yet. Leads change these on the Task settings page. "
        "The consensus a rater is compared with leaves their own vote "
        "out: a reviewer's decision where there is one, else the other raters' majority.")
    raters = report.raters.copy()
    raters.insert(0, "status", [FLAGGED if f else OK for f in raters["flagged"]])
    styled = raters.style.apply(_highlight, axis=1).format(na_rep="—")
    st.dataframe(styled, hide_index=True, width="stretch",
                 column_config=RATER_COLUMNS, key="quality_raters")
    _download(report, "raters", "rater table")


def _agreement_and_throughput(report: QualityReport) -> None:
    left, right = st.columns(2)
    with left:
        st.subheader("Agreement by week")
        st.caption("Items count in the week of their last label in the range.")
        st.altair_chart(agreement_by_week_chart(report.agreement_by_week,
                                                threshold=report.agreement_threshold),
                        width="stretch")
        _download(report, "agreement_by_week", "weekly agreement")
    with right:
        st.subheader("Queue throughput")
        st.caption("Labels submitted per day, and items reaching the task's k raters.")
        st.altair_chart(throughput_chart(report.throughput), width="stretch")
        _download(report, "throughput", "throughput")


def _kappa_and_confusion(report: QualityReport) -> None:
    left, right = st.columns([1, 2])
    with left:
        st.subheader("Cohen's κ per rater pair")
        if report.kappa_pairs.empty:
            st.caption("Needs two raters who labeled the same items.")
        else:
            st.altair_chart(kappa_heatmap(report.kappa_pairs), width="content")
            _download(report, "kappa_pairs", "pairwise kappa")
    with right:
        st.subheader("Rater label vs consensus")
        st.caption(f"Columns sum to 100%; {TIE} collects items whose labels tied.")
        if report.confusion.empty:
            st.caption("No item in the range has a consensus yet.")
        else:
            st.altair_chart(confusion_chart(report.confusion, labels=report.labels, tie=TIE),
                            width="content")
            _download(report, "confusion", "confusion counts")


def _distribution(report: QualityReport) -> None:
    st.subheader("Labels given per week")
    st.altair_chart(label_distribution_chart(report.label_distribution, labels=report.labels),
                    width="stretch")
    _download(report, "label_distribution", "label distribution")


def render() -> None:
    user = auth.require(Capability.view_quality)
    st.title("Label quality")
    top = st.columns([2, 3])
    with top[0]:
        task_name = task_picker(key="quality_task", user=user)
    if task_name is None:
        return
    with top[1]:
        days = _range(datetime.now(UTC).date())
    if days is None:
        return
    force = st.button("Refresh consensus", key="quality_refresh", icon=":material/refresh:",
                      help="Consensus is brought up to date once per visit; refresh it after "
                      "new labels.")
    try:
        with st.spinner("Computing agreement…"):
            # the refresh runs beside the report's reads (quality_report(refresh=True))
            report = quality_report(engine=resources.engine(), actor=user, task_name=task_name,
                                    start=days[0], end=days[1],
                                    refresh=refresh_due(task_name, force=force))
            mark_fresh(task_name)
    except SERVICE_ERRORS as exc:
        st.error(describe(exc))
        return
    if report.empty:
        st.info(f"No rater labels for **{task_name}** from {days[0]} to {days[1]} (UTC). "
                "Widen the date range, or have raters label items on the Label page; "
                "imported and adjudicated labels do not count here.")
        return
    _metrics(report)
    _agreement_and_throughput(report)
    _rater_table(report)
    _kappa_and_confusion(report)
    _distribution(report)


render()
