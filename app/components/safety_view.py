"""The safety views shared by pages: a flagged text with its rule spans marked, and a bar chart
of the model's category scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import pandas as pd

from app.components.untrusted import as_html


def marked_text(text: str, hits: Sequence[Mapping[str, Any]]) -> str:
    """``text`` as HTML (``as_html``) with each rule hit's span wrapped in ``<mark>``
    (overlapping hits merged); the text is never read as Markdown or HTML."""
    spans = sorted((int(h["start"]), int(h["end"])) for h in hits
                   if 0 <= int(h["start"]) < int(h["end"]) <= len(text))
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, cursor = [], 0
    for start, end in merged:
        out.append(as_html(text[cursor:start]))
        out.append(f"<mark>{as_html(text[start:end])}</mark>")
        cursor = end
    out.append(as_html(text[cursor:]))
    return "".join(out)


def category_scores_chart(scores: Mapping[str, float], *, highlight: str | None = None
                          ) -> alt.Chart | None:
    """Horizontal bars of the category probabilities, largest first (``None`` without any)."""
    if not scores:
        return None
    frame = pd.DataFrame({"category": list(scores), "probability": list(scores.values())})
    frame["flagged"] = frame["category"] == highlight
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), title="probability"),
            y=alt.Y("category:N", sort="-x", title=None),
            color=alt.Color("flagged:N", legend=None,
                            scale=alt.Scale(domain=[False, True], range=["#9ecae9", "#e45756"])),
            tooltip=["category:N", alt.Tooltip("probability:Q", format=".2f")],
        )
        .properties(height=22 * len(frame))
    )
