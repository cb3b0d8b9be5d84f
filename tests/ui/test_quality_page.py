"""The label-quality page for leads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from labeling.ml.encoders import HashingEncoder
from labeling.project.tasks import create_task, update_settings
from storage.db import make_engine, session_scope
from tests.factories import CLI, label_all, make_account, make_queue_task, signed_in_app

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
PAGE = "app_pages/quality.py"
pytestmark = pytest.mark.ui




@pytest.fixture
def quality_app(sqlite_env, tmp_path):
    """12 items labeled by ana, ben (always right) and cem (right on a third); an empty task."""
    engine = make_engine(sqlite_env)
    make_queue_task(engine, HashingEncoder(), tmp_path, n_items=12, batch_size=6, k=3)
    raters = [make_account(engine, username=n) for n in ("ana", "ben", "cem")]
    label_all(engine, HashingEncoder(), raters, lambda r, i: ("mood" if i % 2 == 0 else "sleep")
               if r != raters[2] or i % 3 == 0 else "workout")
    create_task(engine=engine, actor=CLI, name="empty", kind="intent", labels=["a", "b"])
    make_account(engine, username="leo", role="lead", password="leo-password")
    return signed_in_app(MAIN, "leo", "leo-password")


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_lead_sees_metrics_charts_and_the_flagged_rater(quality_app):
    at = quality_app.switch_page(PAGE).run()
    assert not at.exception and not at.error
    assert at.title[0].value == "Label quality"
    metrics = _metrics(at)
    assert metrics["Labels"] == "36" and metrics["Raters"] == "3"
    assert metrics["Waiting for adjudication"] == "8"
    assert float(metrics["Krippendorff's α"]) < 1
    raters = at.dataframe[0].value.set_index("rater")
    assert raters.loc["cem", "flagged"] and not raters.loc["ana", "flagged"]
    assert raters.loc["cem", "status"] == "⚠ flagged"
    assert "agreement with consensus 0.33" in raters.loc["cem", "reason"]
    assert len(at.get("vega_lite_chart")) == 5
    assert {b.key for b in at.get("download_button")} == {
        "dl_raters", "dl_agreement_by_week", "dl_throughput", "dl_kappa_pairs", "dl_confusion",
        "dl_label_distribution"}


def test_the_rater_table_explains_the_gold_rule_with_the_task_settings(quality_app, sqlite_env):
    update_settings(engine=make_engine(sqlite_env), task_name="music", actor=CLI,
                    changes={"gold_accuracy_threshold": 0.65, "min_gold_answers": 7})
    at = quality_app.switch_page(PAGE).run()
    assert not at.exception and not at.error
    rule = next(c.value for c in at.caption if c.value.startswith("Flagged (red)"))
    assert "below 60%" in rule  # agreement threshold
    assert "at least 7 gold answers has gold accuracy below 65%" in rule
    assert "not judged yet" in rule
    raters = at.dataframe[0].value.set_index("rater")
    assert set(raters["gold_status"]) == {"not judged yet (0 of 7)"}


def test_a_task_without_labels_says_what_to_do(quality_app):
    at = quality_app.switch_page(PAGE).run()
    at.selectbox(key="quality_task").select("empty").run()
    assert not at.exception and not at.error
    assert "No rater labels for **empty**" in at.info[0].value
    assert not at.metric


def test_a_range_without_labels_says_what_to_do(quality_app):
    at = quality_app.switch_page(PAGE).run()
    today = datetime.now(UTC).date()
    at.date_input(key="quality_range").set_value((today - timedelta(days=90),
                                                   today - timedelta(days=60))).run()
    assert not at.exception and not at.error
    assert "Widen the date range" in at.info[0].value


def test_consensus_is_rewritten_once_per_visit_not_on_every_rerun(quality_app, sqlite_env):
    from sqlmodel import func, select

    from storage.models import Consensus

    def newest_update():
        with session_scope(make_engine(sqlite_env)) as session:
            return session.exec(select(func.max(Consensus.updated_at))).one()

    from storage.models import Label

    at = quality_app.switch_page(PAGE).run()
    first = newest_update()
    with session_scope(make_engine(sqlite_env)) as session:  # every rater changes their mind
        for label in list(session.exec(select(Label).where(Label.item_id == 2))):
            label.superseded = True  # as a correction does: the old label stays, superseded
            session.add(label)
            session.flush()
            session.add(Label(task_id=label.task_id, item_id=2, rater_id=label.rater_id,
                              value="workout", source=label.source, corrects_label_id=label.id))
    at.run()  # any widget change reruns the page
    assert newest_update() == first
    at.button(key="quality_refresh").click()
    at.run()
    assert not at.exception and newest_update() > first
    with session_scope(make_engine(sqlite_env)) as session:
        assert session.get(Consensus, 2).value == "workout"
