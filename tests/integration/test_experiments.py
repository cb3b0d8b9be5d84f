"""Offline evaluation on the preview's impression log, logged through the preview's services:
a target equal to the logging configuration estimates the logged mean reward; a log without
exploration is refused by every estimator; impressions that cannot be replayed are counted;
a promotion is audited and becomes the preview's default."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import select

from routing.experiments import ExperimentError, evaluate_log
from routing.impression_log import MISSING_TRACKS, NO_PARTS, NOT_LOGGED, SIDE_BY_SIDE
from routing.preview import impression_log, log_impression
from routing.promotion import (
    BY_INTENT,
    RankerPromotionError,
    current_promotion,
    preview_config,
    preview_default,
    promote_config,
    promotion_history,
)
from routing.ranker import CONFIGS, UnknownConfigError
from routing.reward import RewardWeights
from routing.router import Router
from routing.session import start
from storage.db import make_engine, session_scope
from storage.models import AuditEvent, Impression
from tests.factories import (
    CLI,
    acting,
    demo_database,
    demo_router,
    feedback_rule,
    log_preview_impressions,
    make_account,
)

FAST = {"rounds": 100, "samples": 20}
TARGETS = [CONFIGS["balanced"], CONFIGS["discovery"]]


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory) -> Path:
    """The demo project with its trained models (so impressions have intents)."""
    return demo_database(tmp_path_factory)


@pytest.fixture(scope="module")
def router(demo_file) -> Router:
    return demo_router(demo_file, seed=5)


@pytest.fixture
def demo(demo_file, tmp_path):
    shutil.copy(demo_file / "workbench.db", tmp_path / "workbench.db")
    engine = make_engine(f"sqlite:///{tmp_path / 'workbench.db'}")
    yield engine
    engine.dispose()


def _logged_mean(engine, weights: RewardWeights) -> float:
    totals = [sum(getattr(weights, action) for position in range(1, len(i.shown) + 1)
                  for action in feedback_rule(i.id, position))
              for i in impression_log(engine=engine, actor=CLI)]
    return float(np.mean(totals))


def test_a_target_equal_to_the_logging_configuration_estimates_the_logged_mean(demo, router):
    ids = log_preview_impressions(demo, router, n=36, exploration=0.3,
                                  config=CONFIGS["balanced"])
    evaluation = evaluate_log(engine=demo, actor=CLI, targets=TARGETS, **FAST)
    assert evaluation.used == len(ids) == 36 and evaluation.skipped == {}
    assert evaluation.explored and evaluation.notice is None
    assert evaluation.overall.logged_mean == pytest.approx(_logged_mean(demo, RewardWeights()))
    found = {o.estimator: o.estimate for o in evaluation.overall.outcomes["balanced"]}
    for name in ("ips", "snips", "reward_interaction", "sn_reward_interaction"):
        estimate = found[name]
        assert estimate is not None, name
        assert estimate.value == pytest.approx(evaluation.overall.logged_mean, rel=0.02)
        assert estimate.low <= evaluation.overall.logged_mean <= estimate.high
        assert estimate.effective_sessions == pytest.approx(36, rel=0.05)
    assert sum(s.sessions for s in evaluation.by_intent) == 36
    assert sum(s.sessions for s in evaluation.by_context) == 36
    assert {s.segment for s in evaluation.by_context} <= {
        f"{t} / {d}" for t in ("-", "morning", "evening") for d in ("-", "phone")}
    assert NOT_LOGGED not in {s.segment for s in evaluation.by_intent}  # intents are logged
    assert [(v.target, v.baseline) for v in evaluation.verdicts] == [("discovery",
                                                                      "balanced")] * 7
    assert all(v.text for v in evaluation.verdicts)
    rows = evaluation.as_dict()["estimates"]
    assert len(rows) == 7 * 2 * len(evaluation.segments())  # estimators x configurations



def test_without_exploration_every_estimator_is_refused(demo, router):
    log_preview_impressions(demo, router, n=8, exploration=0.0, config=CONFIGS["balanced"])
    evaluation = evaluate_log(engine=demo, actor=CLI, targets=TARGETS, **FAST)
    assert not evaluation.explored and evaluation.used == 8
    assert "did not explore" in evaluation.notice
    outcomes = [o for s in evaluation.segments() for os in s.outcomes.values() for o in os]
    assert outcomes and all(o.estimate is None and "did not explore" in o.refused
                            for o in outcomes)
    assert {v.kind for v in evaluation.verdicts} == {"no_exploration"}
    assert all(v.text.startswith("cannot estimate: the log did not explore")
               for v in evaluation.verdicts)
    saves = RewardWeights(like=0, save=1, skip=0)  # "on saves": the same log, other weights
    on_saves = evaluate_log(engine=demo, actor=CLI, targets=TARGETS, weights=saves, **FAST)
    assert evaluation.overall.logged_mean == pytest.approx(_logged_mean(demo, RewardWeights()))
    assert on_saves.overall.logged_mean == pytest.approx(_logged_mean(demo, saves))
    assert on_saves.overall.logged_mean != evaluation.overall.logged_mean


def test_impressions_that_cannot_be_replayed_are_skipped_and_counted(demo, router):
    ids = log_preview_impressions(demo, router, n=4, exploration=0.3,
                                  config=CONFIGS["balanced"])
    state = start("happy songs for cooking")
    side_by_side = router.route(state.prompt, config=CONFIGS["discovery"], exploration=0.3,
                                use_cache=False, **state.route_arguments())
    log_impression(engine=demo, actor=CLI, result=side_by_side, state=state, session_id="ab",
                   interactive=False)
    with session_scope(demo) as session:
        model = session.get(Impression, ids[0])
        old = {"prompt_id": "old", "prompt": "old", "session_id": "old",
               "context": {}, "slots": {}, "shown": model.shown,
               "propensities": model.propensities}
        ranker = {k: v for k, v in model.ranker.items() if k not in ("intent", "interactive")}
        session.add(Impression(**old, ranker=ranker, candidates=[
            {"track_id": c["track_id"], "score": c["score"]} for c in model.candidates]))
        session.add(Impression(**old, ranker=ranker, candidates=[
            *model.candidates, {**model.candidates[0], "track_id": "gone"}]))
    evaluation = evaluate_log(engine=demo, actor=CLI, targets=TARGETS, **FAST)
    assert evaluation.used == 4
    assert evaluation.skipped == {NO_PARTS: 1, MISSING_TRACKS: 1, SIDE_BY_SIDE: 1}


def test_an_empty_or_unusable_window_is_refused_with_the_reason(demo, router):
    with pytest.raises(ExperimentError, match="no impressions logged"):
        evaluate_log(engine=demo, actor=CLI, targets=TARGETS, **FAST)
    [first] = log_preview_impressions(demo, router, n=1, exploration=0.3)
    with session_scope(demo) as session:
        row = session.get(Impression, first)
        row.candidates = [{"track_id": c["track_id"]} for c in row.candidates]
        session.add(row)
    with pytest.raises(ExperimentError, match=re.escape(f"can be evaluated: 1 {NO_PARTS}")):
        evaluate_log(engine=demo, actor=CLI, targets=TARGETS, **FAST)
    later = datetime.now(UTC) + timedelta(days=1)
    with pytest.raises(ExperimentError, match="no impressions logged since"):
        evaluate_log(engine=demo, actor=CLI, targets=TARGETS, since=later, **FAST)
    with pytest.raises(ExperimentError, match="the window is empty"):
        evaluate_log(engine=demo, actor=CLI, targets=TARGETS, since=later, until=later, **FAST)
    with pytest.raises(ExperimentError, match="two or more configurations"):
        evaluate_log(engine=demo, actor=CLI, targets=TARGETS[:1], **FAST)
    with pytest.raises(ExperimentError, match="given twice"):
        evaluate_log(engine=demo, actor=CLI, targets=[CONFIGS["balanced"]] * 2, **FAST)


def test_old_impressions_without_an_intent_are_read(demo, router):
    ids = log_preview_impressions(demo, router, n=3, exploration=0.3)
    assert all("intent" in i.ranker for i in impression_log(engine=demo, actor=CLI))
    with session_scope(demo) as session:
        row = session.get(Impression, ids[0])
        row.ranker = {k: v for k, v in row.ranker.items() if k != "intent"}
        session.add(row)
    evaluation = evaluate_log(engine=demo, actor=CLI, targets=TARGETS, **FAST)
    assert NOT_LOGGED in {s.segment for s in evaluation.by_intent}


def test_a_promotion_is_kept_with_its_reason_and_audited(engine):
    leo = acting(make_account(engine, username="leo", role="lead"))
    ana = acting(make_account(engine, username="ana", role="lead"))
    assert current_promotion(engine=engine, actor=leo) is None
    assert preview_default(engine=engine, actor=leo) == BY_INTENT
    assert preview_config(engine=engine, actor=leo) is None
    with pytest.raises(RankerPromotionError, match="give a reason"):
        promote_config(engine=engine, name="discovery", actor=leo, reason="  ")
    with pytest.raises(UnknownConfigError, match="unknown ranker configuration 'fastest'"):
        promote_config(engine=engine, name="fastest", actor=leo, reason="why not")
    with pytest.raises(RankerPromotionError, match="already the preview's default"):
        promote_config(engine=engine, name=BY_INTENT, actor=leo, reason="undo")
    promoted = promote_config(engine=engine, name="discovery", actor=leo,
                              reason="more saves on the last month",
                              evidence={"verdicts": ["discovery better than balanced"]})
    # kept and audited under the lead's account id; the leads' pages show the username
    assert (promoted.label, promoted.promoted_by, promoted.promoted_by_name) == (
        "discovery", str(leo.id), "leo")
    assert promoted.config == CONFIGS["discovery"].as_dict()
    assert preview_default(engine=engine, actor=leo) == "discovery"
    assert preview_config(engine=engine, actor=leo) == CONFIGS["discovery"]
    assert preview_config(engine=engine, actor=leo, choice=BY_INTENT) is None
    with pytest.raises(RankerPromotionError, match="already"):
        promote_config(engine=engine, name="discovery", actor=leo, reason="again")
    promote_config(engine=engine, name=BY_INTENT, actor=ana, reason="back to intents")
    assert [p.label for p in promotion_history(engine=engine, actor=CLI)] == [BY_INTENT,
                                                                              "discovery"]
    assert promotion_history(engine=engine, actor=CLI)[1].evidence == {
        "verdicts": ["discovery better than balanced"]}
    with session_scope(engine) as session:
        events = session.exec(select(AuditEvent).where(
            AuditEvent.action == "ranker.promote").order_by(AuditEvent.id)).all()
    assert [(e.actor, e.before["config"], e.after["config"]) for e in events] == [
        (str(leo.id), BY_INTENT, "discovery"), (str(ana.id), "discovery", BY_INTENT)]
    assert events[0].after["reason"] == "more saves on the last month"


def test_the_preview_serves_the_promoted_configuration_by_default(demo, router):
    promote_config(engine=demo, name="relevance-only", actor=CLI, reason="try it")
    log_preview_impressions(demo, router, n=2, exploration=0.3,
                            config=preview_config(engine=demo, actor=CLI))
    assert {i.ranker["config"]["name"] for i in impression_log(engine=demo, actor=CLI)} == {
        "relevance-only"}


def _estimates(segment, name: str) -> dict:
    return {o.estimator: None if o.estimate is None else (o.estimate.value, o.estimate.low,
                                                          o.estimate.high)
            for o in segment.outcomes[name]}


def test_an_intent_model_version_is_judged_by_the_configuration_its_intents_pick(demo, router):
    """The demo's serving model is the one that routed the log: where it read a prompt as
    discovery, the version's target is the discovery configuration, elsewhere balanced."""
    from labeling.ml.encoders import HashingEncoder
    from routing.experiments import IntentTarget

    log_preview_impressions(demo, router, n=60, exploration=0.3, config=CONFIGS["balanced"])
    version = IntentTarget(task="intent", version=router.intent.version)
    evaluation = evaluate_log(engine=demo, actor=CLI, encoder=HashingEncoder(), **FAST,
                              targets=[CONFIGS["balanced"], CONFIGS["discovery"], version])
    assert evaluation.configs == ["balanced", "discovery", "intent v1"]
    intents = {s.segment for s in evaluation.by_intent}
    assert "discovery" in intents and len(intents) > 1  # both kinds of prompt were logged
    for segment in evaluation.by_intent:
        same_as = "discovery" if segment.segment == "discovery" else "balanced"
        assert _estimates(segment, "intent v1") == _estimates(segment, same_as), segment.segment
    verdict = [v for v in evaluation.verdicts if v.target == "intent v1"]
    assert verdict and all(v.baseline == "balanced" for v in verdict)
    with pytest.raises(ExperimentError, match="needs the encoder"):
        evaluate_log(engine=demo, actor=CLI, targets=[CONFIGS["balanced"], version], **FAST)
    with pytest.raises(ExperimentError, match="cannot judge intent intent model v9"):
        evaluate_log(engine=demo, actor=CLI, encoder=HashingEncoder(), **FAST,
                     targets=[CONFIGS["balanced"], IntentTarget(task="intent", version=9)])
