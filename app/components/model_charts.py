"""Altair chart builders for the models page, from a model version's ``metrics`` dict.

Older versions only stored ``n_train`` and ``class_counts``: every builder returns ``None``
when the part of the metrics it draws is missing or malformed, and the page says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import pandas as pd

PAIR_COLOURS = ("#4c78a8", "#f58518")


def _confusion_frame(metrics: Mapping[str, Any] | None) -> pd.DataFrame | None:
    confusion = (metrics or {}).get("confusion") or {}
    labels, matrix = confusion.get("labels"), confusion.get("matrix")
    if not labels or not matrix or len(matrix) != len(labels):
        return None
    rows = []
    for true_label, counts in zip(labels, matrix, strict=True):
        if len(counts) != len(labels):
            return None
        total = sum(counts)
        for predicted, count in zip(labels, counts, strict=True):
            rows.append({"true": str(true_label), "predicted": str(predicted),
                         "count": int(count), "share": count / total if total else 0.0})
    return pd.DataFrame(rows)


def confusion_heatmap(metrics: Mapping[str, Any] | None) -> alt.LayerChart | None:
    """True label (rows) against predicted label (columns) on the evaluation split.

    The colour is the share of the row (each true class sums to 1, so the diagonal reads as
    recall); the number is the count.
    """
    frame = _confusion_frame(metrics)
    if frame is None:
        return None
    order = list(dict.fromkeys(frame["true"]))
    base = alt.Chart(frame).encode(
        x=alt.X("predicted:N", title="predicted", sort=order, scale=alt.Scale(domain=order),
                axis=alt.Axis(labelAngle=-45, orient="top", labelOverlap=False)),
        y=alt.Y("true:N", title="true label", sort=order, scale=alt.Scale(domain=order),
                axis=alt.Axis(labelOverlap=False)),
        tooltip=[alt.Tooltip("true:N", title="true label"),
                 alt.Tooltip("predicted:N", title="predicted"),
                 alt.Tooltip("count:Q", title="items"),
                 alt.Tooltip("share:Q", format=".0%", title="share of the true label")],
    )
    rect = base.mark_rect(stroke="white").encode(
        color=alt.Color("share:Q", title="share of row",
                        scale=alt.Scale(scheme="blues", domain=[0, 1]),
                        legend=alt.Legend(orient="bottom", direction="horizontal",
                                          format=".0%")))
    text_colour = alt.when("datum.share > 0.5").then(alt.value("white")).otherwise(
        alt.value("black"))
    text = base.mark_text(fontSize=12).encode(text="count:Q", color=text_colour)
    return (rect + text).properties(width=alt.Step(44), height=alt.Step(32))


def _reliability_frame(metrics: Mapping[str, Any] | None) -> pd.DataFrame | None:
    bins = (metrics or {}).get("reliability") or []
    keys = ("bin_lower", "bin_upper", "confidence", "accuracy", "count")
    rows = [b for b in bins if isinstance(b, Mapping) and all(k in b for k in keys)]
    rows = [b for b in rows if b["count"] and b["confidence"] is not None
            and b["accuracy"] is not None]
    if not rows:
        return None
    frame = pd.DataFrame(rows, columns=list(keys)).astype(float)
    frame["gap"] = frame["accuracy"] - frame["confidence"]
    return frame


def reliability_diagram(metrics: Mapping[str, Any] | None) -> alt.LayerChart | None:
    """Accuracy against mean confidence per confidence bin, with the diagonal of perfect
    calibration: bars span their bin, points sit at the bin's mean confidence."""
    frame = _reliability_frame(metrics)
    if frame is None:
        return None
    unit = alt.Scale(domain=[0, 1])
    tooltip = [alt.Tooltip("bin_lower:Q", format=".1f", title="bin from"),
               alt.Tooltip("bin_upper:Q", format=".1f", title="bin to"),
               alt.Tooltip("confidence:Q", format=".2f", title="mean confidence"),
               alt.Tooltip("accuracy:Q", format=".2f"),
               alt.Tooltip("gap:Q", format="+.2f", title="accuracy − confidence"),
               alt.Tooltip("count:Q", title="items")]
    bars = (
        alt.Chart(frame.assign(floor=0.0))
        .mark_bar(opacity=0.3, color=PAIR_COLOURS[0], stroke="white")
        .encode(x=alt.X("bin_lower:Q", title="confidence", scale=unit), x2="bin_upper:Q",
                y=alt.Y("accuracy:Q", title="accuracy", scale=unit), y2="floor:Q",
                tooltip=tooltip)
    )
    points = alt.Chart(frame).mark_point(filled=True, color=PAIR_COLOURS[0]).encode(
        x=alt.X("confidence:Q", scale=unit), y=alt.Y("accuracy:Q", scale=unit),
        size=alt.Size("count:Q", scale=alt.Scale(zero=False, range=[30, 300]), legend=None),
        tooltip=tooltip,
    )
    diagonal = alt.Chart(pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]})).mark_line(
        strokeDash=[4, 4], color="#888").encode(x="x:Q", y="y:Q")
    return (bars + diagonal + points).properties(height=300)


