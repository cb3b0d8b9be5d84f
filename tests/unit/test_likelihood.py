"""Empirical-likelihood intervals with a known-mean control variate: against closed forms,
against the bootstrap where the weights are heavy-tailed, and their wiring into the IPS and
doubly robust estimates."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from routing import likelihood
from routing.offpolicy import (
    cascade_weights,
    compare,
    estimate,
    extrapolated,
    ips_terms,
    reward_interaction_terms,
    snips_terms,
)


def test_without_a_control_it_is_the_usual_interval_of_a_mean():
    values = np.random.default_rng(0).normal(2.0, 1.0, 5_000)
    centre, low, high = likelihood.interval(values, np.zeros(5_000), confidence=0.95)
    half = stats.norm.ppf(0.975) * values.std() / np.sqrt(len(values))
    assert centre == pytest.approx(values.mean())
    assert low == pytest.approx(values.mean() - half, rel=1e-3)
    assert high == pytest.approx(values.mean() + half, rel=1e-3)


def test_a_control_that_explains_the_values_pins_the_mean():
    # values = 3 * weight and the weights' mean is known to be 1: the mean is 3, whatever the
    # sample's mean weight (here well below 1: the large weights were missed)
    weights = np.random.default_rng(1).lognormal(-0.5, 1.0, 2_000)
    weights = weights[weights < 2.0]
    centre, low, high = likelihood.interval(3.0 * weights, weights - 1.0, confidence=0.95)
    assert 3.0 * weights.mean() < 2.8
    assert centre == pytest.approx(3.0, abs=1e-6)
    assert high - low < 1e-3


def test_a_mean_weight_below_its_expectation_moves_the_interval_up():
    rng = np.random.default_rng(2)
    weights = rng.lognormal(-0.5, 1.0, 4_000)
    weights = weights[weights < 3.0]  # a log that missed the largest weights
    values = weights * rng.binomial(1, 0.5, len(weights))
    centre, low, high = likelihood.interval(values, weights - 1.0, confidence=0.95)
    assert values.mean() < centre and low < centre < high
    assert low > values.mean() - 1.96 * values.std() / np.sqrt(len(values))


def test_it_covers_heavy_tailed_importance_weights_as_often_as_it_says():
    # 200 logs of 1,000 sessions, weights lognormal with mean 1 (effective share 37%),
    # rewards that grow with the weight: the true value is closed-form
    rng = np.random.default_rng(3)
    sigma = 1.0
    truth = 0.3 + 0.4 * stats.norm.cdf(sigma / 2)
    covered = 0
    for _ in range(200):
        weights = rng.lognormal(-sigma ** 2 / 2, sigma, 1_000)
        values = weights * rng.binomial(1, 0.3 + 0.4 * (weights > 1))
        _, low, high = likelihood.interval(values, weights - 1.0, confidence=0.95)
        covered += low <= truth <= high
    assert 0.91 <= covered / 200 <= 0.99


def test_several_controls_that_explain_the_values_pin_the_mean():
    # values = 1 + 2 * (a - 1) - (b - 1) + a constant column that says nothing: the mean is 1
    rng = np.random.default_rng(4)
    a, b = rng.lognormal(-0.5, 1.0, 3_000), rng.exponential(1.0, 3_000)
    keep = (a < 2.5) & (b < 2.0)  # a log that missed the large ones
    a, b = a[keep], b[keep]
    values = 1.0 + 2.0 * (a - 1.0) - (b - 1.0)
    control = np.column_stack([a - 1.0, b - 1.0, np.zeros(len(a))])
    centre, low, high = likelihood.interval(values, control, confidence=0.95)
    assert abs(values.mean() - 1.0) > 0.05
    assert centre == pytest.approx(1.0, abs=1e-6)
    assert high - low < 1e-3


def test_constant_values_give_a_point():
    assert likelihood.interval(np.full(5, 2.0), np.arange(5.0) - 2, confidence=0.9) == (
        2.0, 2.0, 2.0)


@pytest.mark.parametrize(("values", "control", "confidence", "message"), [
    (np.zeros(3), np.zeros(2), 0.95, "per session"),
    (np.zeros(1), np.zeros(1), 0.95, "two sessions at least"),
    (np.array([1.0, np.nan]), np.zeros(2), 0.95, "finite"),
    (np.zeros(3), np.zeros(3), 1.0, "confidence"),
])
def test_bad_input_gets_a_clear_error(values, control, confidence, message):
    with pytest.raises(ValueError, match=message):
        likelihood.interval(values, control, confidence=confidence)


def _lists(n: int):
    """A log of three-track lists explored at random, and a target close to it."""
    rng = np.random.default_rng(7)
    logging = rng.uniform(0.2, 1.0, size=(n, 3))
    return (rng.integers(0, 3, size=(n, 3)).astype(float), logging,
            np.minimum(logging * rng.uniform(0.5, 1.5, size=(n, 3)), 1.0))


def test_ips_gets_the_likelihood_interval_and_snips_the_bootstrap():
    rewards, logging, target = _lists(400)
    ips = ips_terms(rewards, logging, target)
    np.testing.assert_allclose(ips.control, ips.weights - 1.0)
    found = estimate("ips", ips, seed=5)
    centre, low, high = likelihood.interval(ips.numerator, ips.control, confidence=0.95)
    assert (found.value, found.low, found.high) == (centre, low, high)
    assert found.low < found.value < found.high
    assert snips_terms(rewards, logging, target).control is None
    # a bootstrap interval depends on its seed, the likelihood interval does not
    assert estimate("ips", ips, seed=6) == found


def test_rips_controls_the_ratio_down_to_each_position():
    rewards, logging, target = _lists(300)
    rips = reward_interaction_terms(rewards, logging, target)
    np.testing.assert_allclose(rips.control, cascade_weights(logging, target) - 1.0)
    found = estimate("reward_interaction", rips)
    centre, low, high = likelihood.interval(rips.numerator, rips.control, confidence=0.95)
    assert (found.value, found.low, found.high) == (centre, low, high)
    mass = np.tile([0.0, 0.1, 0.3], (300, 1))
    filled = extrapolated(rips, np.zeros((300, 3)), mass, normalised=False)
    np.testing.assert_allclose(filled.control, cascade_weights(logging, target) - (1.0 - mass))


def test_beyond_the_support_the_weights_are_expected_to_average_the_supported_share():
    rewards, logging, target = _lists(10)
    ips = ips_terms(rewards, logging, target)
    mass = np.full(10, 0.25)
    filled = extrapolated(ips, np.zeros(10), mass, normalised=False)
    np.testing.assert_allclose(filled.control, ips.weights - 0.75)


def test_the_value_is_the_likelihood_centre_so_it_lies_inside_its_interval():
    # rewards that grow with heavy-tailed weights: the plain mean of the terms often falls
    # outside the interval that knows the weights' mean; the reported value never does
    rng = np.random.default_rng(11)
    outside = 0
    for _ in range(20):
        weights = rng.lognormal(-0.5, 1.0, 2_000)  # mean 1
        logging = np.minimum(1.0, 1.0 / weights)
        rewards = rng.binomial(1, np.minimum(0.2 * weights, 1.0)).astype(float)
        terms = ips_terms(rewards[:, None], logging[:, None], (weights * logging)[:, None])
        found = estimate("ips", terms)
        plain = terms.value()
        outside += not found.low <= plain <= found.high
        assert found.low < found.value < found.high
        assert found.value == pytest.approx(
            likelihood.interval(terms.numerator, terms.control, confidence=0.95)[0])
    assert outside >= 3  # the case the centre is there for does occur


def test_recombined_or_repeated_controls_give_the_same_interval():
    rng = np.random.default_rng(3)
    a, b = rng.lognormal(-0.5, 1.0, (2, 1_000))
    values = a * rng.binomial(1, 0.4, 1_000) + 0.5 * b
    control = np.column_stack([a - 1.0, b - 1.0])
    found = likelihood.interval(values, control, confidence=0.95)
    mixed = control @ np.array([[2.0, 1.0], [-1.0, 3.0]])  # invertible: the same constraints
    np.testing.assert_allclose(likelihood.interval(values, mixed, confidence=0.95), found,
                               rtol=1e-6)
    repeated = np.column_stack([control, 3.0 * control[:, 0]])
    np.testing.assert_allclose(likelihood.interval(values, repeated, confidence=0.95), found,
                               rtol=1e-6)


def test_a_small_log_keeps_only_as_many_controls_as_it_can_hold():
    # 36 sessions whose ten weights are all within 0.1% of 1: holding ten means to 0 would
    # reweight the sessions wildly; the value stays the plain mean's
    rng = np.random.default_rng(5)
    values = rng.uniform(5.0, 20.0, 36)
    control = rng.normal(0.0, 5e-4, (36, 10))
    centre, low, high = likelihood.interval(values, control, confidence=0.95)
    assert centre == pytest.approx(values.mean())
    alone = likelihood.interval(values, np.zeros(36), confidence=0.95)
    np.testing.assert_allclose((centre, low, high), alone)
    # 200 sessions hold four controls: the leading ones, not the first four columns
    assert likelihood._components(rng.normal(size=(200, 10)), 200).shape == (200, 4)


def test_a_difference_without_controls_is_the_usual_paired_interval():
    rng = np.random.default_rng(8)
    shared = rng.normal(0.0, 2.0, 5_000)
    a, b = shared + 1.1 + rng.normal(0.0, 0.3, 5_000), shared + 1.0
    found = likelihood.difference(a, b, np.zeros(5_000), confidence=0.95)
    change = a - b
    half = stats.norm.ppf(0.975) * change.std() / np.sqrt(5_000)
    assert (found.value_a, found.value_b) == pytest.approx((a.mean(), b.mean()))
    assert (found.low, found.high) == pytest.approx(
        (change.mean() - half, change.mean() + half), rel=1e-3)
    # the relative difference by the delta method: r = 100 (A - B) / B
    r = 100.0 * change.mean() / b.mean()
    spread = 100.0 * (change - r / 100.0 * b).std() / b.mean() / np.sqrt(5_000)
    assert found.relative == pytest.approx(r)
    assert (found.relative_low, found.relative_high) == pytest.approx(
        (r - 1.96 * spread, r + 1.96 * spread), rel=1e-2)


def test_compare_with_controls_reads_both_values_under_one_reweighting():
    rewards, logging, target = _lists(600)
    other = np.minimum(logging * np.random.default_rng(9).uniform(0.6, 1.4, logging.shape), 1.0)
    a, b = ips_terms(rewards, logging, target), ips_terms(rewards, logging, other)
    found = compare("ips", a, b)
    paired = likelihood.difference(a.numerator, b.numerator,
                                   np.column_stack([a.control, b.control]), confidence=0.95)
    assert (found.value_a, found.value_b, found.low, found.high) == (
        paired.value_a, paired.value_b, paired.low, paired.high)
    assert found.difference == pytest.approx(found.value_a - found.value_b)
    assert found.low < found.difference < found.high
    assert found.relative_low < found.relative < found.relative_high
    assert found.relative == pytest.approx(100 * found.difference / abs(found.value_b))
    # the same values a weighting for A's weights alone gives A on its own, near enough
    assert found.value_a == pytest.approx(estimate("ips", a).value, rel=0.02)
    # what both sides share cancels: the paired interval is narrower than either alone
    alone = estimate("ips", a)
    assert found.high - found.low < alone.high - alone.low
    # a configuration compared with itself differs by exactly nothing
    same = compare("ips", a, a)
    assert (same.difference, same.low, same.high, same.relative) == (0.0, 0.0, 0.0, 0.0)


def test_a_paired_difference_needs_the_same_sessions():
    with pytest.raises(ValueError, match="same sessions"):
        likelihood.difference(np.ones(5), np.ones(4), np.zeros(5), confidence=0.95)


def test_a_control_constant_up_to_rounding_counts_as_constant():
    # a target whose probabilities are the logged ones times 0.8: every weight is 0.64 but for
    # rounding; standardised, that rounding would be a constraint no reweighting can meet
    rng = np.random.default_rng(12)
    logging = rng.uniform(0.5, 0.9, (400, 2))
    weights = np.prod(logging * 0.8, axis=1) / np.prod(logging, axis=1)
    assert weights.std() > 0  # the case: not exactly constant
    values = weights * rng.binomial(1, 0.4, 400)
    np.testing.assert_allclose(likelihood.interval(values, weights - 1.0, confidence=0.95),
                               likelihood.interval(values, np.zeros(400), confidence=0.95))
    # and a relative difference fixed but for rounding is a point, not an error
    b = rng.binomial(2, 0.4, 400).astype(float)
    found = likelihood.difference(b * weights, b, np.column_stack([weights - 1.0,
                                                                   np.zeros(400)]),
                                  confidence=0.95)
    assert found.relative == pytest.approx(-36.0)
    assert (found.relative_low, found.relative_high) == pytest.approx((-36.0, -36.0))
    assert found.low < found.value_a - found.value_b < found.high < 0
