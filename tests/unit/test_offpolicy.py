"""Off-policy estimators: hand-computed values on a two-session log, their intervals and
effective sample sizes, refusals without exploration or support, and unbiasedness where the
truth is known."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from routing.offpolicy import (
    SupportError,
    Terms,
    cascade_weights,
    compare,
    dr_terms,
    effective_sessions,
    estimate,
    extrapolated,
    independent_position_terms,
    ips_terms,
    list_weights,
    reward_interaction_terms,
    sn_independent_position_terms,
    sn_reward_interaction_terms,
    snips_terms,
)

# two sessions, two positions each
REWARDS = np.array([[1.0, 0.0],    # session 1: a reward at the top only
                    [0.0, 1.0]])   # session 2: at the second position only
LOGGING = np.array([[0.5, 0.5],
                    [0.25, 0.5]])
TARGET = np.array([[1.0, 0.25],
                   [0.5, 1.0]])
# by hand: ratios [[2, 0.5], [2, 2]]; list weights [1, 4]; cascade weights [[2, 1], [2, 4]]


def _value(terms) -> float:
    numerator, denominator = terms.columns()
    return float((numerator.sum(axis=0) / denominator.sum(axis=0)).sum())


def test_weights_by_hand():
    np.testing.assert_allclose(list_weights(LOGGING, TARGET), [1.0, 4.0])
    np.testing.assert_allclose(cascade_weights(LOGGING, TARGET), [[2.0, 1.0], [2.0, 4.0]])
    assert effective_sessions(np.array([1.0, 4.0])) == pytest.approx(25 / 17)
    assert effective_sessions(np.ones(10)) == pytest.approx(10.0)


def test_estimators_by_hand():
    # IPS: (1 * 1 + 4 * 1) / 2
    assert _value(ips_terms(REWARDS, LOGGING, TARGET)) == pytest.approx(2.5)
    # SNIPS: (1 * 1 + 4 * 1) / (1 + 4)
    assert _value(snips_terms(REWARDS, LOGGING, TARGET)) == pytest.approx(1.0)
    # RIPS: session 1: 2 * 1 + 1 * 0; session 2: 2 * 0 + 4 * 1; mean (2 + 4) / 2
    assert _value(reward_interaction_terms(REWARDS, LOGGING, TARGET)) == pytest.approx(3.0)
    # independent positions, marginal ratios [[2, 0.5], [2, 2]]: (2 * 1 + 2 * 1) / 2
    assert _value(independent_position_terms(REWARDS, LOGGING, TARGET)) == pytest.approx(2.0)
    # DR: model 0.8 on each logged list, 0.6 and 0.9 for the target's; weights [1, 4]
    # session 1: 0.6 + 1 * (1 - 0.8) = 0.8; session 2: 0.9 + 4 * (1 - 0.8) = 1.7
    terms = dr_terms(REWARDS, LOGGING, TARGET, predicted_logged=np.array([0.8, 0.8]),
                     predicted_target=np.array([0.6, 0.9]))
    assert _value(terms) == pytest.approx(1.25)


def test_estimators_normalised_position_by_position_by_hand():
    # cascade weights [[2, 1], [2, 4]]: top (2 * 1 + 2 * 0) / (2 + 2); second
    # (1 * 0 + 4 * 1) / (1 + 4)
    terms = sn_reward_interaction_terms(REWARDS, LOGGING, TARGET)
    assert _value(terms) == pytest.approx(0.5 + 0.8)
    np.testing.assert_allclose(terms.weights, [1.0, 4.0])  # the whole list's, for support
    # marginal ratios [[2, 0.5], [2, 2]]: top 2 / (2 + 2); second 2 / (0.5 + 2)
    assert _value(sn_independent_position_terms(REWARDS, LOGGING, TARGET)) == \
        pytest.approx(0.5 + 0.8)
    # the estimate and its bootstrap read the same per-position ratios
    found = estimate("sn_reward_interaction", terms, rounds=50, min_effective_sessions=1.0)
    assert found.value == pytest.approx(1.3)
    assert found.low <= found.value <= found.high


def test_normalising_position_by_position_cancels_a_constant_factor_per_position():
    rewards, logging, target = _log(300)
    halved = target.copy()
    halved[:, 0] *= 0.5  # every list half as likely at the top: the ratios scale, not shift
    for terms in (sn_reward_interaction_terms, sn_independent_position_terms):
        assert _value(terms(rewards, logging, halved)) == pytest.approx(
            _value(terms(rewards, logging, target)))
    assert _value(reward_interaction_terms(rewards, logging, halved)) < \
        _value(reward_interaction_terms(rewards, logging, target))


def test_a_perfect_reward_model_needs_no_correction():
    totals = REWARDS.sum(axis=1)
    terms = dr_terms(REWARDS, LOGGING, TARGET, predicted_logged=totals,
                     predicted_target=np.array([0.3, 0.7]))
    assert _value(terms) == pytest.approx(0.5)


def _log(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    logging = rng.uniform(0.3, 0.9, size=(n, 3))
    target = np.clip(logging * rng.uniform(0.7, 1.3, size=(n, 3)), 0, 1)
    rewards = rng.binomial(1, 0.3, size=(n, 3)).astype(float)
    return rewards, logging, target


def test_the_interval_surrounds_the_value_and_is_reproducible():
    terms = ips_terms(*_log(500))
    first = estimate("ips", terms, seed=3)
    assert first.low < first.value < first.high
    assert first == estimate("ips", terms, seed=3)
    assert first.sessions == 500 and 30 < first.effective_sessions <= 500
    narrower = estimate("ips", terms, seed=3, confidence=0.5)
    assert first.low < narrower.low < narrower.high < first.high


def test_no_exploration_is_refused_by_every_estimator():
    ones = np.ones((50, 3))
    rewards = np.zeros((50, 3))
    for terms in (ips_terms, snips_terms, reward_interaction_terms,
                  independent_position_terms, sn_reward_interaction_terms,
                  sn_independent_position_terms):
        with pytest.raises(SupportError, match="did not explore"):
            terms(rewards, ones, ones)
    with pytest.raises(SupportError, match="did not explore"):
        dr_terms(rewards, ones, ones, predicted_logged=np.zeros(50),
                 predicted_target=np.zeros(50))


def test_a_target_far_from_the_log_is_refused_for_support():
    rewards, logging, _ = _log(400)
    target = np.zeros_like(logging)
    target[0] = 1.0  # the target would show almost none of the logged lists
    with pytest.raises(SupportError, match="too little support"):
        estimate("ips", ips_terms(rewards, logging, target))


@pytest.mark.parametrize("bad, message", [
    ({"logging": np.array([[0.0, 0.5], [0.5, 0.5]])}, r"must lie in \(0, 1\]"),
    ({"target": np.array([[1.5, 0.5], [0.5, 0.5]])}, r"must lie in \[0, 1\]"),
    ({"rewards": np.array([[np.nan, 0.0], [0.0, 1.0]])}, "NaN"),
    ({"target": np.ones((3, 2))}, "same"),
])
def test_bad_logs_get_clear_errors(bad, message):
    arrays = {"rewards": REWARDS, "logging": LOGGING, "target": TARGET, **bad}
    with pytest.raises(ValueError, match=message):
        ips_terms(arrays["rewards"], arrays["logging"], arrays["target"])


# --- where the truth is known: three tracks, lists of two, a cascade user ---------------------

TRACKS = 3
APPEAL = np.array([0.7, 0.4, 0.2])  # chance a user who reads a track plays it
LISTS = list(itertools.permutations(range(TRACKS), 2))


def _sequential(scores: np.ndarray, temperature: float) -> dict[tuple, tuple[float, float]]:
    """Each ordered pair's conditional probabilities under softmax sampling without
    replacement."""
    out = {}
    for first, second in LISTS:
        p = np.exp(scores / temperature)
        p1 = p[first] / p.sum()
        rest = np.delete(np.arange(TRACKS), first)
        p2 = p[second] / p[rest].sum()
        out[(first, second)] = (p1, p2)
    return out


def _cascade_value(lst: tuple[int, int]) -> float:
    """Expected plays: the user reads the top; reads the second only if the top was not
    played."""
    a, b = lst
    return APPEAL[a] + (1 - APPEAL[a]) * APPEAL[b]


def test_ips_and_rips_find_the_truth_under_a_cascade():
    logging = _sequential(np.array([0.0, 0.5, 1.0]), 1.0)
    target = _sequential(np.array([1.0, 0.5, 0.0]), 1.0)
    truth = sum(np.prod(target[lst]) * _cascade_value(lst) for lst in LISTS)
    rng = np.random.default_rng(0)
    probabilities = np.array([np.prod(logging[lst]) for lst in LISTS])
    n = 40_000
    chosen = rng.choice(len(LISTS), n, p=probabilities / probabilities.sum())
    lists = [LISTS[i] for i in chosen]
    top = np.array([APPEAL[a] for a, _ in lists]) > rng.uniform(size=n)
    second = ~top & (np.array([APPEAL[b] for _, b in lists]) > rng.uniform(size=n))
    rewards = np.stack([top, second], axis=1).astype(float)
    log_p = np.array([logging[lst] for lst in lists])
    target_p = np.array([target[lst] for lst in lists])
    for terms in (ips_terms, reward_interaction_terms, sn_reward_interaction_terms):
        found = estimate("x", terms(rewards, log_p, target_p), rounds=200)
        assert found.low <= truth <= found.high, (terms.__name__, found, truth)
        assert found.value == pytest.approx(truth, abs=0.02)


# --- paired comparison ----------------------------------------------------------------------


def _terms(numerator, denominator=None, weights=None) -> Terms:
    numerator = np.asarray(numerator, dtype=float)
    ones = np.ones(len(numerator))
    return Terms(numerator, ones if denominator is None else np.asarray(denominator, float),
                 ones if weights is None else np.asarray(weights, float))


LOOSE = {"min_effective_sessions": 1.0}


def test_compare_by_hand_on_two_sessions():
    # A: sessions worth 2 and 4 (mean 3); B: 1 and 2 (mean 1.5): A - B = 1.5, +100 % of B.
    # Every resample of two sessions is (0, 0), (0, 1) or (1, 1): differences 1, 1.5 and 2,
    # and B always half of A, so the relative difference is 100 % in every one.
    found = compare("ips", _terms([2.0, 4.0]), _terms([1.0, 2.0]), rounds=2_000, **LOOSE)
    assert (found.value_a, found.value_b, found.difference) == (3.0, 1.5, 1.5)
    assert (found.low, found.high) == (1.0, 2.0)  # each end has a 1-in-4 chance per resample
    assert found.relative == pytest.approx(100.0)
    assert found.relative_low == pytest.approx(100.0)
    assert found.relative_high == pytest.approx(100.0)
    assert (found.sessions, found.effective_sessions) == (2, 2.0)


def test_compare_of_a_ratio_estimator_by_hand():
    # SNIPS-like: A = (1 + 3) / (1 + 1) = 2, B = (2 + 0) / (1 + 3) = 0.5
    a = _terms([1.0, 3.0], denominator=[1.0, 1.0])
    b = _terms([2.0, 0.0], denominator=[1.0, 3.0], weights=[1.0, 3.0])
    found = compare("snips", a, b, rounds=200, **LOOSE)
    assert found.difference == pytest.approx(1.5)
    assert found.relative == pytest.approx(300.0)
    assert found.effective_sessions == pytest.approx(16 / 10)  # B's: (1 + 3)^2 / (1 + 9)


def test_a_shift_shared_by_every_session_has_no_spread():
    rng = np.random.default_rng(1)
    base = rng.normal(1.0, 1.0, 200)
    found = compare("ips", _terms(base + 0.25), _terms(base), rounds=300)
    assert found.difference == pytest.approx(0.25)
    assert found.low == pytest.approx(0.25) and found.high == pytest.approx(0.25)


def test_pairing_narrows_the_interval_of_a_difference():
    rng = np.random.default_rng(2)
    shared = rng.normal(0.0, 2.0, 400)  # what the sessions share (the user, the request)
    a, b = _terms(shared + 1.1 + rng.normal(0, 0.1, 400)), _terms(shared + 1.0)
    paired = compare("ips", a, b, rounds=500, seed=4)
    alone_a, alone_b = estimate("ips", a, rounds=500, seed=4), estimate("ips", b, rounds=500,
                                                                         seed=5)
    unpaired_width = (alone_a.high - alone_a.low) + (alone_b.high - alone_b.low)
    assert paired.low > 0  # the paired interval excludes 0 ...
    assert paired.high - paired.low < unpaired_width / 10  # ... where unpaired ones overlap
    assert paired == compare("ips", a, b, rounds=500, seed=4)


def test_compare_without_a_baseline_value_gives_no_relative_difference():
    found = compare("ips", _terms([1.0, 0.0]), _terms([0.0, 0.0]), rounds=100, **LOOSE)
    assert found.difference == 0.5 and found.relative is None
    assert found.relative_low is None and found.relative_high is None


def test_compare_refuses_too_little_support_with_the_numbers():
    weights = np.r_[100.0, np.full(99, 0.01)]
    thin = _terms(np.ones(100), weights=weights)
    with pytest.raises(SupportError, match="too little support") as caught:
        compare("ips", _terms(np.ones(100)), thin)
    assert caught.value.sessions == 100
    assert caught.value.effective_sessions == pytest.approx(effective_sessions(weights))
    with pytest.raises(ValueError, match="same sessions"):
        compare("ips", _terms([1.0, 2.0]), _terms([1.0]))
    with pytest.raises(ValueError, match="confidence"):
        compare("ips", _terms([1.0]), _terms([1.0]), confidence=1.0)


def test_terms_give_their_value_and_a_resample_of_their_sessions():
    # one ratio: (2 + 4 + 6) / (1 + 1 + 2); per position, the sum of each column's ratio
    one = Terms(np.array([2.0, 4.0, 6.0]), np.array([1.0, 1.0, 2.0]), np.ones(3))
    assert one.value() == pytest.approx(3.0)
    drawn = one.take(np.array([2, 2, 0]))
    assert drawn.value() == pytest.approx((6 + 6 + 2) / (2 + 2 + 1))
    assert list(drawn.weights) == [1.0, 1.0, 1.0]
    per_position = Terms(np.array([[1.0, 3.0], [1.0, 1.0]]), np.array([[1.0, 2.0], [1.0, 2.0]]),
                         np.ones(2))
    assert per_position.value() == pytest.approx(2 / 2 + 4 / 4)


# one position, two logged actions (rewards 1 and 2, each logged with 0.5); the target gives
# each 0.25 and the other half of its mass to an action never logged, whose predicted reward
# is 3: its true value is 0.25 * 1 + 0.25 * 2 + 0.5 * 3 = 2.25
BEYOND_REWARDS = np.array([[1.0], [2.0]])
BEYOND_LOGGING = np.array([[0.5], [0.5]])
BEYOND_TARGET = np.array([[0.25], [0.25]])


def test_the_part_beyond_the_support_is_filled_in_by_hand():
    fill, mass = np.array([1.5, 1.5]), np.array([0.5, 0.5])
    ips = ips_terms(BEYOND_REWARDS, BEYOND_LOGGING, BEYOND_TARGET)
    assert ips.value() == pytest.approx(0.75)  # the supported half alone: (0.5 + 1) / 2
    assert extrapolated(ips, fill, mass, normalised=False).value() == pytest.approx(2.25)
    snips = snips_terms(BEYOND_REWARDS, BEYOND_LOGGING, BEYOND_TARGET)
    # weights 0.5 each, divided by 1 - 0.5: (0.5 + 1.5 + 1 + 1.5) / (1 + 1)
    filled = extrapolated(snips, fill, mass, normalised=True)
    assert filled.value() == pytest.approx(2.25)
    assert list(filled.weights) == [0.5, 0.5]  # support is still judged on the weights


def test_filling_per_position_by_hand():
    # RIPS over two positions: cascade weights [[2, 1], [2, 4]] (the two-session log above);
    # beyond the support: mass 0 at the top, 0.5 down to the second position, fill 0.3 there
    fill = np.array([[0.0, 0.3], [0.0, 0.3]])
    mass = np.array([[0.0, 0.5], [0.0, 0.5]])
    rips = reward_interaction_terms(REWARDS, LOGGING, TARGET)
    assert extrapolated(rips, fill, mass, normalised=False).value() == pytest.approx(3.0 + 0.3)
    sn = sn_reward_interaction_terms(REWARDS, LOGGING, TARGET)
    # top: (2 * 1 + 2 * 0) / (2 + 2); second: (1 * 0 + 4 * 1 + 0.3 * 2) / ((1 + 4) / 0.5)
    assert extrapolated(sn, fill, mass, normalised=True).value() == pytest.approx(
        2 / 4 + 4.6 / 10)


def test_nothing_supported_leaves_the_fill_alone():
    terms = snips_terms(BEYOND_REWARDS, BEYOND_LOGGING, np.zeros((2, 1)))
    filled = extrapolated(terms, np.array([3.0, 3.0]), np.array([1.0, 1.0]), normalised=True)
    assert filled.value() == pytest.approx(3.0)


@pytest.mark.parametrize(("fill", "mass", "normalised", "message"), [
    (np.zeros(3), np.zeros(3), False, "one value per session"),
    (np.zeros(2), np.full(2, 1.5), False, r"probability in \[0, 1\]"),
    (np.full(2, np.nan), np.zeros(2), False, "finite"),
    (np.zeros((2, 2)), np.zeros((2, 2)), True, "normalised over whole lists"),
])
def test_a_bad_fill_gets_a_clear_error(fill, mass, normalised, message):
    terms = snips_terms(BEYOND_REWARDS, BEYOND_LOGGING, BEYOND_TARGET)
    with pytest.raises(ValueError, match=message):
        extrapolated(terms, fill, mass, normalised=normalised)
