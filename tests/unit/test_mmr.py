"""MMR over a pool: hand-computed probabilities, replay of drawn orders, orders that sum to one,
marginals, and the ranker's score parts (pure, no database)."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.catalogue import generate_demo_catalogue
from routing.mmr import local_indices, mmr_lists, normalised
from routing.ranker import CONFIGS, CatalogueArrays, RankerConfig, rank, rescore

TRACKS = pd.DataFrame(generate_demo_catalogue(600))
ARRAYS = CatalogueArrays(TRACKS)
# four tracks by four different artists
FOUR = np.array([int(np.flatnonzero(ARRAYS.artist_codes == code)[0]) for code in range(4)])


def softmax(values, temperature):
    weights = np.exp(np.asarray(values) / temperature)
    return weights / weights.sum()


def test_without_diversity_each_position_is_a_softmax_of_the_normalised_scores():
    config = RankerConfig(mmr_lambda=1.0, size=2, exploration=0.5)
    scores = np.array([2.0, 1.0, 0.0])  # normalised: 1, 0.5, 0
    order = np.array([[FOUR[1], FOUR[0]]])
    found = mmr_lists(ARRAYS, FOUR[:3], scores, config=config, forced=order).probabilities[0]
    first = softmax([1.0, 0.5, 0.0], 0.5)[1]
    second = softmax([1.0, 0.0], 0.5)[0]  # given the first, tracks 0 and 2 remain
    assert found == pytest.approx([first, second])


def test_every_order_of_a_small_pool_has_a_probability_and_they_sum_to_one():
    config = RankerConfig(mmr_lambda=0.6, size=3, exploration=0.3)
    scores = np.array([1.5, 1.0, 0.8, 0.1])
    orders = np.array(list(itertools.permutations(FOUR, 3)))
    replayed = mmr_lists(ARRAYS, FOUR, scores, config=config, forced=orders).probabilities
    assert (replayed > 0).all()
    assert replayed.prod(axis=1).sum() == pytest.approx(1.0)


def test_a_drawn_order_replays_with_the_probabilities_it_was_drawn_with():
    config = replace(CONFIGS["discovery"], size=8, exploration=0.2)
    pool = np.arange(120)
    scores = np.random.default_rng(1).normal(size=120)
    drawn = mmr_lists(ARRAYS, pool, scores, config=config, sessions=50,
                      rng=np.random.default_rng(2))
    replayed = mmr_lists(ARRAYS, pool, scores, config=config, forced=drawn.rows)
    assert (drawn.probabilities > 0).all() and (drawn.probabilities < 1).all()
    assert replayed.probabilities == pytest.approx(drawn.probabilities)
    per_artist = [np.bincount(ARRAYS.artist_codes[row]).max() for row in drawn.rows]
    assert max(per_artist) <= config.max_per_artist


def test_the_greedy_order_has_probability_one_and_any_other_zero():
    config = RankerConfig(size=3)
    scores = np.array([3.0, 2.0, 1.0, 0.0])
    greedy = mmr_lists(ARRAYS, FOUR, scores, config=config)
    assert greedy.probabilities.tolist() == [[1.0, 1.0, 1.0]]
    swapped = greedy.rows[:, [1, 0, 2]]
    assert mmr_lists(ARRAYS, FOUR, scores, config=config, forced=swapped
                     ).probabilities[0, 0] == 0.0


def test_a_replayed_track_outside_the_pool_or_past_the_size_gets_zero():
    config = RankerConfig(size=2, exploration=0.5)
    outside = int(np.setdiff1d(np.arange(ARRAYS.size), FOUR)[0])
    forced = np.array([[FOUR[0], outside, FOUR[1]]])
    found = mmr_lists(ARRAYS, FOUR, np.array([1.0, 0.5, 0.2, 0.1]), config=config,
                      forced=forced).probabilities[0]
    assert found[0] > 0 and found[1] == 0 and found[2] == 0


def test_marginals_are_distributions_exact_at_the_first_position():
    config = RankerConfig(mmr_lambda=1.0, size=2, exploration=0.5)
    scores = np.array([2.0, 1.0, 0.0])
    drawn = mmr_lists(ARRAYS, FOUR[:3], scores, config=config, sessions=20_000,
                      rng=np.random.default_rng(0))
    assert drawn.marginals.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert drawn.marginals[0] == pytest.approx(softmax([1.0, 0.5, 0.0], 0.5))
    # the second position's marginal, exactly: sum over the first track
    first = softmax([1.0, 0.5, 0.0], 0.5)
    exact_second_0 = first[1] * softmax([1.0, 0.0], 0.5)[0] \
        + first[2] * softmax([1.0, 0.5], 0.5)[0]
    assert drawn.marginals[1][0] == pytest.approx(exact_second_0, abs=0.01)


def test_a_duration_target_ends_the_list_near_it():
    config = RankerConfig(exploration=0.3)
    pool = np.arange(200)
    drawn = mmr_lists(ARRAYS, pool, np.linspace(2, 0, 200), config=config, sessions=20,
                      target_ms=30 * 60_000, rng=np.random.default_rng(0))
    totals = [ARRAYS.duration_ms[row[row >= 0]].sum() for row in drawn.rows]
    assert all(abs(t - 30 * 60_000) <= 90_000 for t in totals)


def test_normalised_scores_read_from_the_top_of_the_pool():
    scores = np.arange(100, dtype=float)[::-1]  # 99 .. 0
    values = normalised(scores)
    assert values[0] == 1.0 and values[49] == 0.0 and values[99] < 0
    tail_changed = np.concatenate([scores[:60], scores[60:] - 50])
    assert normalised(tail_changed)[:60] == pytest.approx(values[:60])


def test_local_indices_find_rows_in_a_pool():
    pool = np.array([30, 10, 20])
    assert local_indices(pool, np.array([[20, 99, -1, 30]])).tolist() == [[2, -1, -1, 0]]


def test_rescoring_the_candidate_parts_gives_the_ranker_scores_and_its_draws_replay():
    relevance = np.random.default_rng(0).random(ARRAYS.size)
    config = replace(CONFIGS["balanced"], exploration=0.2)
    playlist = rank(ARRAYS, slots={"mood": "calm"}, relevance=relevance, config=config,
                    rng=np.random.default_rng(3))
    assert rescore(playlist.candidate_parts, config) == pytest.approx(playlist.candidate_scores)
    other = CONFIGS["discovery"]
    assert not np.allclose(rescore(playlist.candidate_parts, other), playlist.candidate_scores)
    shown = np.array([[t.row for t in playlist.tracks]])
    pool = slice(0, config.pool)  # MMR drew from the best of the logged candidates
    replayed = mmr_lists(ARRAYS, playlist.candidate_rows[pool], playlist.candidate_scores[pool],
                         config=config, forced=shown).probabilities[0]
    assert replayed == pytest.approx(playlist.propensities, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), size=st.integers(1, 30), per_artist=st.integers(0, 3),
       mmr_lambda=st.sampled_from([0.0, 0.3, 0.7, 1.0]),
       target_minutes=st.one_of(st.none(), st.integers(5, 90)))
def test_one_greedy_session_gives_what_the_many_session_loop_gives(
        seed, size, per_artist, mmr_lambda, target_minutes):
    rng = np.random.default_rng(seed)
    pool = rng.choice(ARRAYS.size, size=int(rng.integers(1, 120)), replace=False)
    scores = np.round(rng.normal(size=pool.size), 1)  # ties too
    config = RankerConfig(size=size, max_per_artist=per_artist, mmr_lambda=mmr_lambda)
    target_ms = None if target_minutes is None else target_minutes * 60_000
    one = mmr_lists(ARRAYS, pool, scores, config=config, target_ms=target_ms)
    # two identical sessions take the general loop; each equals the one-session answer
    two = mmr_lists(ARRAYS, pool, scores, config=config, target_ms=target_ms, sessions=2)
    assert np.array_equal(one.rows[0], two.rows[0])
    assert np.array_equal(one.probabilities[0], two.probabilities[0])
    assert np.array_equal(one.marginals, two.marginals)
