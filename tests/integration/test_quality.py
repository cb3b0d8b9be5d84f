"""The label-quality report on stored labels (SQLite and PostgreSQL)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import select

from labeling.exceptions import LabelingError, UnknownTaskError
from labeling.project.gold import mark_gold
from labeling.project.tasks import create_task, update_settings
from labeling.review.quality import quality_report
from storage.db import session_scope
from storage.models import Label
from tests.factories import CLI, label_all, make_account, make_queue_task

OLD = timedelta(days=10)




def _backdate(engine, item_ids, day: date) -> None:
    """Move the labels of these items to noon of ``day`` (UTC)."""
    moment = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    with session_scope(engine) as session:
        session.execute(update(Label).where(Label.item_id.in_(list(item_ids)))
                        .values(submitted_at=moment, shown_at=moment - timedelta(seconds=5)))


@pytest.fixture
def pair(engine, encoder, tmp_path):
    """ana and ben label 12 items: they agree on the 6 even ones and disagree on the 6 odd."""
    make_queue_task(engine, encoder, tmp_path, n_items=12, batch_size=6)
    raters = [make_account(engine, username=n) for n in ("ana", "ben")]
    label_all(engine, encoder, raters,
               lambda r, i: "mood" if i % 2 == 0 or r == raters[0] else "sleep")
    return engine


@pytest.fixture
def today(pair) -> date:
    """The day ``pair``'s labels were submitted (UTC): a suite that runs past midnight must not
    look for them under the day it started."""
    with session_scope(pair) as session:
        return max(session.exec(select(Label.submitted_at))).date()


@pytest.fixture
def trio(engine, encoder, tmp_path):
    """ana and ben always give the answer; cem gets only items 3, 6, 9 and 12 right."""
    make_queue_task(engine, encoder, tmp_path, n_items=12, batch_size=6, k=3)
    raters = [make_account(engine, username=n) for n in ("ana", "ben", "cem")]

    def truth(item_id: int) -> str:
        return "mood" if item_id % 2 == 0 else "sleep"

    label_all(engine, encoder, raters,
               lambda r, i: truth(i) if r != raters[2] or i % 3 == 0 else "workout")
    for item_id in (1, 2, 3, 6):  # cem is right on gold items 3 and 6, wrong on 1, 2
        mark_gold(engine=engine, task_name="music", item_id=item_id, answer=truth(item_id),
                  actor=CLI)
    return engine


def test_two_raters_agreeing_on_half_the_items(pair, today):
    report = quality_report(engine=pair, actor=CLI, task_name="music", start=None, end=None)
    assert (report.n_labels, report.n_raters, report.n_items) == (24, 2, 12)
    assert report.mean_pairwise_agreement == pytest.approx(0.5)
    assert report.waiting_for_adjudication == 6  # the ties
    kappa = report.kappa_pairs.to_dict("records")
    assert [(k["rater_a"], k["rater_b"], k["n_shared"]) for k in kappa] == [("ana", "ben", 12)]
    assert kappa[0]["kappa"] == pytest.approx(0.0)  # ana always says mood: no better than chance
    week = report.agreement_by_week.to_dict("records")
    assert len(week) == 1 and week[0]["n_items"] == 12
    assert week[0]["mean_pairwise_agreement"] == pytest.approx(0.5)
    raters = report.raters.set_index("rater")
    assert raters["labels"].to_dict() == {"ana": 12, "ben": 12}
    # each is compared with the other rater's label (their own vote left out): half agree
    assert raters["n_compared"].to_dict() == {"ana": 12, "ben": 12}
    assert raters["agreement_with_consensus"].to_dict() == {"ana": 0.5, "ben": 0.5}
    assert raters["flagged"].all()
    assert raters.loc["ana", "reason"] == "agreement with consensus 0.50 < 0.60"
    assert (raters["median_seconds"] >= 0).all()
    confusion = report.confusion.set_index(["rater_label", "consensus_label"])["count"]
    assert confusion.to_dict() == {("mood", "mood"): 12, ("mood", "(tie)"): 6,
                                   ("sleep", "(tie)"): 6}
    distribution = report.label_distribution.set_index("label")["count"].to_dict()
    assert distribution == {"mood": 18, "sleep": 6}
    day = report.throughput.set_index("day").loc[str(today)]
    assert (day["labels"], day["items_completed"]) == (24, 12)


def test_a_rater_who_disagrees_with_consensus_and_gold_is_flagged(trio):
    report = quality_report(engine=trio, actor=CLI, task_name="music", start=None, end=None)
    raters = report.raters.set_index("rater")
    assert raters.loc["cem", "agreement_with_consensus"] == pytest.approx(4 / 12)
    assert raters.loc["ana", "agreement_with_consensus"] == 1.0
    assert raters["n_gold"].to_dict() == {"ana": 4, "ben": 4, "cem": 4}
    assert raters["gold_accuracy"].to_dict() == {"ana": 1.0, "ben": 1.0, "cem": 0.5}
    assert raters["flagged"].to_dict() == {"ana": False, "ben": False, "cem": True}
    # four gold answers are fewer than the task's five: gold does not judge anyone yet
    assert raters.loc["cem", "reason"] == "agreement with consensus 0.33 < 0.60"
    assert set(raters["gold_status"]) == {"not judged yet (4 of 5)"}
    assert (report.gold_accuracy_threshold, report.min_gold_answers) == (0.8, 5)
    assert raters.loc["cem", "ds_accuracy"] < raters.loc["ana", "ds_accuracy"]
    assert report.n_flagged == 1
    kappa = report.kappa_pairs.set_index(["rater_a", "rater_b"])["kappa"]
    assert kappa[("ana", "ben")] == pytest.approx(1.0)
    assert kappa[("ana", "cem")] < 0.5
    confusion = report.confusion.set_index(["rater_label", "consensus_label"])["count"]
    assert confusion[("workout", "mood")] + confusion[("workout", "sleep")] == 8
    assert confusion[("mood", "mood")] == 6 * 2 + 2  # ana, ben on 6 items; cem on 12 and 6
    # a 2-of-3 majority is below the confidence threshold 0.7: those 8 wait for a reviewer
    assert report.waiting_for_adjudication == 8


def _cem_on_gold(engine, **settings) -> tuple[str, str]:
    update_settings(engine=engine, task_name="music", changes=settings, actor=CLI)
    raters = quality_report(engine=engine, actor=CLI, task_name="music", start=None,
                            end=None).raters
    cem = raters.set_index("rater").loc["cem"]
    return cem["gold_status"], cem["reason"]


def test_gold_flags_follow_the_gold_settings_not_the_confidence_threshold(trio):
    status, reason = _cem_on_gold(trio, min_gold_answers=4)
    assert status == "judged"
    assert reason == ("agreement with consensus 0.33 < 0.60; "
                      "gold accuracy 0.50 < gold threshold 0.80 (4 gold answers)")
    # cem's 0.50 on gold: a strict consensus confidence no longer flags it...
    _, reason = _cem_on_gold(trio, gold_accuracy_threshold=0.4, confidence_threshold=0.9)
    assert "gold" not in reason
    # ...and a lax one no longer spares it
    _, reason = _cem_on_gold(trio, gold_accuracy_threshold=0.6, confidence_threshold=0.1)
    assert reason.endswith("gold accuracy 0.50 < gold threshold 0.60 (4 gold answers)")
    status, reason = _cem_on_gold(trio, min_gold_answers=5)
    assert (status, "gold" in reason) == ("not judged yet (4 of 5)", False)


def test_the_date_range_keeps_only_labels_submitted_in_it(pair, today):
    old_day = today - OLD
    _backdate(pair, range(1, 7), old_day)
    recent = quality_report(engine=pair, actor=CLI, task_name="music",
                            start=old_day + timedelta(days=1), end=today)
    assert (recent.n_labels, recent.n_items) == (12, 6)
    assert recent.throughput["labels"].sum() == 12
    assert recent.throughput["items_completed"].sum() == 6
    assert recent.throughput["day"].min() == datetime(*(old_day + timedelta(days=1)).timetuple()
                                                      [:3])
    old = quality_report(engine=pair, actor=CLI, task_name="music", start=old_day, end=old_day)
    assert (old.n_labels, old.n_items) == (12, 6)
    assert old.throughput.to_dict("records") == [
        {"day": datetime(*old_day.timetuple()[:3]), "labels": 12, "items_completed": 6}]
    everything = quality_report(engine=pair, actor=CLI, task_name="music", start=None, end=None)
    assert len(everything.throughput) == 11  # old_day to today, quiet days as zeros
    assert everything.throughput["labels"].sum() == 24
    same_week = old_day - timedelta(days=old_day.weekday()) == today - timedelta(
        days=today.weekday())
    assert len(everything.agreement_by_week) == (1 if same_week else 2)


def test_an_empty_range_or_task_gives_empty_tables(pair, today):
    create_task(engine=pair, actor=CLI, name="empty", kind="intent", labels=["a", "b"])
    for task, start in (("empty", None), ("music", today + timedelta(days=1))):
        report = quality_report(engine=pair, actor=CLI, task_name=task, start=start, end=None)
        assert report.empty and report.n_raters == 0
        assert math.isnan(report.alpha_nominal) and math.isnan(report.fleiss_kappa)
        assert all(table.empty for table in report.tables().values())
        assert "flagged" in report.raters.columns


def test_refuses_unknown_task_and_reversed_range(pair, today):
    with pytest.raises(UnknownTaskError):
        quality_report(engine=pair, actor=CLI, task_name="nope", start=None, end=None)
    with pytest.raises(LabelingError, match="swap"):
        quality_report(engine=pair, actor=CLI, task_name="music", start=today, end=today - OLD)
