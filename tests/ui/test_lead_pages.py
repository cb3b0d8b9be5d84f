"""Leads' pages: task settings (queue, guideline, gold, retrain) and the strategy simulation."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from labeling.ml.encoders import HashingEncoder
from labeling.queue import assignments as queue
from storage.db import make_engine, session_scope
from storage.models import GuidelineVersion, Item, ModelVersion, Task
from tests.factories import acting, make_account, make_queue_task, signed_in_app

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
pytestmark = pytest.mark.ui


@pytest.fixture
def lead_app(sqlite_env, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    engine = make_engine(sqlite_env)
    make_queue_task(engine, HashingEncoder(), tmp_path, n_items=40, batch_size=10)
    make_account(engine, username="leo", role="lead", password="leo-password")
    return signed_in_app(MAIN, "leo", "leo-password"), engine


def _label_some(engine, n_pairs: int) -> None:
    raters = [make_account(engine, username=f"r{i}") for i in range(2)]
    encoder = HashingEncoder()
    for _ in range(n_pairs):
        for rater in raters:
            item = queue.next_item(engine=engine, task_name="music", actor=acting(rater),
                                   encoder=encoder)
            assert item is not None, "the queue ran dry before every pair was labeled"
            value = ("mood", "sleep", "workout")[item.item_id % 3]
            queue.submit(engine=engine, assignment_id=item.assignment_id, actor=acting(rater),
                         value=value)


def test_lead_changes_queue_settings(lead_app):
    at, engine = lead_app
    at.switch_page("app_pages/task_settings.py").run()
    assert not at.exception
    at.number_input(key="set_overlap_k").set_value(3)
    at.selectbox(key="set_strategy").select("entropy")
    at.toggle(key="set_suggestions").set_value(True)
    at.selectbox(key="set_aggregation").select("dawid_skene")
    at.slider(key="set_confidence").set_value(0.8)
    assert at.toggle(key="set_collect_preview").value is True
    at.toggle(key="set_collect_preview").set_value(False)
    assert at.toggle(key="set_self_training").value is False
    # the queue task has an out-of-scope label: the page says self-training would not be used
    assert any("trains on the raters' labels alone" in c.value for c in at.caption)
    at.toggle(key="set_self_training").set_value(True)
    at.button(key="save_settings").click()
    at.run()
    assert "Settings saved." in at.success[0].value
    with session_scope(engine) as session:
        task = session.exec(select(Task)).one()
    assert (task.overlap_k, task.strategy, task.show_suggestions) == (3, "entropy", True)
    assert (task.aggregation, task.confidence_threshold) == ("dawid_skene", 0.8)
    assert task.collect_preview_prompts is False and task.self_training is True


def test_lead_changes_the_gold_settings(lead_app):
    at, engine = lead_app
    at.switch_page("app_pages/task_settings.py").run()
    assert at.slider(key="set_gold_accuracy").value == 0.8
    assert at.number_input(key="set_min_gold").value == 5
    assert "flagged" in at.slider(key="set_gold_accuracy").help
    at.slider(key="set_gold_accuracy").set_value(0.9)
    at.number_input(key="set_min_gold").set_value(10)
    at.button(key="save_settings").click()
    at.run()
    assert not at.exception and "Settings saved." in at.success[0].value
    with session_scope(engine) as session:
        task = session.exec(select(Task)).one()
    assert (task.gold_accuracy_threshold, task.min_gold_answers) == (0.9, 10)
    assert task.confidence_threshold == 0.7  # the consensus setting is its own


def test_each_guideline_save_is_a_new_version(lead_app):
    at, engine = lead_app
    at.switch_page("app_pages/task_settings.py").run()
    at.text_area(key="guideline_music").input("# Music\n\nNew rules.")
    at.button(key="save_guideline").click()
    at.run()
    assert "version 2" in at.success[0].value
    with session_scope(engine) as session:
        versions = session.exec(select(GuidelineVersion.version)).all()
    assert sorted(versions) == [1, 2]


def test_mark_an_item_as_gold(lead_app):
    at, engine = lead_app
    at.switch_page("app_pages/task_settings.py").run()
    at.text_input(key="gold_search").input("number 7")
    at.run()
    at.selectbox(key="gold_answer").select("sleep")
    at.button(key="save_gold").click()
    at.run()
    assert not at.exception
    with session_scope(engine) as session:
        gold = session.exec(select(Item).where(Item.gold_label.is_not(None))).all()
    assert [(g.text.endswith("number 7"), g.gold_label) for g in gold] == [(True, "sleep")]


def test_retrain_button_trains_and_serves_a_model(lead_app):
    at, engine = lead_app
    _label_some(engine, 12)
    at.switch_page("app_pages/task_settings.py").run()
    at.button(key="retrain").click()
    at.run()
    assert not at.exception
    assert "Model v1 trained" in at.success[0].value
    with session_scope(engine) as session:
        assert session.exec(select(ModelVersion.serving)).all() == [True]


def test_simulation_page_shows_learning_curves(lead_app):
    at, engine = lead_app
    _label_some(engine, 30)
    at.switch_page("app_pages/simulation.py").run()
    at.number_input(key="sim_seed_size").set_value(6)
    at.number_input(key="sim_batch").set_value(4)
    at.number_input(key="sim_seeds").set_value(2)
    at.button(key="sim_run").click()
    at.run()
    assert not at.exception and not at.error
    summary = at.dataframe[0].value
    assert set(summary["strategy"]) == {"margin", "random"}
    assert (summary["accuracy_mean"].between(0, 1)).all()


def test_simulation_with_too_few_labels_says_so(lead_app):
    at, _ = lead_app
    at.switch_page("app_pages/simulation.py").run()
    at.button(key="sim_run").click()
    at.run()
    assert not at.exception
    assert "too few" in at.error[0].value
