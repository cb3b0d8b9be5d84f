"""``workbench agreement`` on ConvAbuse: figures equal the reference libraries called directly."""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score
from typer.testing import CliRunner

from app.cli import app

CONVABUSE = (Path(__file__).resolve().parents[2].parent / "shared/data/convabuse"
             / "ConvAbuseEMNLPfull.csv")
ITEM = ["conv_id", "prev_agent", "prev_user", "agent", "user"]
SEVERITY = ["1", "0", "-1", "-2", "-3"]


@pytest.fixture(scope="module")
def reference():
    if not CONVABUSE.is_file():
        pytest.skip(f"ConvAbuse not found at {CONVABUSE}")
    frame = pd.read_csv(CONVABUSE, dtype=str, keep_default_na=False)
    onehot = frame[[f"is_abuse.{s}" for s in SEVERITY]].astype(float).to_numpy()
    frame["label"] = [SEVERITY[i] for i in onehot.argmax(axis=1)]
    frame["item"] = frame[ITEM].agg("\x1f".join, axis=1)
    return frame.drop_duplicates(["item", "annotator_id"], keep="first")


def test_agreement_json_matches_krippendorff_and_sklearn(reference):
    result = CliRunner().invoke(app, [
        "agreement", "--data", str(CONVABUSE), "--item-col", ",".join(ITEM),
        "--rater-col", "annotator_id", "--label-col", "is_abuse.*",
        "--ordinal", ",".join(SEVERITY), "--json",
    ])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n_items"] == 4185 and report["n_raters"] == 8
    position = {s: i for i, s in enumerate(SEVERITY)}
    table = reference.assign(code=reference["label"].map(position)).pivot(
        index="annotator_id", columns="item", values="code")
    data = table.to_numpy(dtype=float)  # a rater per row, NaN where they did not rate
    nominal = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    ordinal = krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal")
    assert abs(report["krippendorff_alpha"]["nominal"] - nominal) < 1e-6
    assert abs(report["krippendorff_alpha"]["ordinal"] - ordinal) < 1e-6
    ours = {(p["rater_a"], p["rater_b"]): p["kappa"] for p in report["pairwise_cohen"]}
    raters = list(table.index)
    for a, b in combinations(range(len(raters)), 2):
        both = ~np.isnan(data[a]) & ~np.isnan(data[b])
        expected = cohen_kappa_score(data[a][both], data[b][both], labels=list(position.values()))
        got = ours.get((raters[a], raters[b]), ours.get((raters[b], raters[a])))
        assert got is not None and abs(got - expected) < 1e-6
    consensus = report["dawid_skene"]["consensus"]
    assert len(consensus) == 4185 and all(row["label"] in SEVERITY for row in consensus)
    assert np.isfinite(report["fleiss"]["kappa"])


def test_agreement_with_an_unknown_column_says_which(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("item,rater,label\n1,a,x\n1,b,y\n")
    result = CliRunner().invoke(app, ["agreement", "--data", str(path), "--item-col", "item",
                                      "--rater-col", "who", "--label-col", "label"])
    assert result.exit_code == 1 and "no column 'who'" in result.stderr


def test_agreement_on_single_rater_items_prints_na_not_a_crash(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("item,rater,label\n1,a,x\n2,b,y\n3,a,y\n")
    result = CliRunner().invoke(app, ["agreement", "--data", str(path), "--item-col", "item",
                                      "--rater-col", "rater", "--label-col", "label"])
    assert result.exit_code == 0, result.output
    assert "n/a" in result.stdout
