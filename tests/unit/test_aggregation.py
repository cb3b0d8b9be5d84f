"""Aggregation: majority ties, the registry, and Dawid-Skene on a planted truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labeling.metrics.aggregation import (
    AGGREGATORS,
    DawidSkeneAggregator,
    MajorityAggregator,
    get_aggregator,
    majority,
    majority_vote,
)


def frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["item", "rater", "label"])


def planted(*, adversarial: bool, n_items: int = 400, seed: int = 0) -> tuple[pd.DataFrame, list]:
    """Three labels; raters good1, good2, good3 right 70% of the time (else another label), and
    one bad rater: uniformly random, or (``adversarial``) saying truth + 1 90% of the time."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n_items)
    rows = []
    for item, true in enumerate(truth):
        for rater in ("good1", "good2", "good3"):
            wrong = rng.choice([k for k in range(3) if k != true])
            rows.append((item, rater, str(true if rng.random() < 0.7 else wrong)))
        bad = (true + 1) % 3 if adversarial and rng.random() < 0.9 else rng.integers(0, 3)
        rows.append((item, "bad", str(true if adversarial and bad == true else bad)))
    return frame(rows), [str(t) for t in truth]


def accuracy(result, truth: list[str]) -> float:
    return float((result.items["label"].to_numpy() == np.array(truth, dtype=object)).mean())


# --- majority -------------------------------------------------------------------------------

def test_majority_reports_ties_and_never_picks():
    ratings = frame([
        (1, "a", "x"), (1, "b", "x"), (1, "c", "y"),           # clear winner
        (2, "a", "x"), (2, "b", "y"),                          # 1-1 tie
        (3, "a", "x"), (3, "b", "x"), (3, "c", "y"), (3, "d", "y"), (3, "e", "z"),  # 2-2-1 tie
        (4, "c", "z"),                                         # single rater
    ])
    result = MajorityAggregator().aggregate(ratings).items.set_index("item")
    assert result.loc[1].tolist() == ["x", pytest.approx(2 / 3), 3, False]
    assert result.loc[2, "label"] is None and result.loc[2, "tie"]
    assert result.loc[2, "confidence"] == 0.5
    assert result.loc[3, "label"] is None and result.loc[3, "tie"]
    assert result.loc[3, "confidence"] == pytest.approx(0.4)
    assert result.loc[4].tolist() == ["z", 1.0, 1, False]


def test_majority_rater_accuracy_skips_tied_items():
    ratings = frame([(1, "a", "x"), (1, "b", "x"), (1, "c", "y"), (2, "a", "x"), (2, "c", "y")])
    accuracy_by_rater = MajorityAggregator().aggregate(ratings).rater_accuracy
    assert accuracy_by_rater.set_index("rater")["accuracy"].to_dict() == {
        "a": 1.0, "b": 1.0, "c": 0.0}


def test_majority_of_a_counts_matrix_reports_ties_and_empty_rows():
    result = majority(np.array([[2, 1, 0], [1, 1, 0], [2, 2, 1], [0, 0, 0], [0, 0, 3]]))
    assert result.tie.tolist() == [False, True, True, True, False]
    assert result.decided.tolist() == [0, -1, -1, -1, 2]
    assert result.total.tolist() == [3, 2, 5, 0, 3]
    assert result.share[:3].tolist() == pytest.approx([2 / 3, 0.5, 0.4])
    assert np.isnan(result.share[3]) and result.share[4] == 1.0


def test_majority_vote_pairs_function_is_unchanged():
    result = majority_vote([(1, "x"), (1, "y"), (2, "x"), (2, "x"), (2, "y")])
    assert result[1].value is None and result[1].tie and result[1].n_votes == 2
    assert result[2].value == "x" and result[2].confidence == pytest.approx(2 / 3)


def test_aggregators_agree_on_columns_and_item_order():
    ratings = frame([("b", 1, "x"), ("a", 2, "y"), ("a", 1, "y"), ("c", 2, "x")])
    for name in AGGREGATORS:
        result = get_aggregator(name).aggregate(ratings)
        assert list(result.items.columns) == ["item", "label", "confidence", "n_ratings", "tie"]
        assert result.items["item"].tolist() == ["a", "b", "c"]
        assert list(result.rater_accuracy.columns) == ["rater", "accuracy"]
        assert result.rater_accuracy["rater"].tolist() == [1, 2]


# --- registry -------------------------------------------------------------------------------

def test_registry_names_and_options():
    assert set(AGGREGATORS) == {"majority", "dawid_skene"}
    assert isinstance(get_aggregator("majority"), MajorityAggregator)
    aggregator = get_aggregator("dawid_skene", n_iter=7)
    assert isinstance(aggregator, DawidSkeneAggregator) and aggregator.n_iter == 7


def test_unknown_aggregator_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown aggregation method 'mean'; valid: "
                                         "dawid_skene, majority"):
        get_aggregator("mean")


# --- Dawid-Skene ----------------------------------------------------------------------------

@pytest.mark.parametrize("adversarial", [False, True])
def test_dawid_skene_beats_majority_with_one_bad_rater(adversarial):
    ratings, truth = planted(adversarial=adversarial)
    majority = accuracy(get_aggregator("majority").aggregate(ratings), truth)
    dawid_skene = accuracy(get_aggregator("dawid_skene").aggregate(ratings), truth)
    assert dawid_skene > majority + 0.1  # seed 0: 0.77 vs 0.64 (random), 0.94 vs 0.55 (adversarial)


@pytest.mark.parametrize("adversarial", [False, True])
def test_dawid_skene_ranks_the_bad_rater_last(adversarial):
    ratings, _ = planted(adversarial=adversarial)
    rater_accuracy = get_aggregator("dawid_skene").aggregate(ratings).rater_accuracy
    ranked = rater_accuracy.sort_values("accuracy")["rater"].tolist()
    assert ranked[0] == "bad"
    assert rater_accuracy["accuracy"].between(0, 1).all()


def test_dawid_skene_confidence_is_the_top_posterior_and_symmetric_cases_tie():
    ratings = frame([(1, "a", "x"), (1, "b", "y"), (2, "a", "y"), (2, "b", "x")])
    items = get_aggregator("dawid_skene").aggregate(ratings).items
    assert items["tie"].all() and items["label"].isna().all()
    assert items["confidence"].tolist() == pytest.approx([0.5, 0.5])


def test_dawid_skene_handles_one_label_and_single_rater_items():
    ratings = frame([(1, "a", "x"), (1, "b", "x"), (2, "a", "x")])
    items = get_aggregator("dawid_skene").aggregate(ratings).items
    assert items["label"].tolist() == ["x", "x"] and (items["confidence"] == 1.0).all()
