"""Maximal marginal relevance (MMR) over a candidate pool, for many sessions at once: drawn, or
replayed for given orders.

The ranker orders its best-scored tracks greedily: at each position it takes the track with the
highest ``lambda * relevance - (1 - lambda) * similarity to the tracks above``, at most
``max_per_artist`` per artist, until the list has ``size`` tracks or fills the requested
duration. With ``exploration`` above 0, each position is instead drawn from a softmax of those
values at that temperature (Plackett-Luce), and the probability of the drawn track is kept.

The same loop replays a given order (``forced``): it returns the probability, under a
configuration, of each position's track given the tracks above it. That is what off-policy
evaluation needs of a target configuration for a logged list (``routing.offpolicy``); a track
outside the pool, past the configuration's length, or never chosen at temperature 0 gets 0.

Pure numpy over ``(sessions, pool)`` arrays; one session is the ranker's own case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the ranker imports this module; only its types are needed here
    from routing.ranker import CatalogueArrays, RankerConfig

DURATION_TOLERANCE_MS = 90_000
"""A list that should last T may end within this much of T."""
NORMALISE_RANK = 50
"""MMR reads scores relative to the best and the 50th best track of the pool (``normalised``)."""
MAX_DURATION_TRACKS = 500
"""The most tracks a duration-fitted list may hold."""


@dataclass(frozen=True)
class Lists:
    """Orders for several sessions: ``rows`` ``(sessions, positions)`` catalogue rows (-1 past
    a list's end) and the probability of each position given the ones above it (0 past the
    end)."""

    rows: np.ndarray
    probabilities: np.ndarray
    pool: np.ndarray | None = None
    """The pool's catalogue rows (drawn lists only)."""
    marginals: np.ndarray | None = None
    """``(positions, pool)`` for drawn lists: each pool track's probability of each position,
    averaged over the sessions' drawn prefixes (a Rao-Blackwellised estimate of the chance
    that the track sits there at all; exact at the first position)."""

    @property
    def lengths(self) -> np.ndarray:
        return (self.rows >= 0).sum(axis=1)


