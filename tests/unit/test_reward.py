"""The composite reward: per-track actions and whole-list terms, by hand; bad input refused."""

from __future__ import annotations

import numpy as np
import pytest

from routing.offpolicy import cascade_weights, reward_interaction_terms
from routing.reward import RewardError, RewardWeights, composite_rewards

LIKES = np.array([[1, 0, 0], [0, 0, 1]])
SAVES = np.array([[0, 0, 0], [0, 0, 1]])
SKIPS = np.array([[0, 1, 1], [1, 0, 0]])


def test_actions_are_weighed_per_position():
    rewards = composite_rewards({"like": LIKES, "save": SAVES, "skip": SKIPS},
                                weights=RewardWeights(like=1, save=2, skip=-0.5))
    np.testing.assert_allclose(rewards, [[1.0, -0.5, -0.5], [-0.5, 0.0, 3.0]])


def test_list_terms_are_booked_at_the_last_position_and_weighed_as_a_whole_list():
    weights = RewardWeights(like=1, save=0, skip=0, diversity=2, novelty=1)
    rewards = composite_rewards({"like": LIKES}, weights=weights,
                                diversity=np.array([0.5, 1.0]), novelty=np.array([0.0, 0.2]))
    np.testing.assert_allclose(rewards, [[1.0, 0.0, 1.0], [0.0, 0.0, 3.2]])
    logging = np.full((2, 3), 0.5)
    target = np.array([[1.0, 0.5, 0.25], [0.5, 0.5, 1.0]])
    terms = reward_interaction_terms(rewards, logging, target)
    # the list term at the last position gets the whole list's ratio (cascade weight K)
    whole = cascade_weights(logging, target)[:, -1]
    np.testing.assert_allclose(terms.numerator, [2 * 1.0 + whole[0] * 1.0,
                                                 whole[1] * 3.2])


@pytest.mark.parametrize("call, message", [
    (lambda: composite_rewards({"play": LIKES}, weights=RewardWeights()), "unknown actions"),
    (lambda: composite_rewards({}, weights=RewardWeights()), "no feedback"),
    (lambda: composite_rewards({"like": LIKES, "skip": SKIPS[:, :2]}, weights=RewardWeights()),
     "one \\(sessions, positions\\) shape"),
    (lambda: composite_rewards({"like": LIKES}, weights=RewardWeights(diversity=1.0)),
     "give each list's diversity"),
    (lambda: composite_rewards({"like": LIKES}, weights=RewardWeights(novelty=1.0),
                               novelty=np.array([0.5, 1.5])), "in \\[0, 1\\]"),
    (lambda: RewardWeights(like=0, save=0, skip=0), "every reward weight is 0"),
    (lambda: RewardWeights(like=float("nan")), "finite"),
])
def test_bad_input_is_refused_with_a_clear_message(call, message):
    with pytest.raises(RewardError, match=message):
        call()