def _per_class_rows(metrics: Mapping[str, Any] | None, name: str) -> list[dict] | None:
    per_class = (metrics or {}).get("per_class") or []
    rows = [{"label": str(c["label"]), "f1": float(c["f1"]), "support": c.get("support"),
             "version": name}
            for c in per_class if isinstance(c, Mapping) and c.get("f1") is not None
            and "label" in c]
    return rows or None


def per_class_f1_bars(metrics_a: Mapping[str, Any] | None,
                      metrics_b: Mapping[str, Any] | None = None, *,
                      names: Sequence[str] = ("A", "B")) -> alt.Chart | None:
    """F1 per class as horizontal bars: one per class, or grouped bars (one colour per
    version) when two versions' metrics are given. ``None`` when neither has per-class
    figures."""
    rows_a = _per_class_rows(metrics_a, names[0]) or []
    rows_b = _per_class_rows(metrics_b, names[1]) if metrics_b is not None else None
    rows = rows_a + (rows_b or [])
    if not rows:
        return None
    frame = pd.DataFrame(rows)
    order = list(dict.fromkeys(frame["label"]))
    shown = [n for n in names[: 2 if metrics_b is not None else 1] if n in set(frame["version"])]
    colour = alt.Color("version:N", title=None, sort=shown,
                       scale=alt.Scale(domain=shown, range=list(PAIR_COLOURS[: len(shown)])),
                       legend=alt.Legend(orient="bottom") if len(shown) > 1 else None)
    encoding: dict[str, Any] = {
        "y": alt.Y("label:N", title=None, sort=order, axis=alt.Axis(labelOverlap=False)),
        "x": alt.X("f1:Q", title="F1", scale=alt.Scale(domain=[0, 1]),
                   axis=alt.Axis(tickCount=5, format=".1f")),
        "color": colour,
        "tooltip": [alt.Tooltip("version:N"), alt.Tooltip("label:N"),
                    alt.Tooltip("f1:Q", format=".3f", title="F1"),
                    alt.Tooltip("support:Q", title="evaluation items")],
    }
    if len(shown) > 1:
        encoding["yOffset"] = alt.YOffset("version:N", sort=shown)
    height = len(order) * (11 * len(shown) + 8)
    return alt.Chart(frame).mark_bar().encode(**encoding).properties(height=max(height, 60))


def _curve_rows(curve: Any, name: str) -> list[dict]:
    keys = ("threshold", "in_scope_accuracy", "oos_recall")
    return [{**{k: float(p[k]) for k in keys}, "curve": name} for p in curve or []
            if isinstance(p, Mapping) and all(p.get(k) is not None for k in keys)]


def oos_tradeoff_chart(curves: Mapping[str, Any], chosen: Mapping[str, float] | None = None
                       ) -> alt.Chart | alt.LayerChart | None:
    """In-scope accuracy against out-of-scope recall, one line per curve (named by the keys
    of ``curves``), with ``chosen`` (the operating point in use) as a ringed point. ``None``
    when no curve has points."""
    rows = [row for name, curve in curves.items() for row in _curve_rows(curve, name)]
    if not rows:
        return None
    frame = pd.DataFrame(rows)
    names = list(dict.fromkeys(frame["curve"]))
    tooltip = [alt.Tooltip("curve:N"), alt.Tooltip("threshold:Q", format=".3f"),
               alt.Tooltip("oos_recall:Q", format=".3f", title="out-of-scope recall"),
               alt.Tooltip("in_scope_accuracy:Q", format=".3f", title="in-scope accuracy")]
    lines = alt.Chart(frame).mark_line(point=alt.OverlayMarkDef(size=18)).encode(
        x=alt.X("oos_recall:Q", title="out-of-scope recall", scale=alt.Scale(zero=False)),
        y=alt.Y("in_scope_accuracy:Q", title="in-scope accuracy", scale=alt.Scale(zero=False)),
        color=alt.Color("curve:N", title=None, sort=names,
                        scale=alt.Scale(domain=names, range=list(PAIR_COLOURS[: len(names)])),
                        legend=alt.Legend(orient="bottom", labelLimit=400)),
        order="threshold:Q", tooltip=tooltip)
    if not chosen:
        return lines.properties(height=320)
    point = alt.Chart(pd.DataFrame([{**{k: float(v) for k, v in chosen.items()},
                                     "curve": "in use"}])).mark_point(
        size=220, strokeWidth=2.5, color="black").encode(
        x="oos_recall:Q", y="in_scope_accuracy:Q", tooltip=tooltip)
    return (lines + point).properties(height=320)
