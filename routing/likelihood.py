"""Empirical-likelihood intervals for a mean, with a control variate whose mean is known.

An importance-weighted estimate (IPS over whole lists, doubly robust, the reward-interaction
estimator's ratios down to each position) is a mean of terms driven by weights whose own mean is
known: the logging configuration's expectation of the target's
probability ratio is 1 (or the share of the target's lists the log could show, when some lie
beyond its support). When a log happens to miss the rare large weights, its mean weight falls
below that, its estimate falls low, and a bootstrap over the same sessions sees no large weight
either: the interval is both off and too narrow, and misses from below more often than 2.5% of
the time (measured in ``bench.ope_simulated`` on stronger constraints, position-based users:
0.86-0.88 coverage for IPS's percentile bootstrap).

The empirical likelihood (Owen, 2001) puts a probability on each logged session; Qin and
Lawless (1994) add the known mean as a constraint, so the sessions are reweighted towards a
mean weight of its expected value before the value is read. Karampatziakis, Langford and
Mineiro ("Empirical Likelihood for Contextual Bandits", NeurIPS 2020) use exactly this for
off-policy intervals: the interval is every value whose profile likelihood ratio statistic,
``-2 log R(v) + 2 log R``, stays within the chi-square quantile with one degree of freedom.
Its centre, the mean under the reweighting, is their point estimate, and ``difference`` gives
two configurations on the same sessions one reweighting for both.

Pure functions over arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

NEWTON_STEPS = 100
ROOT_ITERATIONS = 100
BRACKET_DOUBLINGS = 80
SESSIONS_PER_CONTROL = 50
"""Each control spends a degree of freedom of the likelihood: a small log cannot hold many means
to their known values at once without reweighting its few sessions wildly (36 sessions and ten
controls move a value by a tenth though every weight is within 0.1% of 1). Below this many
sessions per control only the controls' leading principal components are kept, none below this
many sessions in all."""
ROUNDING = 1e-9
"""A control (or a profiled column) that varies less than this, relative to its size, varies by
rounding alone (a target whose probabilities are the logged ones times a constant):
standardised, its rounding noise would become a constraint the log cannot meet, so it counts
as constant."""
COLLINEAR = 1e-10
"""A principal component of the standardised controls with less than this share of the
largest one's variance repeats the others (the ratios down to successive positions of a
list often nearly do) and is left out."""


def _log_star(x: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Owen's pseudo-logarithm (the log above ``eps``, its second-order Taylor expansion
    below), with its first and second derivatives: defined everywhere, so the dual below can
    be maximised even where the constraint lies outside the data's convex hull."""
    low = x < eps
    safe = np.where(low, 1.0, x)
    ratio = x / eps
    value = np.where(low, np.log(eps) - 1.5 + 2.0 * ratio - 0.5 * ratio ** 2, np.log(safe))
    first = np.where(low, 2.0 / eps - x / eps ** 2, 1.0 / safe)
    second = np.where(low, -1.0 / eps ** 2, -1.0 / safe ** 2)
    return value, first, second


def _dual(z: np.ndarray) -> tuple[float, np.ndarray]:
    """``-2 log R`` of the hypothesis that every column of ``z`` has mean 0, and the
    Lagrange multipliers (Newton's method on the concave dual, with step halving)."""
    n, d = z.shape
    eps = 1.0 / n
    lam = np.zeros(d)
    value = 0.0
    for _ in range(NEWTON_STEPS):
        value_terms, first, second = _log_star(1.0 + z @ lam, eps)
        value = float(value_terms.sum())
        gradient = z.T @ first
        hessian = (z * second[:, None]).T @ z - 1e-12 * np.eye(d)
        try:
            step = np.linalg.solve(hessian, -gradient)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(hessian, -gradient, rcond=None)[0]
        size = 1.0
        while size > 1e-12:
            trial = lam + size * step
            trial_value = float(_log_star(1.0 + z @ trial, eps)[0].sum())
            if trial_value >= value - 1e-12:
                break
            size /= 2.0
        else:
            break
        lam, value = trial, trial_value
        if np.abs(size * step).max() < 1e-12:
            break
    return 2.0 * value, lam


def interval(values: np.ndarray, control: np.ndarray, *, confidence: float
             ) -> tuple[float, float, float]:
    """The maximum-likelihood mean of ``values`` given that ``control``'s mean is 0, and the
    empirical-likelihood interval around it: ``(centre, low, high)``.

    ``values`` is ``(n,)`` per session; ``control`` is ``(n,)``, or ``(n, d)`` for several
    controls each known to have mean 0 (the ratios of the list down to each position). A
    control that does not vary says nothing and is left out, as are controls that repeat
    others and, on a small log, all but the leading ones (``_components``); with none left,
    the interval is the plain empirical-likelihood interval of the mean. Where ``values`` do not
    vary, all three are that value.
    """
    values, control = _checked(values, control, confidence)
    spread = float(values.std())
    if spread == 0.0:
        v = float(values[0])
        return v, v, v
    profile = _Profile(control, confidence)
    centre = profile.mean(values)
    low, high = profile.bounds(lambda v: values - v, centre, spread / np.sqrt(len(values)))
    return centre, low, high


@dataclass(frozen=True)
class Paired:
    """Two configurations' values on the same sessions, under one reweighting of them, and the
    intervals of ``A - B`` and of ``100 * (A - B) / |B|`` (``None`` where B's value is 0)."""

    value_a: float
    value_b: float
    low: float
    high: float
    relative: float | None
    relative_low: float | None
    relative_high: float | None


