"""A user simulator with known truth, for off-policy evaluation (pure, no database).

Synthetic users with tastes over the catalogue's audio features ask for playlists with prompts
from the intent demo data; the ranker answers as it does in the preview (bundled lexicon for the
slots, BM25 over the track descriptors for relevance, then ``ranker.rank``); each user browses
the list and likes, saves or skips tracks. Two browsing models:

- **position-based**: each position is looked at with a probability that falls with its rank
  (``1 / position ** decay``), whatever is above it;
- **cascade**: the user reads down the list and after each track goes on with a probability
  that depends on what they did with it (a save often ends the session: they listen), so the
  reward at a position depends on the tracks above it.

A user likes an examined track with probability ``sigmoid(bias + fit * prompt_fit + taste *
(user taste . track features) + popularity * user popularity taste * (popularity - 0.5))``,
where the prompt fit is how well the track meets the prompt's slots (the same profiles the
ranker reads: users want what they asked for, and the ranker cannot see their taste).

It can run any ranker configuration live, giving its **true value** (the expected composite
reward per session, exact over behaviour given the list and averaged over many drawn lists), or
**log** sessions under a logging configuration with exploration, giving what the preview's
impression log holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from routing.context import Context
from routing.counterfactual import (
    Candidates,
    LoggedLists,
    Outcome,
    PolicySamples,
    estimate_all,
    policy_lists,
    replay_log,
)
from routing.default_lexicon import default_entries
from routing.lexicon import ArtistIndex, Lexicon
from routing.mmr import Lists
from routing.offpolicy import BOOTSTRAP_ROUNDS
from routing.profiles import FEATURES
from routing.ranker import CatalogueArrays, RankerConfig, constraint_terms, rank
from routing.retrieval import SparseIndex, descriptors, reciprocal_rank_fusion
from routing.reward import RewardWeights, composite_rewards, list_diversity, list_novelty

BROWSING = ("cascade", "position")
RETRIEVE = 400


@dataclass(frozen=True)
class UserModel:
    """How simulated users judge and browse a list."""

    browsing: str = "cascade"
    bias: float = -1.5
    fit: float = 3.0
    taste: float = 1.5
    popularity: float = 1.0
    save_share: float = 0.3
    """Of the tracks a user likes, the share they also save."""
    skip_share: float = 0.6
    """Of the tracks a user does not like, the share they skip (the rest they let play)."""
    go_on: tuple[float, float, float, float] = (0.5, 0.9, 0.4, 0.7)
    """Cascade: the chance to look at the next track after a save, a like, a skip, nothing."""
    decay: float = 0.7
    """Position-based: position ``k`` is looked at with probability ``1 / k ** decay``."""

    def __post_init__(self) -> None:
        if self.browsing not in BROWSING:
            raise ValueError(f"browsing is one of {', '.join(BROWSING)}, got {self.browsing!r}")


@dataclass(frozen=True)
class Request:
    """A prompt as the router reads it (the simulator shows the first ``size`` tracks, so a
    duration slot is left out), at a time of day."""

    prompt: str
    intent: str
    slots: dict[str, str]
    time_of_day: str | None

    def context(self) -> Context:
        return Context(time_of_day=self.time_of_day)


@dataclass
class Scenario:
    """A catalogue, its requests (each with the logging configuration's candidates), the
    users, and how they behave and are rewarded."""

    arrays: CatalogueArrays
    requests: list[Request]
    candidates: list[Candidates]
    relevance: list[np.ndarray]
    """Per request, each catalogue track's retrieval relevance (0 where not retrieved)."""
    prompt_fit: list[np.ndarray]
    """Per request, each catalogue track's fit to the prompt's slots in [0, 1]."""
    tastes: np.ndarray
    """``(users, features)`` each user's taste over the unit audio features."""
    popularity_taste: np.ndarray
    users: UserModel
    weights: RewardWeights
    live: dict[tuple[int, RankerConfig], Candidates] = field(default_factory=dict)
    """Each configuration's own pool per request (what it ranks from live)."""

    @property
    def size(self) -> int:
        return len(self.requests)


def build_scenario(tracks: pd.DataFrame, prompts: Sequence[dict], *, logging: RankerConfig,
                   requests: int = 40, users: int = 1_000, user_model: UserModel | None = None,
                   weights: RewardWeights | None = None, seed: int = 0) -> Scenario:
    """Draw ``requests`` prompts (not out of scope) and times of day, and ``users`` tastes.

    The candidates are what the preview logs for each request: the logging configuration's
    best ``ranker.CANDIDATES_PER_POOL * pool`` tracks, of which it draws from the first ``pool``.
    """
    rng = np.random.default_rng(seed)
    arrays = CatalogueArrays(tracks)
    index = SparseIndex(descriptors(arrays.tracks))
    lexicon = Lexicon(0, default_entries())
    artists = ArtistIndex(arrays.artists.tolist())
    usable = [p for p in prompts if p.get("intent") != "out_of_scope"]
    if not usable:
        raise ValueError("no in-scope prompts to simulate requests with")
    picked = rng.choice(len(usable), size=min(requests, len(usable)), replace=False)
    times = (None, "morning", "evening")
    out_requests, relevances, fits = [], [], []
    for i in picked:
        prompt = usable[int(i)]
        slots = {m.slot: m.value for m in lexicon.match(prompt["text"], artists=artists)
                 if m.slot != "duration"}
        out_requests.append(Request(prompt["text"], str(prompt.get("intent", "")), slots,
                                    times[int(rng.integers(len(times)))]))
        relevances.append(reciprocal_rank_fusion([index.sparse(prompt["text"], RETRIEVE)],
                                                 arrays.size))
        fits.append(_prompt_fit(arrays, slots))
    tastes = rng.normal(0.0, 1.0, (users, len(FEATURES)))
    tastes /= np.linalg.norm(tastes, axis=1, keepdims=True)
    scenario = Scenario(arrays, out_requests, [], relevances, fits, tastes,
                        rng.normal(0.0, 1.0, users), user_model or UserModel(),
                        weights or RewardWeights())
    scenario.candidates = [live_candidates(scenario, r, logging) for r in range(len(picked))]
    return scenario


def _prompt_fit(arrays: CatalogueArrays, slots: dict[str, str]) -> np.ndarray:
    terms = constraint_terms(slots)
    if not terms:
        return np.full(arrays.size, 0.5)
    total = np.zeros(arrays.size)
    weight = 0.0
    for _, (feature, direction, w) in terms:
        p = arrays.percentile[feature]
        total += w * (1.0 - p if direction == "low" else p if direction == "high"
                      else 1.0 - 2.0 * np.abs(p - 0.5))
        weight += w
    return total / weight


def attraction(scenario: Scenario, request: int, users: np.ndarray, rows: np.ndarray
               ) -> np.ndarray:
    """``(n, K)`` the chance each user likes each listed track (0 past a list's end)."""
    model, arrays = scenario.users, scenario.arrays
    safe = np.maximum(rows, 0)
    taste = np.einsum("nf,nkf->nk", scenario.tastes[users], arrays.unit_features[safe])
    logit = (model.bias + model.fit * scenario.prompt_fit[request][safe] + model.taste * taste
             + model.popularity * scenario.popularity_taste[users][:, None]
             * (arrays.popularity[safe] - 0.5))
    return np.where(rows >= 0, 1.0 / (1.0 + np.exp(-logit)), 0.0)


def _action_rewards(weights: RewardWeights) -> tuple[float, float, float]:
    """The reward of a save, a like and a skip (a saved track counts as liked too)."""
    return weights.save + weights.like, weights.like, weights.skip


def expected_rewards(scenario: Scenario, request: int, users: np.ndarray, rows: np.ndarray
                     ) -> np.ndarray:
    """``(n, K)`` each position's expected reward given the list and the user (exact over
    browsing and actions), list-level terms at the last position."""
    model = scenario.users
    attract = attraction(scenario, request, users, rows)
    save, like, skip = _action_rewards(scenario.weights)
    per_look = attract * (model.save_share * save + (1 - model.save_share) * like) \
        + (1 - attract) * model.skip_share * skip
    look = _look_probabilities(model, attract, rows)
    out = look * per_look
    return _with_list_terms(scenario, out, rows)


def _look_probabilities(model: UserModel, attract: np.ndarray, rows: np.ndarray) -> np.ndarray:
    n, k = rows.shape
    if model.browsing == "position":
        look = np.broadcast_to(1.0 / np.arange(1, k + 1) ** model.decay, (n, k)).copy()
    else:
        after_save, after_like, after_skip, after_none = model.go_on
        go_on = attract * (model.save_share * after_save + (1 - model.save_share) * after_like) \
            + (1 - attract) * (model.skip_share * after_skip + (1 - model.skip_share)
                               * after_none)
        look = np.ones((n, k))
        look[:, 1:] = np.cumprod(go_on[:, :-1], axis=1)
    return np.where(rows >= 0, look, 0.0)


def browse(scenario: Scenario, request: int, users: np.ndarray, rows: np.ndarray,
           rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``{"like", "save", "skip"}`` 0/1 arrays ``(n, K)``: what each user did."""
    model = scenario.users
    n, k = rows.shape
    attract = attraction(scenario, request, users, rows)
    liked = rng.random((n, k)) < attract
    saved = liked & (rng.random((n, k)) < model.save_share)
    skipped = ~liked & (rng.random((n, k)) < model.skip_share)
    if model.browsing == "position":
        looked = rng.random((n, k)) < 1.0 / np.arange(1, k + 1) ** model.decay
    else:
        after_save, after_like, after_skip, after_none = model.go_on
        go_on = np.select([saved, liked, skipped], [after_save, after_like, after_skip],
                          after_none)
        keeps = rng.random((n, k)) < go_on
        looked = np.ones((n, k), dtype=bool)
        looked[:, 1:] = np.cumprod(keeps[:, :-1], axis=1).astype(bool)
    looked &= rows >= 0
    return {"like": (liked & looked).astype(float), "save": (saved & looked).astype(float),
            "skip": (skipped & looked).astype(float)}


def _with_list_terms(scenario: Scenario, rewards: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``rewards`` with each list's diversity and novelty terms booked at the last column
    (as ``reward.composite_rewards`` books them)."""
    weights = scenario.weights
    if weights.diversity == 0 and weights.novelty == 0:
        return rewards
    arrays = scenario.arrays
    out = rewards.copy()
    out[:, -1] += (weights.diversity * list_diversity(arrays.unit_features, rows)
                   + weights.novelty * list_novelty(arrays.popularity, rows))
    return out


def _split(scenario: Scenario, sessions: int, rng: np.random.Generator
           ) -> tuple[np.ndarray, np.ndarray]:
    """Each session's request and user."""
    return (rng.integers(0, scenario.size, sessions),
            rng.integers(0, len(scenario.tastes), sessions))


def true_value(scenario: Scenario, config: RankerConfig, *, sessions: int = 200_000,
               seed: int = 0) -> float:
    """The configuration's expected reward per session, run live over the whole catalogue
    (its own pool, not the logged candidates): exact over behaviour, averaged over
    ``sessions`` drawn requests, users and lists."""
    rng = np.random.default_rng(seed)
    requests, users = _split(scenario, sessions, rng)
    total = 0.0
    for request in range(scenario.size):
        chosen = np.flatnonzero(requests == request)
        if chosen.size == 0:
            continue
        lists = _live_lists(scenario, request, config, chosen.size, rng)
        total += float(expected_rewards(scenario, request, users[chosen], lists.rows).sum())
    return total / sessions


def _live_lists(scenario: Scenario, request: int, config: RankerConfig, n: int,
                rng: np.random.Generator) -> Lists:
    """Lists ``config`` shows for this request, ranked over the whole catalogue."""
    return policy_lists(scenario.arrays, live_candidates(scenario, request, config), config,
                        sessions=n, rng=rng)


def live_candidates(scenario: Scenario, request: int, config: RankerConfig) -> Candidates:
    """The configuration's candidates for a request as the preview logs them: its own pool
    (what it ranks from live) first, then as many tracks again."""
    key = (request, replace(config, exploration=0.0))
    if key not in scenario.live:
        req = scenario.requests[request]
        playlist = rank(scenario.arrays, slots=req.slots, relevance=scenario.relevance[request],
                        config=config, context=req.context())
        scenario.live[key] = Candidates(playlist.candidate_rows, playlist.candidate_parts)
    return scenario.live[key]


def log_sessions(scenario: Scenario, config: RankerConfig, *, sessions: int,
                 rng: np.random.Generator) -> tuple[LoggedLists, np.ndarray]:
    """``sessions`` lists shown under ``config`` (the configuration the scenario's candidates
    come from) with what users did; returns the log and each session's user."""
    requests, users = _split(scenario, sessions, rng)
    width = config.size
    shown = np.full((sessions, width), -1, dtype=np.int64)
    propensities = np.ones((sessions, width))
    rewards = np.zeros((sessions, width))
    for request in range(scenario.size):
        chosen = np.flatnonzero(requests == request)
        if chosen.size == 0:
            continue
        lists = policy_lists(scenario.arrays, scenario.candidates[request], config,
                             sessions=chosen.size, rng=rng)
        rows = lists.rows[:, :width]
        shown[chosen, :rows.shape[1]] = rows
        propensities[chosen, :rows.shape[1]] = np.where(rows >= 0,
                                                        lists.probabilities[:, :width], 1.0)
        actions = browse(scenario, request, users[chosen], shown[chosen], rng)
        lists_shown = shown[chosen]
        rewards[chosen] = composite_rewards(
            actions, weights=scenario.weights,
            diversity=list_diversity(scenario.arrays.unit_features, lists_shown),
            novelty=list_novelty(scenario.arrays.popularity, lists_shown))
    return LoggedLists(requests, shown, propensities, rewards), users


SAMPLES = 1_000
"""Lists drawn per request and configuration for the marginals and the reward model."""
TRUTH_SESSIONS = 100_000


@dataclass
class Experiment:
    """A scenario with a logging configuration and targets, their true values and drawn
    lists computed once, so that many logs can be drawn and estimated cheaply."""

    scenario: Scenario
    logging: RankerConfig
    targets: dict[str, RankerConfig]
    truth: dict[str, float]
    logging_samples: PolicySamples
    target_samples: dict[str, PolicySamples]

    @classmethod
    def prepare(cls, scenario: Scenario, logging: RankerConfig,
                targets: dict[str, RankerConfig], *, samples: int = SAMPLES,
                truth_sessions: int = TRUTH_SESSIONS, seed: int = 0) -> Experiment:
        if logging.exploration <= 0:
            raise ValueError("the logging configuration must explore (exploration above 0) "
                             "for its log to say anything about another configuration")
        rng = np.random.default_rng(seed)
        arrays, candidates = scenario.arrays, scenario.candidates
        truth = {name: true_value(scenario, config, sessions=truth_sessions, seed=seed + i + 1)
                 for i, (name, config) in enumerate(targets.items())}
        return cls(scenario, logging, dict(targets), truth,
                   PolicySamples.draw(arrays, candidates, logging, samples=samples, rng=rng),
                   {name: PolicySamples.draw(arrays, candidates, config, samples=samples,
                                             rng=rng) for name, config in targets.items()})

    def run(self, *, sessions: int, seed: int, rounds: int = BOOTSTRAP_ROUNDS
            ) -> dict[str, list[Outcome]]:
        """Log ``sessions`` sessions under the logging configuration and estimate every
        target with every estimator."""
        rng = np.random.default_rng(seed)
        log, _ = log_sessions(self.scenario, self.logging, sessions=sessions, rng=rng)
        out = {}
        for name in self.targets:
            replayed = replay_log(self.scenario.arrays, self.scenario.candidates, log,
                                  logging=self.logging_samples,
                                  target=self.target_samples[name])
            out[name] = estimate_all(log, replayed, rounds=rounds, seed=seed)
        return out
