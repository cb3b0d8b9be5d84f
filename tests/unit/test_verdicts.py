"""Plain-words verdicts: better, worse, cannot tell apart, too little support, no exploration;
and the same verdicts from arrays through ``paired_verdicts``."""

from __future__ import annotations

import numpy as np
import pytest

from routing.counterfactual import LoggedLists, Replayed
from routing.offpolicy import ESTIMATORS, Difference, SupportError
from routing.verdicts import (
    BETTER,
    NO_EXPLORATION,
    NO_SUPPORT,
    TIE,
    UNUSABLE,
    WORSE,
    brief,
    paired_verdicts,
    refusal_verdict,
    verdict_text,
)


def _difference(difference: float, low: float, high: float, *, baseline: float = 1.0,
                relative_spread: float = 1.2) -> Difference:
    relative = 100 * difference / baseline if baseline else None
    return Difference(
        estimator="reward_interaction", value_a=baseline + difference, value_b=baseline,
        difference=difference, low=low, high=high, relative=relative,
        relative_low=None if relative is None else relative - relative_spread,
        relative_high=None if relative is None else relative + relative_spread,
        effective_sessions=400.0, sessions=500)


def test_better_and_worse_in_percent_of_the_baseline():
    assert verdict_text("discovery", "balanced", _difference(0.031, 0.019, 0.043)) == (
        BETTER, "discovery better than balanced by 3.1% ± 1.2% (reward-interaction estimator)")
    assert verdict_text("discovery", "balanced", _difference(-0.05, -0.08, -0.02)) == (
        WORSE, "discovery worse than balanced by 5.0% ± 1.2% (reward-interaction estimator)")


def test_without_a_baseline_value_the_difference_is_in_reward():
    kind, text = verdict_text("a", "b", _difference(0.12, 0.07, 0.17, baseline=0.0))
    assert kind == BETTER
    assert text == "a better than b by 0.120 ± 0.050 reward per session " \
                   "(reward-interaction estimator)"


def test_an_interval_spanning_zero_cannot_tell_apart():
    kind, text = verdict_text("a", "b", _difference(0.02, -0.01, 0.05))
    assert kind == TIE
    assert text.startswith("cannot tell apart: the interval of the difference spans 0 "
                           "(-0.010 to +0.050")


def test_refusals_say_why():
    thin = refusal_verdict("a", "b", "ips", SupportError("x", sessions=1200,
                                                         effective_sessions=8.25))
    assert (thin.kind, thin.text) == (NO_SUPPORT, "cannot tell: too little support (1,200 "
                                                  "sessions count as 8.2; IPS estimator)")
    beyond = refusal_verdict("a", "b", "ips", SupportError("x", beyond_support=0.62))
    assert (beyond.kind, beyond.text) == (
        NO_SUPPORT, "cannot tell: too little support (62% of the lists reach tracks the logged "
                    "configuration could not show; IPS estimator)")
    flat = refusal_verdict("a", "b", "ips", SupportError("did not explore"))
    assert flat.kind == NO_EXPLORATION
    assert flat.text.startswith("cannot estimate: the log did not explore (every logged "
                                "probability is 1)")
    assert brief("ips: too little support: 3 sessions count as 1.0; log more") == \
        "too little support: 3 sessions count as 1.0"


def _log(n: int, k: int = 2, *, explore: bool = True) -> LoggedLists:
    rng = np.random.default_rng(0)
    propensities = rng.uniform(0.5, 0.9, (n, k)) if explore else np.ones((n, k))
    return LoggedLists(np.arange(n), np.tile(np.arange(k), (n, 1)), propensities,
                       rng.binomial(1, 0.4, (n, k)).astype(float))


def _replayed(log: LoggedLists, target: np.ndarray) -> Replayed:
    n = len(log.context)
    return Replayed(target, target, log.propensities, np.zeros(n), np.zeros(n))


def test_paired_verdicts_from_arrays():
    log = _log(400)
    same = _replayed(log, log.propensities)
    lower = _replayed(log, log.propensities * 0.8)  # every list 0.64 times as likely
    verdicts = paired_verdicts(log, {"base": same, "low": lower}, baseline="base", rounds=200)
    assert [(v.target, v.baseline) for v in verdicts] == [("low", "base")] * len(ESTIMATORS)
    by_estimator = {v.estimator: v for v in verdicts}
    assert by_estimator["ips"].kind == WORSE and "36.0%" in by_estimator["ips"].text
    for name in ("snips", "sn_reward_interaction", "sn_independent_position"):
        assert by_estimator[name].kind == TIE, by_estimator[name]  # a constant factor cancels
    assert by_estimator["ips"].difference.difference == pytest.approx(
        -0.36 * log.rewards.sum(axis=1).mean())


def test_paired_verdicts_refuse_unexplored_and_unusable_inputs():
    flat = _log(50, explore=False)
    verdicts = paired_verdicts(flat, {"a": _replayed(flat, flat.propensities),
                                      "b": _replayed(flat, flat.propensities)},
                               baseline="a", rounds=50)
    assert {v.kind for v in verdicts} == {NO_EXPLORATION}
    log = _log(50)
    broken = Replayed(log.propensities, log.propensities, np.zeros_like(log.propensities),
                      np.zeros(50), np.zeros(50))  # a logged position's marginal came out 0
    [verdict] = paired_verdicts(log, {"a": broken, "b": broken}, baseline="a", rounds=50,
                                estimators=["independent_position"])
    assert verdict.kind == UNUSABLE and "came out 0" in verdict.text