def difference(a: np.ndarray, b: np.ndarray, control: np.ndarray, *, confidence: float
               ) -> Paired:
    """A paired comparison of two plain means over the same sessions, ``a`` and ``b``, given
    that every column of ``control`` (both sides' controls) has mean 0.

    The sessions are reweighted once, for all the controls together, and both values read
    under that weighting, so the difference is exactly the difference of the two values and
    lies inside its interval. The relative difference's interval profiles the one equation it
    solves, ``mean(a - b - r / 100 * sign(B) * b) = 0``.
    """
    if np.shape(a) != np.shape(b):
        raise ValueError(f"a has shape {np.shape(a)} and b {np.shape(b)}: a paired comparison "
                         "needs one value per session on each side, the same sessions")
    a, control = _checked(a, control, confidence)
    b, _ = _checked(b, control, confidence)
    profile = _Profile(control, confidence)
    value_a, value_b = profile.mean(a), profile.mean(b)
    change = a - b
    low, high = profile.bounds(lambda v: change - v, value_a - value_b,
                               float(change.std()) / np.sqrt(len(a)))
    if value_b == 0.0:
        return Paired(value_a, value_b, low, high, None, None, None)
    relative = 100.0 * (value_a - value_b) / abs(value_b)
    unit = np.sign(value_b) * b / 100.0
    relative_low, relative_high = profile.bounds(
        lambda r: change - r * unit, relative,
        100.0 * float((change - relative * unit).std()) / abs(value_b) / np.sqrt(len(a)))
    return Paired(value_a, value_b, low, high, relative, relative_low, relative_high)


class _Profile:
    """The likelihood of the sessions under the controls' known means: its maximum, the
    reweighting of the sessions that reaches it, and the profile of one more estimating
    equation against the chi-square quantile."""

    def __init__(self, control: np.ndarray, confidence: float) -> None:
        n = len(control)
        self.constraint = _components(control, n)
        self.base, lam = (_dual(self.constraint) if self.constraint.shape[1]
                          else (0.0, np.zeros(0)))
        probabilities = 1.0 / np.maximum(1.0 + self.constraint @ lam, 1.0 / n)
        self.probabilities = probabilities / probabilities.sum()
        self.critical = float(stats.chi2.ppf(confidence, 1))

    def mean(self, values: np.ndarray) -> float:
        """The maximum-likelihood mean of ``values``."""
        return float(self.probabilities @ values)

    def statistic(self, column: np.ndarray) -> float:
        """``-2 log`` of the likelihood ratio of ``column`` having mean 0 too."""
        scale = float(column.std())
        size = ROUNDING * max(1.0, float(np.abs(column).max()))
        if scale <= size:  # a constant, up to rounding: mean 0 holds exactly or cannot
            return 0.0 if abs(float(column.mean())) <= size else float("inf")
        return _dual(np.column_stack([self.constraint, column / scale]))[0] - self.base

    def bounds(self, column_of: Callable[[float], np.ndarray], centre: float, step: float
               ) -> tuple[float, float]:
        """Where the statistic of ``column_of(v)`` reaches the quantile on either side of
        ``centre``, the value at which the column has mean 0 under the reweighting: a point
        where the column does not vary (``step`` 0) or the centre is past the quantile by
        rounding alone."""
        if step == 0.0 or self.statistic(column_of(centre)) >= self.critical:
            return centre, centre
        low, high = (_bound(lambda v: self.statistic(column_of(v)), self.critical, centre,
                            sign * step) for sign in (-1.0, 1.0))
        return low, high


def _components(control: np.ndarray, n: int) -> np.ndarray:
    """The controls as standardised leading principal components: those that vary, are not
    repeated by the others, and (at most one per ``SESSIONS_PER_CONTROL`` sessions) carry the
    most variance. Any linear combination of controls with mean 0 has mean 0, and the
    likelihood does not change when its constraints are recombined, so a full set of
    components gives the same interval as the controls themselves."""
    spread = control.std(axis=0)
    varies = spread > ROUNDING * np.maximum(1.0, np.abs(control).max(axis=0))
    kept = n // SESSIONS_PER_CONTROL
    if not varies.any() or kept == 0:
        return np.zeros((n, 0))
    scaled = control[:, varies] / spread[varies]
    variances, vectors = np.linalg.eigh(np.cov(scaled, rowvar=False).reshape(
        scaled.shape[1], scaled.shape[1]))
    order = np.argsort(variances)[::-1]
    variances, vectors = variances[order], vectors[:, order]
    chosen = variances > COLLINEAR * variances[0]
    chosen[kept:] = False
    components = scaled @ vectors[:, chosen]
    return components / components.std(axis=0)


def _checked(values, control, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """``values`` as ``(n,)`` and ``control`` as ``(n, d)`` floats; ``ValueError`` if not."""
    values = np.asarray(values, dtype=np.float64)
    control = np.asarray(control, dtype=np.float64)
    if control.ndim == 1:
        control = control[:, None]
    if (values.ndim != 1 or control.ndim != 2 or len(control) != len(values)
            or len(values) < 2):
        raise ValueError("values and control need one number (or row) per session, two "
                         "sessions at least")
    if not (np.isfinite(values).all() and np.isfinite(control).all()):
        raise ValueError("values and control must be finite")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    return values, control


def _bound(statistic, critical: float, centre: float, step: float) -> float:
    """Where the statistic reaches ``critical`` going from ``centre`` in ``step``'s direction
    (the step doubled until it does, then Brent's method between the last two points)."""
    inside, outside = centre, centre + step
    for _ in range(BRACKET_DOUBLINGS):
        if statistic(outside) >= critical:
            break
        inside, outside = outside, centre + 2.0 * (outside - centre)
    else:  # never reached: the bound is as far as it went
        return float(outside)
    return float(optimize.brentq(lambda v: statistic(v) - critical, inside, outside,
                                 xtol=1e-9 * abs(step), maxiter=ROOT_ITERATIONS))