def mmr_lists(arrays: CatalogueArrays, pool: np.ndarray, scores: np.ndarray, *,
              config: RankerConfig, target_ms: int | None = None, sessions: int = 1,
              rng: np.random.Generator | None = None, forced: np.ndarray | None = None
              ) -> Lists:
    """Draw ``sessions`` orders of ``pool`` (whose scores are ``scores``), or replay ``forced``.

    Parameters
    ----------
    target_ms
        Fit each list to this duration instead of ``config.size`` tracks.
    rng
        Draws each position when ``config.exploration`` is above 0 (for one session this gives
        the same draws as ``rng.choice`` over the eligible tracks).
    forced
        ``(sessions, positions)`` catalogue rows (-1 past a list's end) to replay instead of
        drawing: the result holds those rows and the configuration's probability of each.
    """
    pool = np.asarray(pool, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    if forced is not None:
        forced = np.atleast_2d(np.asarray(forced, dtype=np.int64))
        sessions = len(forced)
    limit = MAX_DURATION_TRACKS if target_ms is not None else config.size
    steps = forced.shape[1] if forced is not None else limit
    rows_out = np.full((sessions, steps), -1, dtype=np.int64)
    probabilities = np.zeros((sessions, steps))
    marginals = np.zeros((steps, pool.size)) if forced is None else None
    if pool.size == 0 or steps == 0:
        if forced is not None:
            rows_out[:] = forced
        return Lists(rows_out, probabilities, pool, marginals)
    relevance = normalised(scores)
    if sessions == 1 and forced is None and config.exploration <= 0:
        return _greedy(arrays, pool, relevance, config=config, target_ms=target_ms, steps=steps)
    vectors = arrays.unit_features[pool]
    artists, artist_of = np.unique(arrays.artist_codes[pool], return_inverse=True)
    lengths = arrays.duration_ms[pool]
    local = local_indices(pool, forced) if forced is not None else None
    max_similarity = np.full((sessions, pool.size), -1.0)
    available = np.ones((sessions, pool.size), dtype=bool)
    counts = np.zeros((sessions, artists.size), dtype=np.int64)
    total = np.zeros(sessions, dtype=np.int64)
    stopped = np.zeros(sessions, dtype=bool)
    """Sessions where the configuration shows no more tracks."""
    rng = rng or np.random.default_rng()
    for step in range(steps):
        eligible = available & (counts[:, artist_of] < config.max_per_artist)
        eligible &= ~stopped[:, None]
        if target_ms is not None:
            eligible &= total[:, None] + lengths[None, :] <= target_ms + DURATION_TOLERANCE_MS
        if step >= limit:
            eligible[:] = False
        can = eligible.any(axis=1)
        values = config.mmr_lambda * relevance - (1.0 - config.mmr_lambda) \
            * np.maximum(max_similarity, 0.0)
        values[~eligible] = -np.inf
        picked, chosen = _choose(values, can, config.exploration, rng,
                                 forced=None if local is None else local[:, step],
                                 marginal=None if marginals is None else marginals[step])
        rows, active = _shown(pool, picked, can, stopped, forced, step)
        probabilities[:, step] = np.where(active, chosen, 0.0)
        rows_out[:, step] = np.where(active, rows, -1)
        if not active.any():
            break
        _take(arrays, rows, picked, active, available=available, counts=counts,
              artists=artists, artist_of=artist_of, total=total, vectors=vectors,
              max_similarity=max_similarity, replay=forced is not None)
        if target_ms is not None:
            stopped |= total >= target_ms - DURATION_TOLERANCE_MS
    return Lists(rows_out, probabilities, pool if forced is None else None, marginals)


def _shown(pool: np.ndarray, picked: np.ndarray, can: np.ndarray, stopped: np.ndarray,
           forced: np.ndarray | None, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Each session's row at this position and whether it shows one (a drawn list that can
    show nothing more stops)."""
    if forced is not None:
        rows = forced[:, step]
        return rows, rows >= 0
    stopped |= ~can
    return np.where(can, pool[picked], -1), can


def _greedy(arrays: CatalogueArrays, pool: np.ndarray, relevance: np.ndarray, *,
            config: RankerConfig, target_ms: int | None, steps: int) -> Lists:
    """``mmr_lists`` for one session at temperature 0, the live ranker's case: the same
    arithmetic on one-dimensional arrays, with the bookkeeping in Python and a track's artist
    blocked once, when the artist reaches the cap (a third of the general loop's time)."""
    vectors = arrays.unit_features[pool]
    vectors_t = vectors.T
    artist_of = np.unique(arrays.artist_codes[pool], return_inverse=True)[1]
    artists = artist_of.tolist()
    lengths = arrays.duration_ms[pool]
    lengths_list = lengths.tolist()
    counts = [0] * (max(artists) + 1)
    blocked = np.full(pool.size, config.max_per_artist <= 0)
    base = config.mmr_lambda * relevance
    diversity = 1.0 - config.mmr_lambda
    closest = np.zeros(pool.size)
    """Each track's highest similarity to a shown one, at least 0."""
    values, penalty = np.empty(pool.size), np.empty(pool.size)
    too_long = np.empty(pool.size, dtype=bool)
    picked: list[int] = []
    total = 0
    for _ in range(steps):
        np.multiply(closest, diversity, out=penalty)
        np.subtract(base, penalty, out=values)
        np.copyto(values, -np.inf, where=blocked)
        if target_ms is not None:
            np.greater(lengths, target_ms + DURATION_TOLERANCE_MS - total, out=too_long)
            np.copyto(values, -np.inf, where=too_long)
        best = int(values.argmax())
        if values[best] == -np.inf:
            break
        picked.append(best)
        blocked[best] = True
        artist = artists[best]
        counts[artist] += 1
        if counts[artist] >= config.max_per_artist:
            blocked |= artist_of == artist
        total += lengths_list[best]
        np.maximum(closest, (vectors[best:best + 1] @ vectors_t)[0], out=closest)
        if target_ms is not None and total >= target_ms - DURATION_TOLERANCE_MS:
            break
    rows_out = np.full((1, steps), -1, dtype=np.int64)
    probabilities = np.zeros((1, steps))
    marginals = np.zeros((steps, pool.size))
    rows_out[0, :len(picked)] = pool[picked]
    probabilities[0, :len(picked)] = 1.0
    marginals[np.arange(len(picked)), picked] = 1.0
    return Lists(rows_out, probabilities, pool, marginals)


def normalised(scores: np.ndarray) -> np.ndarray:
    """Scores on MMR's scale: 1 for the best, 0 for the ``NORMALISE_RANK``-th best (lower ones
    go below 0).

    Read from the top of the pool, not its whole range, so that a configuration replayed over
    a logged pool (whose tail differs from its own) sees the same scale as when it ranks live.
    """
    if scores.size == 0:
        return scores
    top = float(scores.max())
    reference = float(-np.partition(-scores, min(NORMALISE_RANK, scores.size) - 1)[
        min(NORMALISE_RANK, scores.size) - 1])
    return (scores - reference) / ((top - reference) or 1.0)


def local_indices(pool: np.ndarray, forced: np.ndarray) -> np.ndarray:
    """Each forced row's index in ``pool`` (-1 where it is not in the pool or is padding)."""
    order = np.argsort(pool, kind="stable")
    sorted_pool = pool[order]
    at = np.clip(np.searchsorted(sorted_pool, forced), 0, pool.size - 1)
    found = (sorted_pool[at] == forced) & (forced >= 0)
    return np.where(found, order[at], -1)


def _choose(values: np.ndarray, can: np.ndarray, temperature: float,
            rng: np.random.Generator, *, forced: np.ndarray | None,
            marginal: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Each session's pool index for this position (drawn, or ``forced``) and its
    probability; adds the position's mean distribution to ``marginal``."""
    sessions = len(values)
    if temperature <= 0:
        best = values.argmax(axis=1)
        picked = np.where(can, best, -1) if forced is None else forced
        if marginal is not None:
            np.add.at(marginal, best[can], 1.0 / sessions)
        return picked, ((picked == best) & can).astype(np.float64)
    p = _softmax(values / temperature, can)
    picked = _draw(p, can, rng) if forced is None else forced
    if marginal is not None:
        marginal += p.mean(axis=0)
    return picked, np.where(picked >= 0, p[np.arange(sessions), picked], 0.0)


def _softmax(logits: np.ndarray, can: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``logits`` (``-inf`` where not eligible; all 0 where none is)."""
    top = np.where(can, logits.max(axis=1), 0.0)
    weights = np.exp(logits - top[:, None])
    sums = weights.sum(axis=1, keepdims=True)
    return np.divide(weights, sums, out=np.zeros_like(weights), where=sums > 0)


def _draw(p: np.ndarray, can: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One index per session from ``p`` (-1 where nothing is eligible)."""
    cdf = np.cumsum(p, axis=1)
    last = cdf[:, -1:]
    cdf = np.divide(cdf, last, out=np.zeros_like(cdf), where=last > 0)
    uniform = rng.random(len(p))
    picked = np.minimum((cdf <= uniform[:, None]).sum(axis=1), p.shape[1] - 1)
    return np.where(can, picked, -1)


def _take(arrays: CatalogueArrays, rows: np.ndarray, picked: np.ndarray, active: np.ndarray,
          *, available: np.ndarray, counts: np.ndarray, artists: np.ndarray,
          artist_of: np.ndarray, total: np.ndarray, vectors: np.ndarray,
          max_similarity: np.ndarray, replay: bool) -> None:
    """Update each active session's state with the track it showed at this position (a
    replayed track outside the pool still counts for its artist, length and similarity)."""
    sessions = np.flatnonzero(active)
    shown, at = rows[sessions], picked[sessions]
    if replay:
        inside = at >= 0
        available[sessions[inside], at[inside]] = False
        codes = arrays.artist_codes[shown]
        where = np.searchsorted(artists, codes)
        where[where == artists.size] = 0
        known = artists[where] == codes
        counts[sessions[known], where[known]] += 1
    else:
        available[sessions, at] = False
        counts[sessions, artist_of[at]] += 1
    total[sessions] += arrays.duration_ms[shown]
    similarity = arrays.unit_features[shown] @ vectors.T
    max_similarity[sessions] = np.maximum(max_similarity[sessions], similarity)
