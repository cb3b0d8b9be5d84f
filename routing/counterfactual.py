"""From logged lists to off-policy estimates of a target ranker configuration: what the target
would have done with each logged request, and the estimators' inputs (pure, no database).

A logged request keeps its **candidates**: the pool the ranker chose from, with each track's
score parts (``ranker.PARTS``), so that any configuration's scores over the same pool follow
(``ranker.rescore``). For a target configuration this module gives:

- the probability of each logged position given the positions above it, by replaying the
  logged order through the target's MMR (``routing.mmr``) over the target's own pool: its best
  ``pool`` tracks among the logged candidates. The log keeps more candidates than the logging
  configuration's pool (``ranker.CANDIDATES_PER_POOL``), so a target that weighs the parts
  differently ranks from tracks the logging configuration never could show; its lists that
  reach them are counted (``Unsupported``) and valued by the reward model
  (``offpolicy.extrapolated``) rather than assumed away. A track outside every logged
  candidate cannot be judged at all (the usual support assumption);
- the probability that the shown track sits at its position at all (its marginal), counted
  over lists drawn from the configuration (Monte Carlo: the marginal of a Plackett-Luce order
  under MMR has no closed form);
- a reward model for the doubly robust estimator and for the target's lists beyond the log's
  support: ridge regression of each position's reward on the shown track's score parts, its
  position and the mean parts of the tracks above it, with their pairwise products
  (``reward_model``), and its expected total over the target's drawn lists.

The estimators themselves are in ``routing.offpolicy``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer

from routing.mmr import Lists, local_indices, mmr_lists
from routing.offpolicy import (
    ESTIMATORS,
    EXTRAPOLATION_LEVELS,
    MAX_EXTRAPOLATED_SHARE,
    SELF_NORMALISED,
    Estimate,
    SupportError,
    Terms,
    dr_terms,
    estimate,
    extrapolated,
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
class Unsupported:
    """The target's lists beyond the log's support, per session (its request's values): the
    target's probability of a list that reaches a track the logging configuration never
    ranked (``mass``), and the reward model's expected reward from such lists (``fill``), for
    a whole list (``(n,)``), for the list down to each position and for the track at each
    position (``(n, K)`` each)."""

    mass: dict[str, np.ndarray]
    fill: dict[str, np.ndarray]

    @classmethod
    def none(cls, n: int, k: int) -> Unsupported:
        return cls({"list": np.zeros(n), "prefix": np.zeros((n, k)),
                    "position": np.zeros((n, k))},
                   {"list": np.zeros(n), "prefix": np.zeros((n, k)),
                    "position": np.zeros((n, k))})

    def share(self, level: str) -> float:
        """The mean share of the target beyond the support, as an estimator of this level
        weighs it (a list's last position for the lists down to each position)."""
        mass = self.mass[level]
        return float((mass[:, -1] if level == "prefix" else mass).mean()) if mass.size else 0.0

    def put(self, rows: np.ndarray, part: Unsupported) -> None:
        for level in self.mass:
            self.mass[level][rows] = part.mass[level]
            self.fill[level][rows] = part.fill[level]

    def subset(self, mask: np.ndarray) -> Unsupported:
        return Unsupported({k: v[mask] for k, v in self.mass.items()},
                           {k: v[mask] for k, v in self.fill.items()})


@dataclass
class Replayed:
    """The estimators' inputs for one target: per-session arrays aligned with the log."""

    target: np.ndarray
    target_marginal: np.ndarray
    logging_marginal: np.ndarray
    predicted_logged: np.ndarray
    predicted_target: np.ndarray
    unsupported: Unsupported | None = None
    """The target's lists beyond what the logging configuration could show (``None``: none)."""


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
    out = Replayed(*(np.ones((n, k)) for _ in range(3)), np.zeros(n), np.zeros(n),
                   Unsupported.none(n, k))
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
        out.predicted_logged[sessions] = _predict(model, context, shown).sum(axis=1)
        drawn = _width(target.lists[index].rows, k)
        predicted = _predict(model, context, drawn)
        out.predicted_target[sessions] = float(predicted.sum(axis=1).mean())
        showable = context.rows[_pool(context, logging.config_at(index))[0]]
        out.unsupported.put(sessions, _beyond(showable, drawn, predicted))
    return out


def _beyond(showable: np.ndarray, drawn: np.ndarray, predicted: np.ndarray) -> Unsupported:
    """The share of the drawn lists that reach a track the logging configuration could not
    show (outside its pool, ``showable``) and the predicted reward they hold, for one request
    (broadcast to its sessions)."""
    outside = (drawn >= 0) & (local_indices(showable, drawn) < 0)
    down_to = np.logical_or.accumulate(outside, axis=1)
    whole = outside.any(axis=1)
    return Unsupported(
        {"list": whole.mean(), "prefix": down_to.mean(axis=0),
         "position": outside.mean(axis=0)},
        {"list": (predicted.sum(axis=1) * whole).mean(),
         "prefix": (predicted * down_to).mean(axis=0),
         "position": (predicted * outside).mean(axis=0)})


def _width(rows: np.ndarray, k: int) -> np.ndarray:
    """``rows`` cut or padded (-1) to ``k`` positions."""
    if rows.shape[1] >= k:
        return rows[:, :k]
    return np.pad(rows, ((0, 0), (0, k - rows.shape[1])), constant_values=-1)


def _features(candidates: Candidates, shown: np.ndarray) -> np.ndarray:
    """``(n * K, 2 * parts + K)`` the reward model's inputs for every position of every list:
    the track's score parts, the mean parts of the tracks above it (what a user reading down
    the list has met before it: 0 at the top), then its position (one-hot)."""
    n, k = shown.shape
    local = candidates.local(shown.ravel())
    parts = np.column_stack([
        np.where(local >= 0, np.asarray(candidates.parts[name])[np.maximum(local, 0)], 0.0)
        for name in MODEL_PARTS]).reshape(n, k, len(MODEL_PARTS))
    above = (np.cumsum(parts, axis=1) - parts) / np.maximum(np.arange(k), 1)[None, :, None]
    positions = np.tile(np.eye(k), (n, 1))
    return np.column_stack([parts.reshape(n * k, -1), above.reshape(n * k, -1), positions])


CONTINUOUS = 2 * len(MODEL_PARTS)
"""The reward model's inputs before the one-hot positions (``_features``)."""


def reward_model() -> Pipeline:
    """Ridge regression of a position's reward on its features and their pairwise products
    (so that a track's fit can count differently at each position and with what is above)."""
    return make_pipeline(FunctionTransformer(quadratic), Ridge(alpha=1.0))


def quadratic(features: np.ndarray, continuous: int = CONTINUOUS) -> np.ndarray:
    """The first ``continuous`` features, their pairwise products (squares included), the
    one-hot positions after them and each position times each continuous feature: what
    scikit-learn's ``PolynomialFeatures(2)`` spans, without its products of two positions (0,
    or a position again). Those made lists of 20 positions cost 435 columns and 53 ms per
    request (``PolynomialFeatures`` multiplies column by column), and lists fitted to a long
    duration thousands."""
    features = np.asarray(features, dtype=np.float64)
    values, positions = features[:, :continuous], features[:, continuous:]
    first, second = np.triu_indices(continuous)
    crossed = (positions[:, :, None] * values[:, None, :]).reshape(len(features), -1)
    return np.column_stack([values, values[:, first] * values[:, second], positions, crossed])


def _reward_model(candidates: Sequence[Candidates], log: LoggedLists) -> Pipeline:
    rows = [(_features(candidates[index], log.shown[log.context == index]),
             log.rewards[log.context == index].ravel(), (log.shown[log.context == index] >= 0)
             .ravel()) for index in np.unique(log.context)]
    features = np.vstack([r[0] for r in rows])
    rewards = np.concatenate([r[1] for r in rows])
    shown = np.concatenate([r[2] for r in rows])
    return reward_model().fit(features[shown], rewards[shown])


def _predict(model: Pipeline, candidates: Candidates, shown: np.ndarray) -> np.ndarray:
    """``(n, K)`` the model's reward at each position of each list (0 past its end)."""
    predicted = model.predict(_features(candidates, shown)).reshape(shown.shape)
    return np.where(shown >= 0, predicted, 0.0)


@dataclass(frozen=True)
class Outcome:
    """One estimator's answer for one target: an estimate, or why it refused."""

    estimator: str
    estimate: Estimate | None
    refused: str | None = None
    beyond_support: float = 0.0
    """The share of the target's lists (or positions, as the estimator weighs them) that reach
    tracks the logging configuration could not show: valued by the reward model."""

    def as_dict(self) -> dict:
        return {"estimator": self.estimator, "refused": self.refused,
                "beyond_support": self.beyond_support,
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
    terms = builders[estimator]()
    beyond = replayed.unsupported
    if beyond is None:
        return terms
    level = EXTRAPOLATION_LEVELS[estimator]
    share = beyond.share(level)
    if share > MAX_EXTRAPOLATED_SHARE:
        unit = {"list": "lists", "prefix": "lists", "position": "positions"}[level]
        raise SupportError(
            f"{estimator}: too little support to estimate: {share:.0%} of the target's {unit} "
            "reach tracks the logging configuration could not show (at most "
            f"{MAX_EXTRAPOLATED_SHARE:.0%} may be left to the reward model); compare closer "
            "configurations", beyond_support=share)
    if estimator == "dr":
        return terms.within_support(beyond.mass[level])
    return extrapolated(terms, beyond.fill[level], beyond.mass[level],
                        normalised=estimator in SELF_NORMALISED)


def estimate_all(log: LoggedLists, replayed: Replayed, *, rounds: int, seed: int = 0,
                 estimators: Sequence[str] = tuple(ESTIMATORS)) -> list[Outcome]:
    """Every estimator's value of the target on this log (each refuses on its own)."""
    out = []
    for name in estimators:
        beyond = (0.0 if replayed.unsupported is None
                  else replayed.unsupported.share(EXTRAPOLATION_LEVELS[name]))
        try:
            out.append(Outcome(name, estimate(name, terms_for(name, log, replayed),
                                              rounds=rounds, seed=seed), beyond_support=beyond))
        except SupportError as exc:
            out.append(Outcome(name, None, str(exc), beyond_support=beyond))
    return out
