"""Altair chart builders used by the pages."""

from __future__ import annotations

import altair as alt
import pandas as pd


def labels_per_day(frame: pd.DataFrame) -> alt.Chart:
    """Stacked bars: labels submitted per day, coloured by task."""
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("yearmonthdate(day):O", title="day", axis=alt.Axis(format="%b %d")),
            y=alt.Y("sum(labels):Q", title="labels"),
            color=alt.Color("task:N", title="task"),
            tooltip=[alt.Tooltip("day:T", title="day"), "task:N", "sum(labels):Q"],
        )
        .properties(height=220)
    )
