"""Altair chart builders for the label-quality page.

Each takes one of ``labeling.review.quality.QualityReport``'s tables (dates as midnight datetimes of
UTC days) and returns a chart; none of them reads the database or Streamlit state.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import altair as alt
import pandas as pd

DAY_AXIS = alt.Axis(format="%b %d", labelAngle=0)
SERIES_COLOURS = ("#4c78a8", "#f58518")


def agreement_by_week_chart(frame: pd.DataFrame, *, threshold: float | None = None) -> alt.Chart:
    """Krippendorff's alpha and mean pairwise agreement per week, with the task's threshold."""
    names = {"alpha_nominal": "Krippendorff's alpha",
             "mean_pairwise_agreement": "mean pairwise agreement"}
    long = frame.melt(id_vars=["week", "n_items"], value_vars=list(names),
                      var_name="measure", value_name="value")
    long["measure"] = long["measure"].map(names)
    lines = (
        alt.Chart(long)
        .mark_line(point=alt.OverlayMarkDef(size=60))
        .encode(
            x=alt.X("yearmonthdate(week):O", title="week of", axis=DAY_AXIS),
            y=alt.Y("value:Q", title="agreement", scale=alt.Scale(domainMax=1)),
            color=alt.Color("measure:N", title=None,
                            scale=alt.Scale(domain=list(names.values()),
                                            range=list(SERIES_COLOURS)),
                            legend=alt.Legend(orient="bottom")),
            tooltip=[alt.Tooltip("yearmonthdate(week):T", title="week of"),
                     alt.Tooltip("measure:N"), alt.Tooltip("value:Q", format=".2f"),
                     alt.Tooltip("n_items:Q", title="items with 2+ labels")],
        )
    )
    if threshold is None:
        return lines.properties(height=260)
    rule = (
        alt.Chart(pd.DataFrame({"threshold": [threshold]}))
        .mark_rule(strokeDash=[4, 4], color="#888")
        .encode(y="threshold:Q", tooltip=[alt.Tooltip("threshold:Q", title="task threshold")])
    )
    return (lines + rule).properties(height=260)


def _both_triangles(pairs: pd.DataFrame) -> pd.DataFrame:
    """Each pair both ways, plus an empty diagonal so the grid is square."""
    swapped = pairs.rename(columns={"rater_a": "rater_b", "rater_b": "rater_a"})
    raters = sorted(set(pairs["rater_a"]) | set(pairs["rater_b"]))
    diagonal = pd.DataFrame({"rater_a": raters, "rater_b": raters, "kappa": float("nan"),
                             "n_shared": float("nan")})
    full = pd.concat([pairs, swapped], ignore_index=True)
    full["label"] = [f"{k:.2f}" if pd.notna(k) else "n/a" for k in full["kappa"]]
    diagonal["label"] = ""
    return pd.concat([full, diagonal], ignore_index=True)


def kappa_heatmap(pairs: pd.DataFrame) -> alt.LayerChart:
    """Cohen's kappa per rater pair as a symmetric matrix (both triangles), -1 red to 1 blue."""
    full = _both_triangles(pairs)
    raters = sorted(set(full["rater_a"]))
    x = alt.X("rater_a:N", title=None, sort=raters,
              axis=alt.Axis(labelAngle=-45, labelOverlap=False, orient="top"))
    y = alt.Y("rater_b:N", title=None, sort=raters, axis=alt.Axis(labelOverlap=False))
    tooltip = [alt.Tooltip("rater_a:N", title="rater"), alt.Tooltip("rater_b:N", title="with"),
               alt.Tooltip("kappa:Q", format=".2f"),
               alt.Tooltip("n_shared:Q", title="shared items")]
    base = alt.Chart(full).encode(x=x, y=y, tooltip=tooltip)
    grid = base.mark_rect(color="#f0f2f6", stroke="white")  # the diagonal and n/a pairs
    rect = base.mark_rect(stroke="white").encode(
        color=alt.Color("kappa:Q", title="Cohen's κ",
                        scale=alt.Scale(scheme="redblue", domain=[-1, 1], domainMid=0)))
    text_colour = (alt.when("isValid(datum.kappa) && abs(datum.kappa) > 0.6")
                   .then(alt.value("white")).otherwise(alt.value("black")))
    text = base.mark_text(fontSize=12).encode(text="label:N", color=text_colour)
    return (grid + rect + text).properties(width=alt.Step(52), height=alt.Step(36))


