"""When the rater table flags a rater on gold: the task's gold settings, not its consensus ones."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from labeling.metrics.rater_quality import RATER_COLUMNS, rater_table

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def _labels(gold_answers: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """Each rater's (right, wrong) answers on their own gold items, plus one unsure answer.

    No item has a second rater, so agreement with consensus is undefined (NaN) and only gold
    can flag anyone.
    """
    rows, item = [], 0
    for rater, (right, wrong) in gold_answers.items():
        for correct in [True] * right + [False] * wrong + [None]:
            item += 1
            rows.append({"label_id": item, "item_id": item, "rater": rater,
                         "value": "a" if correct in (True, None) else "b",
                         "unsure": correct is None, "submitted_at": NOW, "seconds": 3.0,
                         "is_gold": True, "gold_label": "a"})
    return pd.DataFrame(rows)


def _table(labels: pd.DataFrame, **settings) -> pd.DataFrame:
    options = {"agreement_threshold": 0.6, "gold_accuracy_threshold": 0.8,
               "min_gold_answers": 5, **settings}
    return rater_table(labels, {}, **options).set_index("rater")


def test_below_the_minimum_gold_never_flags_even_at_zero_accuracy():
    raters = _table(_labels({"ana": (0, 4)}))
    assert raters.loc["ana", "n_gold"] == 4  # the unsure answer is not a gold answer
    assert raters.loc["ana", "gold_accuracy"] == 0.0
    assert not raters.loc["ana", "flagged"]
    assert raters.loc["ana", "reason"] == ""
    assert raters.loc["ana", "gold_status"] == "not judged yet (4 of 5)"


def test_a_rater_without_gold_is_not_judged_yet():
    labels = _labels({"ana": (0, 0)})
    raters = _table(labels)
    assert raters.loc["ana", "n_gold"] == 0
    assert raters.loc["ana", "gold_status"] == "not judged yet (0 of 5)"
    assert not raters.loc["ana", "flagged"]


@pytest.mark.parametrize("right, wrong", [(3, 2), (4, 3)])  # exactly the minimum, and over it
def test_at_or_over_the_minimum_and_below_the_threshold_flags_naming_it(right, wrong):
    raters = _table(_labels({"cem": (right, wrong)}))
    accuracy = right / (right + wrong)
    assert raters.loc["cem", "flagged"]
    assert raters.loc["cem", "gold_status"] == "judged"
    assert raters.loc["cem", "reason"] == (
        f"gold accuracy {accuracy:.2f} < gold threshold 0.80 ({right + wrong} gold answers)")


def test_at_the_threshold_is_not_flagged():
    raters = _table(_labels({"ana": (4, 1)}))  # 0.80 exactly
    assert raters.loc["ana", "gold_accuracy"] == pytest.approx(0.8)
    assert not raters.loc["ana", "flagged"] and raters.loc["ana", "gold_status"] == "judged"


def test_the_gold_settings_move_the_flag():
    labels = _labels({"ana": (3, 1), "ben": (9, 1)})  # 0.75 on 4, 0.90 on 10
    assert _table(labels)["flagged"].to_dict() == {"ana": False, "ben": False}
    assert _table(labels, min_gold_answers=4)["flagged"].to_dict() == {"ana": True,
                                                                       "ben": False}
    assert _table(labels, gold_accuracy_threshold=0.95)["flagged"].to_dict() == {
        "ana": False, "ben": True}


def test_agreement_with_consensus_still_flags_on_its_own_threshold():
    rows = [{"label_id": n, "item_id": item, "rater": rater, "value": value, "unsure": False,
             "submitted_at": NOW, "seconds": 2.0, "is_gold": False, "gold_label": None}
            for n, (item, rater, value) in enumerate(
                [(1, "ana", "a"), (1, "ben", "b"), (2, "ana", "a"), (2, "ben", "a")])]
    raters = _table(pd.DataFrame(rows))
    assert raters["agreement_with_consensus"].to_dict() == {"ana": 0.5, "ben": 0.5}
    assert raters["reason"].to_dict() == {"ana": "agreement with consensus 0.50 < 0.60",
                                          "ben": "agreement with consensus 0.50 < 0.60"}
    assert raters["gold_status"].to_dict() == {"ana": "not judged yet (0 of 5)",
                                               "ben": "not judged yet (0 of 5)"}


def test_an_empty_frame_has_every_column():
    empty = rater_table(pd.DataFrame(columns=["rater"]), {}, agreement_threshold=0.6,
                        gold_accuracy_threshold=0.8, min_gold_answers=5)
    assert list(empty.columns) == list(RATER_COLUMNS) and "gold_status" in empty.columns
