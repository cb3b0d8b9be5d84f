"""Off-policy (counterfactual) estimates of a target ranker configuration's value, from lists
logged under another configuration.

Pure functions over arrays. A log of ``n`` sessions, each a shown list of ``K`` positions, is:

- ``rewards``: ``(n, K)`` reward at each position (the lead's composite objective, already
  applied to the plays, saves and skips that followed);
- ``logging``: ``(n, K)`` the probability the logging configuration gave the shown track at each
  position, given the tracks above it (what the ranker logs: it samples position by position);
- ``target``: ``(n, K)`` the same probabilities under the target configuration, for the same
  shown tracks.

Every estimator is a ratio of sums over sessions, ``sum(numerator) / sum(denominator)`` (or,
for those normalised position by position, a sum of such ratios, one per position), so one
bootstrap over sessions gives each its interval. IPS, doubly robust and the reward-interaction
estimator, plain means of list-weighted terms, instead get an empirical-likelihood interval
that uses what the bootstrap cannot see, the weights' known mean (``likelihood``;
Karampatziakis, Langford and Mineiro, NeurIPS 2020), and report its centre as their value: the
ratio of sums below, with the sessions reweighted so the weights average what they are known
to. Each names its assumption; the more the
assumption holds, the smaller the weights it needs and the narrower its interval.

Sources: Horvitz and Thompson (1952) and Precup et al. (2000) for IPS; Swaminathan and Joachims
(NeurIPS 2015) for self-normalised IPS; Dudik, Langford and Li (ICML 2011) for doubly robust;
Li et al. (WSDM 2018) for the independent-position (item-position) estimator; McInerney et al.
(KDD 2020, Spotify) for the reward-interaction estimator under a cascade.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from labeling.exceptions import LabelingError
from routing import likelihood

BOOTSTRAP_ROUNDS = 1_000
CONFIDENCE = 0.95
MIN_EFFECTIVE_SHARE = 0.1
"""An estimate needs an effective sample size of at least this share of the sessions ...

Below it the weights are so heavy-tailed that the bootstrap interval cannot be trusted either:
on simulated users (``bench.ope_simulated``; ``workbench experiments simulate``), a target whose
3,000 logged sessions counted as 124 (4%) got an IPS interval of [1.05, 1.70] around a true
value of 2.07, while targets at 60% and more covered the truth in 90-100% of 50 runs."""
MIN_EFFECTIVE_SESSIONS = 30.0
"""... and at least this many sessions."""


class SupportError(LabelingError):
    """The target's choices are too far from what was logged to estimate its value.

    ``sessions`` and ``effective_sessions`` are set when the weights were too uneven,
    ``beyond_support`` when too much of the target lies beyond what the logging configuration
    could show (all left ``None`` when the log did not explore at all)."""

    def __init__(self, message: str, *, sessions: int | None = None,
                 effective_sessions: float | None = None,
                 beyond_support: float | None = None) -> None:
        super().__init__(message)
        self.sessions = sessions
        self.effective_sessions = effective_sessions
        self.beyond_support = beyond_support


@dataclass(frozen=True)
class Estimate:
    """An estimator's value of the target, its interval and effective sample size."""

    estimator: str
    value: float
    low: float
    high: float
    effective_sessions: float
    sessions: int

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