def label_distribution_chart(frame: pd.DataFrame, *, labels: Sequence[str] = ()) -> alt.Chart:
    """Stacked bars: labels given per week, coloured by label in the task's order."""
    order = list(labels) or sorted(set(frame["label"]))
    return (
        alt.Chart(frame)
        .transform_joinaggregate(week_total="sum(count)", groupby=["week"])
        .transform_calculate(share="datum.count / datum.week_total")
        .mark_bar()
        .encode(
            x=alt.X("yearmonthdate(week):O", title="week of", axis=DAY_AXIS),
            y=alt.Y("sum(count):Q", title="labels"),
            color=alt.Color("label:N", title=None, sort=order,
                            scale=alt.Scale(domain=order, scheme="tableau20"),
                            legend=alt.Legend(orient="bottom", columns=5, symbolLimit=0)),
            order=alt.Order("label_rank:Q"),
            tooltip=[alt.Tooltip("yearmonthdate(week):T", title="week of"), "label:N",
                     alt.Tooltip("count:Q", title="labels"),
                     alt.Tooltip("share:Q", format=".0%", title="share of the week")],
        )
        .transform_calculate(label_rank=f"indexof({json.dumps(order)}, datum.label)")
        .properties(height=280)
    )


def confusion_chart(frame: pd.DataFrame, *, labels: Sequence[str] = (),
                    tie: str = "(tie)") -> alt.LayerChart:
    """Rater label (rows) against consensus (columns): the colour is the share of the
    consensus column's ratings (each column sums to 1), the number the count. Items whose
    labels tied form a last column, ``tie``."""
    used = set(frame["rater_label"]) | set(frame["consensus_label"])
    order = [label for label in (list(labels) or sorted(used)) if label in used and label != tie]
    order += sorted(used - set(order) - {tie})
    columns = order + ([tie] if tie in used else [])
    data = frame.assign(share=frame["count"] / frame.groupby("consensus_label")["count"]
                        .transform("sum"))
    base = alt.Chart(data).encode(
        x=alt.X("consensus_label:N", title="consensus", sort=columns,
                scale=alt.Scale(domain=columns),
                axis=alt.Axis(labelAngle=-45, orient="top", labelOverlap=False)),
        y=alt.Y("rater_label:N", title="rater's label", sort=order,
                scale=alt.Scale(domain=order), axis=alt.Axis(labelOverlap=False)),
        tooltip=[alt.Tooltip("rater_label:N", title="rater said"),
                 alt.Tooltip("consensus_label:N", title="consensus"),
                 alt.Tooltip("count:Q", title="labels"),
                 alt.Tooltip("share:Q", format=".0%", title="share of the column")],
    )
    rect = base.mark_rect(stroke="white").encode(
        color=alt.Color("share:Q", title="share of column", legend=alt.Legend(
            orient="bottom", direction="horizontal", format=".0%"),
                        scale=alt.Scale(scheme="blues", domain=[0, 1])))
    text_colour = alt.when("datum.share > 0.5").then(alt.value("white")).otherwise(
        alt.value("black"))
    text = base.mark_text(fontSize=11).encode(text="count:Q", color=text_colour)
    return (rect + text).properties(width=alt.Step(30), height=alt.Step(24))


def throughput_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """Per day: labels submitted (bars) and items that reached k labels (line)."""
    names = {"labels": "labels submitted", "items_completed": "items reaching k labels"}
    long = frame.melt(id_vars=["day"], value_vars=list(names), var_name="series",
                      value_name="count")
    long["series"] = long["series"].map(names)
    colour = alt.Color("series:N", title=None,
                       scale=alt.Scale(domain=list(names.values()), range=list(SERIES_COLOURS)),
                       legend=alt.Legend(orient="bottom"))
    base = alt.Chart(long).encode(
        x=alt.X("yearmonthdate(day):T", title="day", axis=DAY_AXIS),
        y=alt.Y("count:Q", title="per day"),
        color=colour,
        tooltip=[alt.Tooltip("yearmonthdate(day):T", title="day"), "series:N",
                 alt.Tooltip("count:Q")],
    )
    bars = base.transform_filter(alt.datum.series == names["labels"]).mark_bar(opacity=0.7)
    line = (base.transform_filter(alt.datum.series == names["items_completed"])
            .mark_line(point=True)
            .encode(x=alt.X("yearmonthdate(day):T", title="day", axis=DAY_AXIS,
                            bandPosition=0.5)))  # on the bars' centres
    return (bars + line).properties(height=260)
