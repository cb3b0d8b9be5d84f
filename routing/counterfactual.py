"""From logged lists to off-policy estimates of a target ranker configuration: what the target
would have done with each logged request, and the estimators' inputs (pure, no database).

A logged request keeps its **candidates**: the pool the ranker chose from, with each track's
score parts (``ranker.PARTS``), so that any configuration's scores over the same pool follow
(``ranker.rescore``). For a target configuration this module gives:

- the probability of each logged position given the positions above it, by replaying the
  logged order through the target's MMR (``routing.mmr``): the target's own pool is its best
  ``pool`` tracks among the logged candidates (a track the logging configuration never
  considered cannot be judged, which is the usual support assumption);
- the probability that the shown track sits at its position at all (its marginal), counted
  over lists drawn from the configuration (Monte Carlo: the marginal of a Plackett-Luce order
  under MMR has no closed form);
- a reward model for the doubly robust estimator: ridge regression of each position's reward on
  the shown track's score parts and its position, and its expected total over the target's
  drawn lists.

The estimators themselves are in ``routing.offpolicy``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.linear_model import Ridge

from routing.mmr import Lists, local_indices, mmr_lists
from routing.offpolicy import (
    ESTIMATORS,
    Estimate,
    SupportError,
    Terms,
    dr_terms,
    estimate,
    independent_position_terms,
    ips_terms,
    reward_interaction_terms,
    sn_independent_position_terms,
    sn_reward_interaction_terms,
    snips_terms,
)
from routing.ranker import CatalogueArrays, RankerConfig, rescore
from routing.retrieval import top_rows

MODEL_PARTS = ("relevance", "constraints", "popularity", "session")
"""The score parts the reward model reads (with the position)."""
DEFAULT_SAMPLES = 200
"""Lists drawn per request and configuration for the marginals and the reward model."""


@dataclass(frozen=True)
class Candidates:
    """What the ranker could choose from for one request."""

    rows: np.ndarray
    """Catalogue rows of the pool."""
    parts: Mapping[str, np.ndarray]
    """Each pool track's score parts (``ranker.PARTS``), aligned with ``rows``."""
    target_ms: int | None = None
    """The requested duration, if the list was fitted to one."""

    def local(self, rows: np.ndarray) -> np.ndarray:
        """Each row's index in the pool (-1 where it is not in it, or is padding)."""
        return local_indices(self.rows, rows)


@dataclass(frozen=True)
class LoggedLists:
    """Lists shown under the logging configuration, one per session."""

    context: np.ndarray
    """``(n,)`` each session's request: an index into the candidates."""
    shown: np.ndarray
    """``(n, K)`` catalogue rows shown, -1 past a list's end."""
    propensities: np.ndarray
    """``(n, K)`` the logging configuration's probability of each position given the ones
    above it (anything past a list's end)."""
    rewards: np.ndarray
    """``(n, K)`` the composite reward at each position (0 past a list's end)."""

    def __post_init__(self) -> None:
        n = len(self.context)
        for name in ("shown", "propensities", "rewards"):
            value = getattr(self, name)
            if value.ndim != 2 or len(value) != n or value.shape != self.shown.shape:
                raise ValueError(f"{name} must be (sessions, positions) = {self.shown.shape}")

    def subset(self, mask: np.ndarray) -> LoggedLists:
        return LoggedLists(self.context[mask], self.shown[mask], self.propensities[mask],
                           self.rewards[mask])


def policy_lists(arrays: CatalogueArrays, candidates: Candidates, config: RankerConfig, *,
                 sessions: int, rng: np.random.Generator) -> Lists:
    """``sessions`` lists ``config`` draws from these candidates."""
    pool, scores = _pool(candidates, config)
    return mmr_lists(arrays, candidates.rows[pool], scores[pool], config=config,
                     target_ms=candidates.target_ms, sessions=sessions, rng=rng)


