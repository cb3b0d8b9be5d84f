"""The Preview page: route a prompt, refine it, compare two sides, like a track, report the
output to triage; preview prompts join the labeling pool redacted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlmodel import select

from app.demo import seed_demo
from labeling.ml.encoders import HashingEncoder
from labeling.project.gold import find_items
from routing.preview import impression_log
from safety.triage import triage_queue
from storage.db import make_engine, migrate, session_scope
from storage.models import Item
from tests.factories import CLI, signed_in_app

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
pytestmark = pytest.mark.ui


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory) -> Path:
    """The demo project with its trained models, built once and copied per test."""
    folder = tmp_path_factory.mktemp("preview_demo")
    engine = make_engine(f"sqlite:///{folder / 'workbench.db'}")
    migrate(engine)
    seed_demo(engine=engine, encoder=HashingEncoder(), models_dir=folder / "data" / "models")
    engine.dispose()
    return folder


@pytest.fixture
def demo(demo_file, tmp_path, monkeypatch):
    shutil.copy(demo_file / "workbench.db", tmp_path / "workbench.db")
    shutil.copytree(demo_file / "data", tmp_path / "data")
    url = f"sqlite:///{tmp_path / 'workbench.db'}"
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", url)
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WORKBENCH_ENCODER", "hashing")
    monkeypatch.setenv("WORKBENCH_EXPLORATION", "0")
    monkeypatch.setenv("WORKBENCH_SECRET_KEY", "preview-test-secret-key")
    monkeypatch.delenv("WORKBENCH_DEMO", raising=False)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def _routed(prompt: str, username: str = "leo", password: str = "leo-demo-pw"):
    at = signed_in_app(MAIN, username, password)
    at.switch_page("app_pages/preview.py").run()
    assert not at.exception
    at.text_input(key="preview_prompt").input(prompt)
    next(b for b in at.button if b.label == "Route").click().run()
    assert not at.exception, at.exception
    return at


def _tracks(at) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("**") and " — " in m.value]


def test_a_prompt_shows_the_decision_the_playlist_and_joins_the_pool(demo):
    at = _routed("chill 90s zydeco hip hop for jo@example.com, no explicit", "ana",
                 "ana-demo-pw")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Intent"] not in ("", "—") and metrics["Safety"] in ("allow", "review")
    marked = [m.value for m in at.markdown if "<mark" in m.value]
    assert marked and 'title="era&#61;90s"' in marked[0] and "jo@example.com" not in marked[0]
    tracks = _tracks(at)
    assert len(tracks) == 20 and tracks[0].startswith("**1. ")
    assert any("Added to the labeling pool of intent, safety" in s.value for s in at.success)
    [row] = find_items(engine=demo, actor=CLI, task_name="intent", words="zydeco")
    assert "jo@example.com" not in row.text
    with session_scope(demo) as session:
        item = session.exec(select(Item).where(Item.id == row.item_id)).one()
        assert item.source == "preview" and item.end_user_id and item.pii_types == ["EMAIL"]
    [impression] = impression_log(engine=demo, actor=CLI)
    assert len(impression.shown) == 20 and impression.propensities == [1.0] * 20


def test_without_a_secret_key_the_prompt_is_routed_but_not_collected(demo, monkeypatch):
    monkeypatch.delenv("WORKBENCH_SECRET_KEY")
    at = _routed("calm zydeco for a slow afternoon")
    assert {m.label for m in at.metric} >= {"Intent", "Safety"}
    [warning] = at.warning
    assert "Not added to the labeling pool" in warning.value
    assert "workbench init" in warning.value
    assert find_items(engine=demo, actor=CLI, task_name="intent", words="zydeco") == []


def test_a_chip_the_prompt_already_asked_for_shows_as_on(demo):
    at = _routed("kids party songs")
    chip = at.button(key="chip_no explicit")
    assert chip.proto.type == "primary" and "Already asked for" in chip.proto.help
    assert at.button(key="chip_more acoustic").proto.type == "secondary"


def test_refinements_apply_once_and_reset(demo):
    at = _routed("upbeat pop for a party")
    assert at.button(key="chip_no explicit").proto.type == "secondary"
    at.button(key="chip_no explicit").click().run()
    assert not at.exception
    assert any(c.value == "Applied: no explicit" for c in at.caption)
    first = _tracks(at)
    assert not any(":red-badge[E]" in t for t in first)
    at.button(key="chip_no explicit").click().run()
    assert _tracks(at) == first  # the same refinement twice: the same list
    at.number_input(key="preview_like_track").set_value(3)
    at.button(key="chip_more_like").click().run()
    assert any(c.value.startswith("Applied: no explicit, more like ") for c in at.caption)
    at.button(key="preview_reset").click().run()
    assert not any(c.value.startswith("Applied:") for c in at.caption)


def test_like_and_skip_are_logged_and_a_skip_removes_the_track(demo):
    at = _routed("happy songs for cooking")
    second = _tracks(at)[1]
    at.button(key="like_a_1").click().run()
    at.button(key="skip_a_2").click().run()
    assert not at.exception
    assert second not in _tracks(at)
    actions = [f["action"] for i in impression_log(engine=demo, actor=CLI) for f in i.feedback]
    assert sorted(actions) == ["like", "skip"]


def test_ab_shows_two_ranker_configurations_side_by_side(demo):
    at = _routed("indie for a road trip")
    at.selectbox(key="preview_compare").set_value(("config", "discovery")).run()
    assert not at.exception
    headers = [h.value for h in at.subheader]
    assert headers == ["A: serving", "B: ranker: discovery"]
    assert len(_tracks(at)) == 40
    assert any("tracks in both lists" in c.value for c in at.caption)


def test_a_blocked_prompt_gets_the_fallback_and_a_report_reaches_triage(demo):
    at = _routed("how do I make a pipe bomb")
    assert any("can't make a playlist" in w.value for w in at.warning)
    assert {m.label: m.value for m in at.metric}["Safety"] == "block"
    assert len(_tracks(at)) == 20  # the neutral list
    at.text_area(key="preview_report_note").input("this should never get music at all")
    at.button(key="preview_report").click().run()
    assert not at.exception
    assert any("Reported as flag #" in s.value for s in at.success)
    reported = triage_queue(engine=demo, actor=CLI, origins=["user_report"]).flags
    assert reported and reported[0].reasons[0] == "reported: this should never get music at all"
    assert reported[0].text == "how do I make a pipe bomb"


def test_with_exploration_the_log_holds_propensities_below_one(demo, monkeypatch):
    monkeypatch.setenv("WORKBENCH_EXPLORATION", "0.05")
    _routed("happy pop for a rainy afternoon")
    [impression] = impression_log(engine=demo, actor=CLI)
    assert impression.ranker["config"]["exploration"] == 0.05
    assert len(impression.propensities) == 20
    assert all(0 < p <= 1 for p in impression.propensities)
    assert min(impression.propensities) < 1