@dataclass(frozen=True)
class Terms:
    """Per-session numerator and denominator of an estimator, and the weights it relied on
    (for the effective sample size).

    ``(n,)`` arrays give the ratio ``sum(numerator) / sum(denominator)``; ``(n, K)`` arrays
    (an estimator normalised position by position) give the sum over positions of each
    position's ratio."""

    numerator: np.ndarray
    denominator: np.ndarray
    weights: np.ndarray
    control: np.ndarray | None = None
    """For an estimator that is a plain mean of list-weighted terms: each session's list weight
    minus its expectation under the logging configuration (1, or the share of the target's
    lists within the log's support), a control variate whose mean is known to be 0; ``(n,)``
    for whole lists, ``(n, K)`` for the list down to each position. With it the interval is an
    empirical-likelihood one (``likelihood.interval``)."""

    def value(self) -> float:
        """The estimator's value on all the sessions."""
        numerator, denominator = self.columns()
        return float(_column_ratios(numerator.sum(axis=0), denominator.sum(axis=0)))

    def take(self, rows: np.ndarray) -> Terms:
        """The terms of these sessions (indices, repeats allowed: a resample)."""
        return Terms(np.asarray(self.numerator)[rows], np.asarray(self.denominator)[rows],
                     np.asarray(self.weights)[rows],
                     None if self.control is None else np.asarray(self.control)[rows])

    def within_support(self, mass: np.ndarray) -> Terms:
        """The same terms, their control variate centred on ``1 - mass``: the expected weight
        when the target puts ``mass`` of its lists (down to each position, for ``(n, K)``)
        beyond what the log could show."""
        if self.control is None:
            return self
        control, mass = np.asarray(self.control), np.asarray(mass, dtype=np.float64)
        if mass.shape != control.shape:
            raise ValueError(f"mass {mass.shape} does not match the control {control.shape}")
        return replace(self, control=control + mass)

    def columns(self) -> tuple[np.ndarray, np.ndarray]:
        """Numerator and denominator as ``(n, K)`` arrays (``K`` = 1 for one ratio)."""
        numerator, denominator = np.asarray(self.numerator), np.asarray(self.denominator)
        if numerator.ndim == 1:
            return numerator[:, None], denominator[:, None]
        return numerator, denominator


