"""Agreement measures: hand-computed cases, the awkward tables, and ConvAbuse against the
reference libraries called directly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from bench.agreement_speed import reference_convabuse
from labeling.dataio.ratings_io import read_ratings
from labeling.exceptions import ImportFileError, RatingsError
from labeling.metrics.aggregation import get_aggregator
from labeling.metrics.agreement import (
    agreement_report,
    fleiss,
    gold_accuracy,
    item_agreement,
    kappa_matrix,
    krippendorff_alpha,
    pairwise_cohen,
    rater_vs_consensus,
)

CONVABUSE = (Path(__file__).resolve().parents[2].parent
             / "shared/data/convabuse/ConvAbuseEMNLPfull.csv")
ITEM_COLS = ["conv_id", "prev_agent", "prev_user", "agent", "user"]
SEVERITY = ["1", "0", "-1", "-2", "-3"]

# Wikipedia's Fleiss' kappa example: 10 items, 14 raters, 5 categories; kappa = 0.210.
WIKIPEDIA_FLEISS = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]


def frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["item", "rater", "label"])


def from_wide(wide: dict[str, list[str | None]]) -> pd.DataFrame:
    """Rater -> labels per item (``None`` = not rated) as a long ratings table."""
    return frame([(i, rater, label) for rater, labels in wide.items()
                  for i, label in enumerate(labels) if label is not None])


# --- Cohen ----------------------------------------------------------------------------------

def test_perfect_agreement_gives_one_everywhere():
    ratings = from_wide({r: ["a", "b", "a", "c", "b"] for r in ("r1", "r2", "r3")})
    assert (pairwise_cohen(ratings)["kappa"] == 1.0).all()
    assert krippendorff_alpha(ratings) == pytest.approx(1.0)
    assert fleiss(ratings).kappa == pytest.approx(1.0)


def test_cohen_textbook_value():
    # Wikipedia: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> p_o 0.7, p_e 0.5, kappa 0.4
    pairs = [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10 + [("no", "no")] * 15
    ratings = from_wide({"A": [a for a, _ in pairs], "B": [b for _, b in pairs]})
    result = pairwise_cohen(ratings)
    assert result.to_dict(orient="records") == [
        {"rater_a": "A", "rater_b": "B", "n_shared": 50, "kappa": pytest.approx(0.4)}]


def test_partial_overlap_counts_shared_items_and_leaves_thin_pairs_undefined():
    ratings = from_wide({
        "a": ["x", "y", "x", "y", "x"],
        "b": ["x", "y", "y", None, None],
        "c": [None, None, None, None, "x"],
    })
    result = pairwise_cohen(ratings).set_index(["rater_a", "rater_b"])
    assert result.loc[("a", "b"), "n_shared"] == 3
    expected = cohen_kappa_score(["x", "y", "x"], ["x", "y", "y"])
    assert result.loc[("a", "b"), "kappa"] == pytest.approx(expected)
    assert result.loc[("a", "c"), "n_shared"] == 1 and math.isnan(result.loc[("a", "c"), "kappa"])
    assert result.loc[("b", "c"), "n_shared"] == 0 and math.isnan(result.loc[("b", "c"), "kappa"])


def test_kappa_undefined_when_both_raters_use_one_label():
    ratings = from_wide({"a": ["x", "x", "x"], "b": ["x", "x", "x"]})
    assert math.isnan(pairwise_cohen(ratings)["kappa"].iloc[0])


def test_kappa_matrix_is_symmetric_with_unit_diagonal():
    ratings = from_wide({"a": list("xyxyx"), "b": list("xyyyx"), "c": list("yyxyx")})
    matrix = kappa_matrix(pairwise_cohen(ratings))
    assert list(matrix.index) == ["a", "b", "c"] == list(matrix.columns)
    np.testing.assert_allclose(matrix.to_numpy(), matrix.to_numpy().T)
    assert (np.diag(matrix.to_numpy()) == 1.0).all()


def test_unused_labels_change_nothing_and_unknown_labels_are_refused():
    ratings = from_wide({"a": list("xyxyx"), "b": list("xyyyx"), "c": list("yyxxx")})
    full = ["x", "y", "never"]
    pd.testing.assert_frame_equal(pairwise_cohen(ratings), pairwise_cohen(ratings, labels=full))
    assert fleiss(ratings).kappa == pytest.approx(fleiss(ratings, labels=full).kappa)
    with pytest.raises(ValueError, match="'y' are not in the label set"):
        pairwise_cohen(ratings, labels=["x"])


# --- Fleiss ---------------------------------------------------------------------------------

def test_fleiss_reproduces_the_wikipedia_example():
    rows = [(item, f"r{k}", str(category))
            for item, counts in enumerate(WIKIPEDIA_FLEISS)
            for k, category in enumerate(c for c, n in enumerate(counts) for _ in range(n))]
    result = fleiss(frame(rows))
    assert result.kappa == pytest.approx(0.20993, abs=1e-5)
    assert (result.n_items, result.raters_per_item) == (10, 14)
    assert "first 14 ratings in row order" in result.method


def test_fleiss_uses_each_items_first_ratings_in_row_order():
    # item 0 has three ratings: only the first two (x, x) count, so agreement is perfect
    ratings = frame([(0, "a", "x"), (0, "b", "x"), (0, "c", "y"), (1, "a", "y"), (1, "c", "y"),
                     (2, "b", "x")])
    result = fleiss(ratings)
    assert (result.n_items, result.raters_per_item) == (2, 2)
    assert result.kappa == pytest.approx(1.0)


def test_fleiss_without_any_pair_is_nan():
    result = fleiss(frame([(0, "a", "x"), (1, "b", "y")]))
    assert math.isnan(result.kappa) and result.n_items == 0


# --- Krippendorff ---------------------------------------------------------------------------

def test_alpha_matches_krippendorffs_published_example():
    # Krippendorff (2011), 4 coders x 12 units with gaps: nominal 0.743, ordinal 0.815
    scale = ["very low", "low", "mid", "high", "very high"]
    v, lo, m, h, vh, _ = *scale, None
    ratings = from_wide({
        "A": [v, lo, m, m, lo, v, h, v, lo, _, _, _],
        "B": [v, lo, m, m, lo, lo, h, v, lo, vh, _, m],
        "C": [_, m, m, m, lo, m, h, lo, lo, vh, v, _],
        "D": [v, lo, m, m, lo, h, h, v, lo, vh, v, _],
    })
    assert krippendorff_alpha(ratings) == pytest.approx(0.743, abs=5e-4)
    assert krippendorff_alpha(ratings, level="ordinal", order=scale) == pytest.approx(0.815,
                                                                                     abs=5e-4)


def test_ordinal_alpha_credits_adjacent_disagreements():
    ratings = from_wide({"a": ["1", "0", "-1", "-2", "-3", "1"],
                         "b": ["0", "0", "-2", "-2", "-3", "1"]})
    nominal = krippendorff_alpha(ratings)
    ordinal = krippendorff_alpha(ratings, level="ordinal", order=SEVERITY)
    assert ordinal > nominal + 0.1


def test_alpha_ignores_single_rater_items():
    base = from_wide({"a": list("xyxyx"), "b": list("xyyyx")})
    extra = pd.concat([base, frame([(10, "a", "y"), (11, "c", "x")])])
    assert krippendorff_alpha(extra) == pytest.approx(krippendorff_alpha(base))


def test_ordinal_alpha_refuses_unknown_labels_levels_and_a_missing_order():
    ratings = from_wide({"a": ["1", "0", "9"], "b": ["1", "0", "1"]})
    with pytest.raises(ValueError, match="'9' are not in the ordinal order"):
        krippendorff_alpha(ratings, level="ordinal", order=SEVERITY)
    with pytest.raises(ValueError, match="needs the label order"):
        krippendorff_alpha(ratings, level="ordinal")
    with pytest.raises(ValueError, match="valid: nominal, ordinal"):
        krippendorff_alpha(ratings, level="interval")


# --- Per item, per rater, validation ----------------------------------------------------------

def test_item_agreement_shares():
    ratings = frame([(1, "a", "x"), (1, "b", "x"), (1, "c", "y"), (2, "a", "z")])
    result = item_agreement(ratings).set_index("item")
    assert result.loc[1, "n_ratings"] == 3
    assert result.loc[1, "majority_share"] == pytest.approx(2 / 3)
    assert result.loc[1, "pairwise_agreement"] == pytest.approx(1 / 3)  # 1 agreeing pair of 3
    assert result.loc[2, "majority_share"] == 1.0
    assert math.isnan(result.loc[2, "pairwise_agreement"])


def test_rater_vs_consensus_skips_ties_and_gold_accuracy_counts_gold_items():
    ratings = frame([(1, "a", "x"), (1, "b", "y"), (2, "a", "y"), (2, "b", "y"), (3, "b", "x")])
    vs = rater_vs_consensus(ratings, {1: None, 2: "y", 3: "y"}).set_index("rater")
    assert vs.loc["a"].tolist() == [1, 1.0] and vs.loc["b"].tolist() == [2, 0.5]
    gold = gold_accuracy(ratings, {1: "x", 9: "x"}).set_index("rater")
    assert gold.loc["a"].tolist() == [1, 1.0] and gold.loc["b"].tolist() == [1, 0.0]


def test_duplicates_are_dropped_keeping_the_first_and_counted():
    ratings = frame([(1, "a", "x"), (1, "b", "x"), (1, "a", "y"), (2, "a", "y"), (2, "b", "y")])
    report = agreement_report(ratings)
    assert report["duplicates_dropped"] == 1 and report["n_ratings"] == 4
    assert report["pairwise_cohen"][0]["kappa"] == pytest.approx(1.0)


@pytest.mark.parametrize(("ratings", "message"), [
    (pd.DataFrame({"item": [1], "rater": ["a"]}), "lack column.*label"),
    (pd.DataFrame(columns=["item", "rater", "label"]), "no rows"),
    (pd.DataFrame({"item": [1, 2], "rater": ["a", None], "label": ["x", "y"]}), "no rater"),
])
def test_bad_tables_are_refused(ratings, message):
    with pytest.raises(RatingsError, match=message):
        pairwise_cohen(ratings)


def test_report_is_json_with_nulls_for_nan():
    ratings = frame([(1, "a", "x"), (1, "b", "x"), (2, "a", "y"), (3, "c", "x")])
    report = agreement_report(ratings, ordinal_order=["x", "y"], gold={1: "x"})
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text) == report
    assert report["items"]["n_single_rater"] == 2
    assert {p["rater_a"] + p["rater_b"]: p["kappa"] for p in report["pairwise_cohen"]}["ac"] is None
    assert report["per_rater"][0]["gold_accuracy"] == 1.0
    assert [c["label"] for c in report["dawid_skene"]["consensus"]] == ["x", "y", "x"]


# --- Reading ratings files --------------------------------------------------------------------

def test_read_ratings_onehot_and_multi_column_items(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("conv,turn,who,s.1,s.0\nc1,hi,A,1,0\nc1,hi,B,0,1\nc1,yo,A,,\n",
                    encoding="utf-8")
    ratings = read_ratings(path, item_col="conv, turn", rater_col="who", label_col="s.*")
    assert ratings["label"].tolist() == ["1", "0"]
    assert ratings["item"].nunique() == 1 and ratings.attrs["empty_labels_dropped"] == 1
    again = read_ratings(path, item_col="conv,turn", rater_col="who", label_from_onehot="s.")
    assert again["item"].tolist() == ratings["item"].tolist()


@pytest.mark.parametrize(("content", "options", "message"), [
    (b"item,rater,s.1,s.0\n1,A,1,1\n", {"label_col": "s.*"}, r"row\(s\) 1 do not have exactly"),
    (b"item,rater,label\n1,A,x\n", {"label_col": "lab"}, "no column 'lab'.*columns: item, rater"),
    (b"", {}, "empty"),
    (b"item,rater,label\n1,A,caf\xe9\n", {}, "not UTF-8"),
    (b"item,rater,label\n1,,x\n", {}, r"no rater id in row\(s\) 1"),
])
def test_read_ratings_is_strict(tmp_path, content, options, message):
    path = tmp_path / "r.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message):
        read_ratings(path, item_col="item", rater_col="rater", **options)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_read_ratings_formats_agree(tmp_path, suffix):
    table = pd.DataFrame({"doc": [1, 1, 2], "who": ["A", "B", "A"], "y": ["3", "3", None]})
    path = tmp_path / f"r{suffix}"
    if suffix == ".csv":
        table.to_csv(path, index=False)
    elif suffix == ".jsonl":
        table.to_json(path, orient="records", lines=True)
    else:
        table.to_parquet(path)
    ratings = read_ratings(path, item_col="doc", rater_col="who", label_col="y")
    assert ratings.to_dict(orient="list") == {"item": ["1", "1"], "rater": ["A", "B"],
                                              "label": ["3", "3"]}
    assert ratings.attrs["empty_labels_dropped"] == 1


def test_read_ratings_missing_file(tmp_path):
    with pytest.raises(ImportFileError, match="no such file"):
        read_ratings(tmp_path / "none.jsonl", item_col="item", rater_col="rater")


# --- ConvAbuse against the reference libraries (called directly in bench.agreement_speed) -----

@pytest.mark.skipif(not CONVABUSE.is_file(), reason=f"ConvAbuse file not found at {CONVABUSE}")
def test_convabuse_matches_the_reference_libraries():
    ratings = read_ratings(CONVABUSE, item_col=",".join(ITEM_COLS), rater_col="annotator_id",
                           label_col="is_abuse.*")
    ref = reference_convabuse(CONVABUSE)
    assert ratings["item"].nunique() == ref["n_items"] == 4185
    assert krippendorff_alpha(ratings) == pytest.approx(ref["nominal"], abs=1e-6)
    assert krippendorff_alpha(ratings, level="ordinal", order=SEVERITY) == pytest.approx(
        ref["ordinal"], abs=1e-6)
    assert fleiss(ratings).kappa == pytest.approx(ref["fleiss"], abs=1e-6)
    ours = pairwise_cohen(ratings).dropna(subset=["kappa"])
    ours = {(a, b): k for a, b, k in zip(ours.rater_a, ours.rater_b, ours.kappa, strict=True)}
    assert ours.keys() == ref["cohen"].keys()
    for pair, kappa in ref["cohen"].items():
        assert ours[pair] == pytest.approx(kappa, abs=1e-6), pair
    consensus = get_aggregator("dawid_skene").aggregate(ratings).items
    assert len(consensus) == 4185 and consensus["label"].notna().all()
    assert consensus["confidence"].between(0.2, 1.0).all()
