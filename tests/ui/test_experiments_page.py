"""The Experiments page (leads): an empty log and a log without exploration say so plainly;
after impressions with feedback, estimates, verdicts and tables show; a promotion needs a
reason and becomes the Preview's default."""

from __future__ import annotations

import pytest

from routing.promotion import current_promotion
from routing.ranker import CONFIGS
from routing.router import Router
from tests.factories import (
    CLI,
    demo_copy,
    demo_database,
    demo_router,
    log_preview_impressions,
    signed_in_app,
)
from tests.ui.test_preview_page import MAIN

pytestmark = pytest.mark.ui
PAGE = "app_pages/experiments.py"


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    return demo_database(tmp_path_factory)


@pytest.fixture(scope="module")
def router(demo_file) -> Router:
    return demo_router(demo_file, seed=11)


@pytest.fixture
def demo(demo_file, tmp_path, monkeypatch):
    engine = demo_copy(demo_file, tmp_path, monkeypatch, WORKBENCH_EXPLORATION="0")
    yield engine
    engine.dispose()


def _page(username: str = "leo", password: str = "leo-demo-pw"):
    at = signed_in_app(MAIN, username, password)
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def _evaluate(at):
    at.button(key="exp_run").click().run()
    assert not at.exception, at.exception
    return at


def test_an_empty_log_is_said_plainly(demo):
    at = _page()
    assert at.title[0].value == "Experiments"
    assert "picks the configuration **by intent**" in at.info[0].value
    _evaluate(at)
    assert "Cannot evaluate: no impressions logged between" in at.error[0].value
    assert not at.get("vega_lite_chart") and not at.dataframe


def test_a_log_without_exploration_is_said_plainly(demo, router):
    log_preview_impressions(demo, router, n=4, exploration=0.0)
    at = _evaluate(_page())
    assert "Cannot estimate: the log did not explore" in at.warning[0].value
    assert any("4 impressions logged" in c.value for c in at.caption)
    assert not at.get("vega_lite_chart")


def test_estimates_show_after_impressions_with_feedback(demo, router):
    log_preview_impressions(demo, router, n=32, exploration=0.3, config=CONFIGS["balanced"])
    at = _page()
    at.number_input(key="exp_w_skip").set_value(-1.0)
    _evaluate(at)
    assert not at.error
    assert any("32 impressions logged" in c.value and "skip -1" in c.value for c in at.caption)
    assert [h.value for h in at.subheader][:1] == ["Against balanced"]
    verdicts = [m.value for m in at.markdown if "**discovery**:" in m.value]
    assert len(verdicts) == 7  # one per estimator
    assert len(at.get("vega_lite_chart")) == 1
    overall, intents, contexts = (frame.value for frame in at.dataframe)
    ips = overall[(overall["configuration"] == "balanced") & (overall["estimator"] == "IPS")]
    assert ips["value"].notna().all() and (ips["low"] <= ips["high"]).all()
    assert set(overall["configuration"]) == {"balanced", "discovery"}
    # the logged configuration can show its own lists; discovery ranks from other tracks too
    beyond = overall.groupby("configuration")["beyond support %"].max()
    assert beyond["balanced"] == 0.0 and 0.0 < beyond["discovery"] <= 100.0
    assert intents["segment"].nunique() >= 2 and contexts["segment"].nunique() >= 2
    assert set(contexts["estimator"]) == {"self-normalised reward-interaction"}
    at.selectbox(key="exp_estimator").select("ips").run()
    assert not at.exception
    assert set(at.dataframe[2].value["estimator"]) == {"IPS"}


def test_a_promotion_needs_a_reason_and_becomes_the_preview_default(demo):
    at = _page()
    at.selectbox(key="exp_promote_config").select("discovery")
    at.button(key="exp_promote").click().run()
    assert "Not promoted: give a reason" in at.error[0].value
    assert current_promotion(engine=demo, actor=CLI) is None
    at.text_input(key="exp_promote_reason").input("more saves than balanced in November")
    at.button(key="exp_promote").click().run()
    assert not at.exception
    assert "The Preview now uses discovery by default." in at.success[0].value
    assert "uses **discovery** by default, promoted by leo" in at.info[0].value
    promoted = current_promotion(engine=demo, actor=CLI)
    assert (promoted.label, promoted.promoted_by_name) == ("discovery", "leo")
    assert promoted.promoted_by.isdigit()  # the signed-in lead's account id, not a name
    assert promoted.reason == "more saves than balanced in November"
    at.switch_page("app_pages/preview.py").run()
    assert not at.exception
    assert at.selectbox(key="preview_config").value == "discovery"


def test_only_leads_see_the_page(demo):
    at = signed_in_app(MAIN, "ana", "ana-demo-pw")
    with pytest.raises(ValueError, match="Known pages"):
        at.switch_page(PAGE)


def test_an_intent_model_version_is_compared_like_a_configuration(demo, router):
    log_preview_impressions(demo, router, n=24, exploration=0.3, config=CONFIGS["balanced"])
    at = _page()
    assert "intent v1" in at.multiselect(key="exp_targets").options
    at.multiselect(key="exp_targets").set_value(["intent v1"])
    _evaluate(at)
    assert not at.error
    assert len([m.value for m in at.markdown if "**intent v1**:" in m.value]) == 7
    overall = at.dataframe[0].value
    assert set(overall["configuration"]) == {"balanced", "intent v1"}
