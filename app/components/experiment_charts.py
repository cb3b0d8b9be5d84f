"""The Experiments page's chart and tables: each configuration's estimate and interval per
estimator (``routing.experiments.Evaluation.rows``); none reads the database or Streamlit
state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import pandas as pd

from routing.verdicts import ESTIMATOR_NAMES, brief

COLUMNS = ["configuration", "estimator", "value", "low", "high", "effective sessions",
           "sessions", "beyond support %", "note"]


def estimates_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per configuration and estimator (and segment, when the rows have several):
    the value, its 95% interval and effective sample size, or why the estimator refused."""
    records = []
    for r in rows:
        refused = r.get("refused")
        records.append({
            "segment": r.get("segment"),
            "configuration": r["configuration"],
            "estimator": ESTIMATOR_NAMES.get(r["estimator"], r["estimator"]),
            "value": None if refused else r["value"],
            "low": None if refused else r["low"],
            "high": None if refused else r["high"],
            "effective sessions": None if refused else r["effective_sessions"],
            "sessions": None if refused else r["sessions"],
            "beyond support %": 100.0 * float(r.get("beyond_support") or 0.0),
            "note": brief(refused) if refused else "",
        })
    frame = pd.DataFrame(records, columns=["segment", *COLUMNS])
    for column in ("value", "low", "high", "effective sessions", "sessions"):
        frame[column] = pd.to_numeric(frame[column]).round(4)  # a refusal shows blank cells
    frame["beyond support %"] = frame["beyond support %"].round(1)
    if frame["segment"].nunique() <= 1:
        frame = frame.drop(columns="segment")
    return frame


def estimates_chart(rows: Sequence[Mapping[str, Any]], *, logged_mean: float | None = None
                    ) -> alt.Chart | None:
    """A point and its 95% interval per configuration, one row per estimator; a dashed line
    at the logged mean reward. ``None`` when every estimator refused."""
    frame = estimates_frame(rows).dropna(subset=["value"])
    if frame.empty:
        return None
    frame["logged mean"] = logged_mean
    order = [ESTIMATOR_NAMES[name] for name in ESTIMATOR_NAMES
             if ESTIMATOR_NAMES[name] in set(frame["estimator"])]
    y = alt.Y("configuration:N", title=None)
    colour = alt.Color("configuration:N", title="configuration",
                       legend=alt.Legend(orient="bottom"))
    tooltip = ["configuration:N", "estimator:N", alt.Tooltip("value:Q", format=".3f"),
               alt.Tooltip("low:Q", format=".3f", title="95% low"),
               alt.Tooltip("high:Q", format=".3f", title="95% high"),
               alt.Tooltip("effective sessions:Q", format=",.1f"),
               alt.Tooltip("sessions:Q", format=",")]
    bars = alt.Chart().mark_rule(strokeWidth=2).encode(
        x=alt.X("low:Q", title="reward per session", scale=alt.Scale(zero=False)),
        x2="high:Q", y=y, color=colour, tooltip=tooltip)
    points = alt.Chart().mark_point(filled=True, size=70).encode(
        x="value:Q", y=y, color=colour, tooltip=tooltip)
    layers = [bars, points]
    if logged_mean is not None:
        layers.append(alt.Chart().mark_rule(strokeDash=[4, 4], color="#888").encode(
            x="logged mean:Q", tooltip=[alt.Tooltip("logged mean:Q", format=".3f",
                                                    title="logged mean reward")]))
    return (alt.layer(*layers, data=frame)
            .properties(height=28 * frame["configuration"].nunique() + 10, width=520)
            .facet(row=alt.Row("estimator:N", title=None, sort=order,
                               header=alt.Header(labelAngle=0, labelAlign="left")))
            .properties(title="Estimated reward per session (95% interval; dashed: "
                              "the logged lists' mean)"))
