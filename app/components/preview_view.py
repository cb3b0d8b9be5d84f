"""The preview's building blocks: the prompt with its slots marked, the stage timings and the
playlist's feature bars (Altair)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import pandas as pd

from app.components.untrusted import as_html

BAR_FEATURES = ("energy", "valence", "danceability", "acousticness", "instrumentalness")
SLOT_COLOURS = {"mood": "#fde2e4", "activity": "#e2ece9", "genre": "#dfe7fd",
                "avoid_genre": "#dfe7fd",
                "era": "#fff1c1", "year": "#fff1c1", "years": "#fff1c1",
                "avoid_artist": "#f0e4ff", "artist": "#f0e4ff", "duration": "#e8f4d9",
                "tempo": "#ffe5cc", "bpm": "#ffe5cc", "energy": "#ffe5cc", "vocals": "#e0f7fa",
                "danceability": "#ffe5cc", "count": "#e8f4d9", "explicit": "#eeeeee",
                "title": "#e8eaf6", "speech": "#e0f7fa"}


def marked_slots(text: str, slots: Sequence[Mapping[str, Any]]) -> str:
    """``text`` as HTML (``as_html``) with each slot's source span marked and labelled
    (``slot=value`` on hover and as a small tag), and the slot's later phrases (``also``: "no
    explicit pop for the kids" marks "kids" too); refinement slots have no span and are left
    out."""
    spans = sorted((int(start), int(end), str(s["slot"]), str(s["value"]))
                   for s in slots for start, end in [(s["start"], s["end"]), *s.get("also", ())]
                   if 0 <= int(start) < int(end) <= len(text))
    out, cursor = [], 0
    for start, end, slot, value in spans:
        if start < cursor:
            continue  # overlapping spans (bpm and tempo, year and era): the first is shown
        colour = SLOT_COLOURS.get(slot, "#eeeeee")
        label = as_html(f"{slot}={value}")
        out.append(as_html(text[cursor:start]))
        out.append(f'<mark style="background:{colour};padding:0 .2em;border-radius:.3em" '
                   f'title="{label}">{as_html(text[start:end])}'
                   f'<sub style="font-size:.6em;opacity:.7"> {label}</sub></mark>')
        cursor = end
    out.append(as_html(text[cursor:]))
    return "".join(out)


def timings_chart(timings: Mapping[str, float]) -> alt.Chart | None:
    """Horizontal bars: milliseconds per router stage (``total`` left out)."""
    stages = {k: v for k, v in timings.items() if k != "total"}
    if not stages:
        return None
    frame = pd.DataFrame({"stage": list(stages), "ms": list(stages.values())})
    return (alt.Chart(frame).mark_bar(color="#4c78a8")
            .encode(y=alt.Y("stage:N", sort=list(stages), title=None),
                    x=alt.X("ms:Q", title="ms"),
                    tooltip=["stage:N", alt.Tooltip("ms:Q", format=".2f")])
            .properties(height=28 * len(stages)))


def feature_bars(tracks: Sequence[Mapping[str, Any]]) -> alt.Chart | None:
    """Small bars of each track's audio features (0..1), one column per feature, one row per
    position."""
    if not tracks:
        return None
    rows = [{"track": f"{t['position']:>2}. {str(t['title'])[:28]}", "position": t["position"],
             "feature": f, "value": float(t[f])} for t in tracks for f in BAR_FEATURES]
    order = [r["track"] for r in rows[::len(BAR_FEATURES)]]
    return (alt.Chart(pd.DataFrame(rows)).mark_bar()
            .encode(y=alt.Y("track:N", sort=order, title=None),
                    x=alt.X("value:Q", scale=alt.Scale(domain=[0, 1]), title=None,
                            axis=alt.Axis(labels=False, ticks=False)),
                    color=alt.Color("feature:N", legend=None),
                    column=alt.Column("feature:N", title=None, sort=list(BAR_FEATURES)),
                    tooltip=["track:N", "feature:N", alt.Tooltip("value:Q", format=".2f")])
            .properties(width=70, height=18 * len(tracks)))