def replay(arrays: CatalogueArrays, candidates: Candidates, config: RankerConfig,
           shown: np.ndarray) -> np.ndarray:
    """``(n, K)`` ``config``'s probability of each shown position given the ones above it."""
    pool, scores = _pool(candidates, config)
    return mmr_lists(arrays, candidates.rows[pool], scores[pool], config=config,
                     target_ms=candidates.target_ms, forced=shown).probabilities


def _pool(candidates: Candidates, config: RankerConfig) -> tuple[np.ndarray, np.ndarray]:
    scores = rescore(candidates.parts, config)
    return top_rows(scores, config.pool), scores


def marginals(samples: Lists, shown: np.ndarray) -> np.ndarray:
    """``(n, K)`` the chance that each shown track sits at its position, from lists drawn for
    the same request (``Lists.marginals``; 1 past a list's end, 0 for a track the drawn
    configuration never puts there)."""
    if samples.marginals is None or samples.pool is None:
        raise ValueError("marginals need drawn lists, not replayed ones")
    n, k = shown.shape
    out = np.zeros((n, k))
    width = min(k, len(samples.marginals))
    local = local_indices(samples.pool, shown[:, :width])
    for position in range(width):
        at = local[:, position]
        out[:, position] = np.where(at >= 0, samples.marginals[position][np.maximum(at, 0)],
                                    0.0)
    out[shown < 0] = 1.0  # past a list's end: no weight either way
    return np.minimum(out, 1.0)  # sums of shares may pass 1 by a rounding error


@dataclass
class Replayed:
    """The estimators' inputs for one target: per-session arrays aligned with the log."""

    target: np.ndarray
    target_marginal: np.ndarray
    logging_marginal: np.ndarray
    predicted_logged: np.ndarray
    predicted_target: np.ndarray


@dataclass
class PolicySamples:
    """Lists drawn per request for one configuration (reused across logs of one scenario)."""

    config: RankerConfig
    lists: list[Lists] = field(default_factory=list)
    per_request: list[RankerConfig] | None = None
    """The configuration of each request where they differ (a policy that picks one per
    prompt, e.g. by intent); ``config`` serves every request otherwise."""

    def config_at(self, index: int) -> RankerConfig:
        return self.config if self.per_request is None else self.per_request[index]

    @classmethod
    def draw(cls, arrays: CatalogueArrays, candidates: Sequence[Candidates],
             config: RankerConfig, *, samples: int, rng: np.random.Generator
             ) -> PolicySamples:
        return cls(config, [policy_lists(arrays, c, config, sessions=samples, rng=rng)
                            for c in candidates])


def replay_log(arrays: CatalogueArrays, candidates: Sequence[Candidates], log: LoggedLists, *,
               logging: PolicySamples, target: PolicySamples) -> Replayed:
    """Everything the estimators need about ``target``'s configuration on this log."""
    n, k = log.shown.shape
    out = Replayed(*(np.ones((n, k)) for _ in range(3)), np.zeros(n), np.zeros(n))
    model = _reward_model(candidates, log)
    for index in np.unique(log.context):
        sessions = np.flatnonzero(log.context == index)
        shown = log.shown[sessions]
        context = candidates[index]
        probabilities = replay(arrays, context, target.config_at(index), shown)
        past_end = shown < 0
        out.target[sessions] = np.where(past_end, 1.0, probabilities)
        out.target_marginal[sessions] = marginals(target.lists[index], shown)
        # the logged list is one more draw of the logging configuration: counting its own
        # probability keeps every shown track's marginal above 0 however few lists were drawn
        drawn_logging = len(logging.lists[index].rows)
        out.logging_marginal[sessions] = np.where(
            past_end, 1.0, (drawn_logging * marginals(logging.lists[index], shown)
                            + log.propensities[sessions]) / (drawn_logging + 1))
        out.predicted_logged[sessions] = _predict(model, context, shown)
        drawn = _width(target.lists[index].rows, k)
        out.predicted_target[sessions] = float(_predict(model, context, drawn).mean())
    return out


