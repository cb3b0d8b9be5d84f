"""The Simulation page's chart: learning curves of query strategies, mean over seeds with a
+-1 std band; ``write_outputs`` saves it with the tables (``workbench simulate`` and the
active-learning benchmark)."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd

from labeling.dataio.spreadsheet import to_csv
from labeling.ml.simulation import summarise


def learning_curve_chart(summary: pd.DataFrame) -> alt.Chart:
    """Mean test accuracy and macro-F1 against labels, one line per strategy, band = +-1 std."""
    long = pd.concat(
        [
            summary[["strategy", "budget"]].assign(
                metric=title, mean=summary[f"{metric}_mean"],
                low=summary[f"{metric}_mean"] - summary[f"{metric}_std"],
                high=summary[f"{metric}_mean"] + summary[f"{metric}_std"],
            )
            for metric, title in (("accuracy", "Accuracy"), ("macro_f1", "Macro-F1"))
        ],
        ignore_index=True,
    )
    x = alt.X("budget:Q", title="Labeled items")
    colour = alt.Color("strategy:N", title="Strategy",
                       legend=alt.Legend(symbolType="stroke", symbolStrokeWidth=3,
                                         symbolOpacity=1))
    band = alt.Chart().mark_area(opacity=0.2).encode(
        x=x, y=alt.Y("low:Q", title="Test score (mean over seeds)", scale=alt.Scale(zero=False)),
        y2="high:Q", color=colour,
    )
    line = alt.Chart().mark_line(point=True).encode(
        x=x, y="mean:Q", color=colour,
        tooltip=["strategy:N", "budget:Q", alt.Tooltip("mean:Q", format=".4f"),
                 alt.Tooltip("low:Q", format=".4f"), alt.Tooltip("high:Q", format=".4f")],
    )
    return (
        alt.layer(band, line, data=long)
        .properties(width=380, height=280)
        .facet(column=alt.Column("metric:N", title=None, sort=["Accuracy", "Macro-F1"]))
        .properties(title="Active learning: test score vs labels (band: ±1 std over seeds)")
    )


def write_outputs(df: pd.DataFrame, out_dir: Path | str) -> dict[str, Path]:
    """Write ``runs.csv``, ``summary.csv``, ``learning_curve.html`` and ``learning_curve.png``.

    Returns the paths by kind: ``runs``, ``summary``, ``html``, ``png``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(df)
    paths = {
        "runs": out / "runs.csv", "summary": out / "summary.csv",
        "html": out / "learning_curve.html", "png": out / "learning_curve.png",
    }
    paths["runs"].write_text(str(to_csv(df)), encoding="utf-8", newline="")
    paths["summary"].write_text(str(to_csv(summary)), encoding="utf-8", newline="")
    chart = learning_curve_chart(summary)
    chart.save(paths["html"])
    chart.save(paths["png"], scale_factor=2)
    return paths