def _check(rewards: np.ndarray, logging: np.ndarray, target: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rewards, logging, target = (np.asarray(a, dtype=np.float64) for a in (rewards, logging,
                                                                          target))
    if rewards.ndim != 2 or rewards.shape != logging.shape or rewards.shape != target.shape:
        raise ValueError(f"rewards {rewards.shape}, logging {logging.shape} and target "
                         f"{target.shape} must be the same (sessions, positions) shape")
    if len(rewards) == 0:
        raise SupportError("no logged sessions to estimate from")
    for name, values in (("rewards", rewards), ("logging", logging), ("target", target)):
        if not np.isfinite(values).all():
            raise ValueError(f"{name} holds NaN or infinite values")
    if ((logging <= 0) | (logging > 1)).any():
        raise ValueError("a logged probability must lie in (0, 1]: the logging configuration "
                         "showed every logged track")
    if ((target < 0) | (target > 1)).any():
        raise ValueError("target probabilities must lie in [0, 1]")
    if np.isin(logging, (0.0, 1.0)).all():
        raise SupportError(
            "the logging configuration did not explore (every logged probability is 1): a "
            "log of one fixed order says nothing about another configuration; log with "
            "exploration (WORKBENCH_EXPLORATION above 0) before estimating")
    return rewards, logging, target


def effective_sessions(weights: np.ndarray) -> float:
    """Kish's effective sample size of importance weights: ``sum(w)^2 / sum(w^2)``."""
    weights = np.asarray(weights, dtype=np.float64)
    square = float((weights ** 2).sum())
    return 0.0 if square == 0 else float(weights.sum() ** 2 / square)


def list_weights(logging: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``(n,)`` the whole list's probability ratio, target over logging."""
    return np.prod(np.asarray(target) / np.asarray(logging), axis=1)


def cascade_weights(logging: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``(n, K)`` the ratio of the list down to each position (a cumulative product)."""
    return np.cumprod(np.asarray(target) / np.asarray(logging), axis=1)


def ips_terms(rewards, logging, target) -> Terms:
    """Inverse propensity scoring of the whole list: each session's total reward weighted by
    the list's probability ratio.

    Assumes only that the logging configuration could show every list the target shows
    (unbiased, but the weight is a product over all positions, so its variance grows fast)."""
    rewards, logging, target = _check(rewards, logging, target)
    weights = list_weights(logging, target)
    return Terms(weights * rewards.sum(axis=1), np.ones(len(rewards)), weights, weights - 1.0)


def snips_terms(rewards, logging, target) -> Terms:
    """Self-normalised IPS: IPS divided by the mean weight.

    The same assumption; a little biased, far less variable when weights are large."""
    rewards, logging, target = _check(rewards, logging, target)
    weights = list_weights(logging, target)
    return Terms(weights * rewards.sum(axis=1), weights, weights)


def dr_terms(rewards, logging, target, *, predicted_logged: np.ndarray,
             predicted_target: np.ndarray) -> Terms:
    """Doubly robust: a reward model's value of the target's list, corrected by the weighted
    error of the model on the logged list.

    Unbiased when either the weights or the reward model are right; the better the model, the
    smaller the correction's variance.

    Parameters
    ----------
    predicted_logged
        ``(n,)`` the reward model's total reward of the logged list.
    predicted_target
        ``(n,)`` its expected total reward of the list the target would show.
    """
    rewards, logging, target = _check(rewards, logging, target)
    logged, expected = (np.asarray(a, dtype=np.float64) for a in (predicted_logged,
                                                                  predicted_target))
    if logged.shape != (len(rewards),) or expected.shape != (len(rewards),):
        raise ValueError("predicted_logged and predicted_target need one value per session")
    weights = list_weights(logging, target)
    return Terms(expected + weights * (rewards.sum(axis=1) - logged), np.ones(len(rewards)),
                 weights, weights - 1.0)


def independent_position_terms(rewards, logging_marginal, target_marginal) -> Terms:
    """The independent-position estimator: each position judged on its own, weighted by the
    ratio of the probabilities that the shown track sits at that position.

    Assumes a position-based click model: the reward at a position depends only on the track
    there (and the position), not on the tracks around it.

    Parameters
    ----------
    logging_marginal, target_marginal
        ``(n, K)`` the probability that each shown track is at its position at all (over every
        prefix), not given the tracks above it.
    """
    rewards, weights, worst = _position_weights(rewards, logging_marginal, target_marginal)
    return Terms((weights * rewards).sum(axis=1), np.ones(len(rewards)), worst)


def _position_weights(rewards, logging_marginal, target_marginal
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checked rewards, each position's marginal ratio, and the ratios of the position whose
    effective sample size is the smallest (what support is judged on)."""
    rewards, logging, target = _check(rewards, logging_marginal, target_marginal)
    weights = target / logging
    worst = int(np.argmin([effective_sessions(weights[:, k]) for k in range(weights.shape[1])]))
    return rewards, weights, weights[:, worst]


def reward_interaction_terms(rewards, logging, target) -> Terms:
    """The reward-interaction estimator (RIPS): the reward at each position weighted by the
    ratio of the list down to that position.

    Assumes a cascade: a user reads down the list, so the reward at a position depends on the
    tracks at and above it, not below (McInerney et al., KDD 2020). Its weights are shorter
    products than IPS's, so it varies less, and it is unbiased where the position-based
    estimator is not."""
    rewards, logging, target = _check(rewards, logging, target)
    weights = cascade_weights(logging, target)
    return Terms((weights * rewards).sum(axis=1), np.ones(len(rewards)), weights[:, -1],
                 weights - 1.0)


def sn_independent_position_terms(rewards, logging_marginal, target_marginal) -> Terms:
    """The independent-position estimator self-normalised position by position: each
    position's weighted rewards divided by the sum of its weights (whose expectation is the
    number of sessions), then summed over positions.

    The same assumption as ``independent_position_terms``; a little biased, consistent, and
    less variable where a position's weights are uneven (Swaminathan and Joachims, NeurIPS
    2015, applied per position as in Open Bandit Pipeline's SNIIPS)."""
    rewards, weights, worst = _position_weights(rewards, logging_marginal, target_marginal)
    return Terms(weights * rewards, weights, worst)


def sn_reward_interaction_terms(rewards, logging, target) -> Terms:
    """The reward-interaction estimator self-normalised position by position: at each
    position, the rewards weighted by the ratio of the list down to it, divided by the sum of
    those ratios, then summed over positions (Open Bandit Pipeline's SNRIPS; the cascade
    estimator of McInerney et al., KDD 2020, with Swaminathan and Joachims' normalisation).

    The same cascade assumption as ``reward_interaction_terms``; a little biased, consistent,
    and far less variable at the lower positions, where the ratios are longer products."""
    rewards, logging, target = _check(rewards, logging, target)
    weights = cascade_weights(logging, target)
    return Terms(weights * rewards, weights, weights[:, -1])


EXTRAPOLATION_LEVELS = {"ips": "list", "snips": "list", "dr": "list",
                        "independent_position": "position",
                        "sn_independent_position": "position",
                        "reward_interaction": "prefix", "sn_reward_interaction": "prefix"}
"""What each estimator weighs as one unit, and so what counts as beyond the log's support for
it: a whole list (a list weight), a list down to each position (a cascade weight), or the
track at each position on its own (a marginal weight). The doubly robust estimator's own
reward model already values the target's lists beyond the support (its model term is over the
target's lists, its correction over the supported ones), so it takes no fill."""
SELF_NORMALISED = frozenset({"snips", "sn_independent_position", "sn_reward_interaction"})
MAX_EXTRAPOLATED_SHARE = 0.5
"""Above this share of the target's lists (or positions) beyond the log's support, an estimate
would be more the reward model's guess than the log's evidence: the estimators refuse."""


def extrapolated(terms: Terms, fill: np.ndarray, mass: np.ndarray, *,
                 normalised: bool) -> Terms:
    """An estimator's terms with the part of the target beyond the log's support filled in by
    a reward model (reward extrapolation: Sachdeva, Su and Joachims, KDD 2020, "Off-policy
    bandits with deficient support").

    When the target's probabilities are its own (not renormalised over what was logged), the
    weights only reach the target's lists the logging configuration could show: their mean is
    ``1 - mass``, and the estimator values the supported part alone. ``fill`` adds the rest: the
    target's expected reward from lists beyond the support, ``mass`` their probability. A
    self-normalised estimator divides its weights by ``1 - mass`` so that they again average 1
    (where ``mass`` is 1 nothing was supported: the session counts 1 and its fill is all).

    Assumes the reward model is right where the log cannot say; the error it adds is at most
    ``mass`` times the model's error there.

    Parameters
    ----------
    fill, mass
        ``(n,)`` per session for an estimator of whole lists, or ``(n, K)`` per position (each
        session's request's value), summed over positions when the terms are one ratio.
    """
    numerator, denominator = (np.asarray(a, dtype=np.float64) for a in terms.columns())
    fill, mass = np.asarray(fill, dtype=np.float64), np.asarray(mass, dtype=np.float64)
    given_mass = mass
    if fill.shape != mass.shape or len(fill) != len(numerator) or fill.ndim not in (1, 2):
        raise ValueError(f"fill {fill.shape} and mass {mass.shape} need one value per session "
                         f"(and position) of the {len(numerator)} sessions")
    if not (np.isfinite(fill).all() and ((mass >= 0) & (mass <= 1)).all()):
        raise ValueError("fill must be finite and mass a probability in [0, 1]")
    one_ratio = np.asarray(terms.numerator).ndim == 1
    if one_ratio and fill.ndim == 2:
        if normalised:
            raise ValueError("an estimator normalised over whole lists needs (n,) fill and mass")
        fill = fill.sum(axis=1)
    if fill.ndim == 1:
        fill, mass = fill[:, None], mass[:, None]
    if fill.shape != numerator.shape:
        raise ValueError(f"fill {fill.shape} does not match the terms {numerator.shape}")
    if normalised:
        denominator = np.where(mass < 1, denominator / np.where(mass < 1, 1.0 - mass, 1.0), 1.0)
    numerator = numerator + fill
    if one_ratio:
        numerator, denominator = numerator[:, 0], denominator[:, 0]
    return Terms(numerator, denominator, terms.weights, terms.control).within_support(given_mass)


def _column_ratios(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Sum over the last axis of ``numerator / denominator`` (NaN where any is 0)."""
    return np.divide(numerator, denominator, out=np.full(numerator.shape, np.nan),
                     where=denominator != 0).sum(axis=-1)


BOOTSTRAP_CHUNK = 2_000_000
"""Resampled indices drawn at once (16 MB): rounds are drawn in blocks of this many."""


def _bootstrap(terms: Terms, *, rounds: int, seed: int) -> np.ndarray:
    """The estimator's ratio on ``rounds`` resamples of the sessions (with replacement)."""
    return _paired_bootstrap([terms], rounds=rounds, seed=seed)[0]


def _paired_bootstrap(terms: Sequence[Terms], *, rounds: int, seed: int) -> np.ndarray:
    """``(len(terms), rounds)`` each estimator's ratio on the same ``rounds`` resamples of the
    sessions (the same session indices for every one of them)."""
    n = len(terms[0].numerator)
    columns = [t.columns() for t in terms]
    width = max(numerator.shape[1] for numerator, _ in columns)
    rng = np.random.default_rng(seed)
    block = max(1, BOOTSTRAP_CHUNK // max(n * width, 1))
    out: list[np.ndarray] = []
    for start in range(0, rounds, block):
        rows = rng.integers(0, n, (min(block, rounds - start), n))
        out.append(np.stack([_column_ratios(numerator[rows].sum(axis=1),
                                            denominator[rows].sum(axis=1))
                             for numerator, denominator in columns]))
    return np.concatenate(out, axis=1) if out else np.zeros((len(terms), 0))


def estimate(name: str, terms: Terms, *, rounds: int = BOOTSTRAP_ROUNDS,
             confidence: float = CONFIDENCE, seed: int = 0,
             min_effective_share: float = MIN_EFFECTIVE_SHARE,
             min_effective_sessions: float = MIN_EFFECTIVE_SESSIONS) -> Estimate:
    """The estimate with a percentile bootstrap interval over sessions, or, for terms with a
    control variate (a plain mean of list-weighted terms: IPS, doubly robust,
    reward-interaction), an empirical-likelihood interval that uses the weights' known mean
    (``likelihood``), and that likelihood's centre as the value: the plain mean with the
    sessions reweighted so the weights average what they are known to (Karampatziakis et al.'s
    point estimate). It equals the plain mean when the log's mean weight is its expectation,
    and it always lies inside its interval, which the plain mean need not.

    Raises ``SupportError`` when the effective sample size of the weights is below
    ``min_effective_sessions`` or ``min_effective_share`` of the sessions: the target's choices
    are too far from what was logged to say anything.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    n = len(terms.numerator)
    ess = _supported(name, terms, min_effective_share=min_effective_share,
                     min_effective_sessions=min_effective_sessions)
    if terms.control is not None:
        value, low, high = likelihood.interval(_plain_mean(terms), np.asarray(terms.control),
                                               confidence=confidence)
    else:
        value = terms.value()
        low, high = _interval(_bootstrap(terms, rounds=rounds, seed=seed), confidence)
    return Estimate(estimator=name, value=value, low=low, high=high,
                    effective_sessions=ess, sessions=n)


def _plain_mean(terms: Terms) -> np.ndarray:
    """The per-session values of terms whose estimate is their plain mean (``ValueError`` if
    it is not: a control variate is for those alone)."""
    numerator, denominator = terms.columns()
    if not (denominator == 1).all():
        raise ValueError("a control variate needs terms that are a plain mean")
    return numerator[:, 0]


def _supported(name: str, terms: Terms, *, min_effective_share: float,
               min_effective_sessions: float) -> float:
    """The effective sample size of the terms' weights; ``SupportError`` when it is too low."""
    n = len(terms.numerator)
    ess = effective_sessions(terms.weights)
    needed = max(min_effective_sessions, min_effective_share * n)
    if ess < needed:
        raise SupportError(
            f"{name}: too little support to estimate: the target's lists are so unlike the "
            f"logged ones that {n:,} sessions count as {ess:.1f} (at least {needed:.0f} "
            "needed); log with more exploration or compare closer configurations",
            sessions=n, effective_sessions=ess)
    return ess


def _interval(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    """The percentile interval of the finite bootstrap draws (NaN when there are none)."""
    draws = draws[np.isfinite(draws)]
    tail = (1 - confidence) / 2
    if not len(draws):
        return float("nan"), float("nan")
    low, high = np.quantile(draws, [tail, 1 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class Difference:
    """Two configurations' values on the same logged sessions and their difference, A - B,
    with paired intervals (bootstrap: the same resampled sessions for both; likelihood: one
    reweighting of the sessions for both), so what the sessions share cancels out of them."""

    estimator: str
    value_a: float
    value_b: float
    difference: float
    low: float
    high: float
    relative: float | None
    """The difference in % of B's value (``None`` when B's value is 0)."""
    relative_low: float | None
    relative_high: float | None
    effective_sessions: float
    """The smaller of A's and B's effective sample sizes."""
    sessions: int

    def as_dict(self) -> dict[str, float | int | str | None]:
        return asdict(self)


def compare(name: str, terms_a: Terms, terms_b: Terms, *, rounds: int = BOOTSTRAP_ROUNDS,
            confidence: float = CONFIDENCE, seed: int = 0,
            min_effective_share: float = MIN_EFFECTIVE_SHARE,
            min_effective_sessions: float = MIN_EFFECTIVE_SESSIONS) -> Difference:
    """A paired comparison of two configurations on the same log: ``A - B`` and, in % of B,
    ``100 * (A - B) / |B|``, each with a percentile bootstrap interval that resamples the same
    sessions for both; or, where both sides' terms have a control variate, both values and
    intervals from the empirical likelihood with every control of both sides
    (``likelihood.difference``), as ``estimate`` gives each side on its own.

    Raises ``SupportError`` when either side's weights have too small an effective sample size
    (as ``estimate`` does), and ``ValueError`` when the terms are not over the same sessions.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    n = len(terms_a.numerator)
    if len(terms_b.numerator) != n:
        raise ValueError(f"A has {n} sessions and B {len(terms_b.numerator)}: a paired "
                         "comparison needs the same sessions")
    ess = min(_supported(name, t, min_effective_share=min_effective_share,
                         min_effective_sessions=min_effective_sessions)
              for t in (terms_a, terms_b))
    if terms_a.control is not None and terms_b.control is not None:
        paired = likelihood.difference(
            _plain_mean(terms_a), _plain_mean(terms_b),
            np.column_stack([np.asarray(terms_a.control).reshape(n, -1),
                             np.asarray(terms_b.control).reshape(n, -1)]),
            confidence=confidence)
        return Difference(estimator=name, difference=paired.value_a - paired.value_b,
                          effective_sessions=ess, sessions=n, **asdict(paired))
    value_a, value_b = terms_a.value(), terms_b.value()
    draws_a, draws_b = _paired_bootstrap([terms_a, terms_b], rounds=rounds, seed=seed)
    low, high = _interval(draws_a - draws_b, confidence)
    relative = relative_low = relative_high = None
    if value_b != 0 and np.isfinite(value_b):
        relative = 100.0 * (value_a - value_b) / abs(value_b)
        shares = np.divide(100.0 * (draws_a - draws_b), np.abs(draws_b),
                           out=np.full(len(draws_b), np.nan), where=draws_b != 0)
        relative_low, relative_high = _interval(shares, confidence)
    return Difference(estimator=name, value_a=value_a, value_b=value_b,
                      difference=value_a - value_b, low=low, high=high, relative=relative,
                      relative_low=relative_low, relative_high=relative_high,
                      effective_sessions=ess, sessions=n)


TermsFunction = Callable[..., Terms]
ESTIMATORS: dict[str, TermsFunction] = {
    "ips": ips_terms,
    "snips": snips_terms,
    "dr": dr_terms,
    "independent_position": independent_position_terms,
    "sn_independent_position": sn_independent_position_terms,
    "reward_interaction": reward_interaction_terms,
    "sn_reward_interaction": sn_reward_interaction_terms,
}
MARGINAL_ESTIMATORS = frozenset({"independent_position", "sn_independent_position"})
"""The estimators that weigh by each shown track's marginal chance to sit at its position
(drawn lists, so a marginal can come out 0), not by the logged conditional probabilities."""