def _width(rows: np.ndarray, k: int) -> np.ndarray:
    """``rows`` cut or padded (-1) to ``k`` positions."""
    if rows.shape[1] >= k:
        return rows[:, :k]
    return np.pad(rows, ((0, 0), (0, k - rows.shape[1])), constant_values=-1)


def _features(candidates: Candidates, shown: np.ndarray) -> np.ndarray:
    """``(n * K, parts + K)`` the reward model's inputs for every position of every list."""
    n, k = shown.shape
    local = candidates.local(shown.ravel())
    columns = [np.where(local >= 0, np.asarray(candidates.parts[name])[np.maximum(local, 0)],
                        0.0) for name in MODEL_PARTS]
    positions = np.tile(np.eye(k), (n, 1))
    return np.column_stack([*columns, positions])


def _reward_model(candidates: Sequence[Candidates], log: LoggedLists) -> Ridge:
    rows = [(_features(candidates[index], log.shown[log.context == index]),
             log.rewards[log.context == index].ravel(), (log.shown[log.context == index] >= 0)
             .ravel()) for index in np.unique(log.context)]
    features = np.vstack([r[0] for r in rows])
    rewards = np.concatenate([r[1] for r in rows])
    shown = np.concatenate([r[2] for r in rows])
    return Ridge(alpha=1.0).fit(features[shown], rewards[shown])


def _predict(model: Ridge, candidates: Candidates, shown: np.ndarray) -> np.ndarray:
    """``(n,)`` the model's total reward of each list."""
    predicted = model.predict(_features(candidates, shown)).reshape(shown.shape)
    return np.where(shown >= 0, predicted, 0.0).sum(axis=1)


@dataclass(frozen=True)
class Outcome:
    """One estimator's answer for one target: an estimate, or why it refused."""

    estimator: str
    estimate: Estimate | None
    refused: str | None = None

    def as_dict(self) -> dict:
        return {"estimator": self.estimator, "refused": self.refused,
                **(self.estimate.as_dict() if self.estimate else {})}


def terms_for(estimator: str, log: LoggedLists, replayed: Replayed) -> Terms:
    """The estimator's per-session terms for one target on the log."""
    builders: dict[str, Callable[[], Terms]] = {
        "ips": lambda: ips_terms(log.rewards, log.propensities, replayed.target),
        "snips": lambda: snips_terms(log.rewards, log.propensities, replayed.target),
        "dr": lambda: dr_terms(log.rewards, log.propensities, replayed.target,
                               predicted_logged=replayed.predicted_logged,
                               predicted_target=replayed.predicted_target),
        "independent_position": lambda: independent_position_terms(
            log.rewards, replayed.logging_marginal, replayed.target_marginal),
        "sn_independent_position": lambda: sn_independent_position_terms(
            log.rewards, replayed.logging_marginal, replayed.target_marginal),
        "reward_interaction": lambda: reward_interaction_terms(log.rewards, log.propensities,
                                                               replayed.target),
        "sn_reward_interaction": lambda: sn_reward_interaction_terms(
            log.rewards, log.propensities, replayed.target),
    }
    if estimator not in builders:
        raise ValueError(f"unknown estimator {estimator!r}; one of {', '.join(builders)}")
    return builders[estimator]()


def estimate_all(log: LoggedLists, replayed: Replayed, *, rounds: int, seed: int = 0,
                 estimators: Sequence[str] = tuple(ESTIMATORS)) -> list[Outcome]:
    """Every estimator's value of the target on this log (each refuses on its own)."""
    out = []
    for name in estimators:
        try:
            out.append(Outcome(name, estimate(name, terms_for(name, log, replayed),
                                              rounds=rounds, seed=seed)))
        except SupportError as exc:
            out.append(Outcome(name, None, str(exc)))
    return out
