"""The reward a lead optimises a ranker for: a composite of what users did with each shown track
(likes, saves, skips) and of the list as a whole (diversity, novelty).

Optimising immediate likes alone finds local optima (the same few safe tracks), so the lead
weighs longer-term signals in. The same function feeds the off-policy estimators
(``routing.offpolicy``) and the user simulator, so an estimate and the simulator's true value
measure the same thing.

A list-level term depends on every position, so it is booked at the last position: the
reward-interaction estimator then weighs it by the whole list's probability ratio, as it must
(the independent-position estimator, which judges positions one by one, cannot weigh it
correctly; leave those weights at 0 when comparing with it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from labeling.exceptions import LabelingError
from routing.session import ACTIONS


class RewardError(LabelingError):
    """Reward weights or feedback arrays that cannot be used."""


@dataclass(frozen=True)
class RewardWeights:
    """Weights of the composite reward (a skip's weight is usually negative).

    Attributes
    ----------
    like, save, skip
        Per shown track, for each action that followed.
    diversity, novelty
        Per list, on the list's diversity and novelty in [0, 1].
    """

    like: float = 1.0
    save: float = 2.0
    skip: float = -0.5
    diversity: float = 0.0
    novelty: float = 0.0

    def __post_init__(self) -> None:
        values = asdict(self)
        bad = [name for name, value in values.items() if not np.isfinite(value)]
        if bad:
            raise RewardError(f"reward weights must be finite numbers: {', '.join(bad)}")
        if not any(values.values()):
            raise RewardError("every reward weight is 0: nothing would be measured")


def composite_rewards(actions: dict[str, np.ndarray], *, weights: RewardWeights,
                      diversity: np.ndarray | None = None,
                      novelty: np.ndarray | None = None) -> np.ndarray:
    """``(n, K)`` rewards per session and position.

    Parameters
    ----------
    actions
        For each of ``ACTIONS`` present, an ``(n, K)`` array of 0/1 (or counts): whether the
        track at that position got the action. Missing actions count as none.
    diversity, novelty
        ``(n,)`` each list's diversity and novelty in [0, 1]; needed when their weight is not 0.
    """
    unknown = sorted(set(actions) - set(ACTIONS))
    if unknown:
        raise RewardError(f"unknown actions {unknown}; known: {', '.join(ACTIONS)}")
    if not actions:
        raise RewardError("no feedback arrays given")
    arrays = {name: np.asarray(values, dtype=np.float64) for name, values in actions.items()}
    shape = next(iter(arrays.values())).shape
    if len(shape) != 2 or any(a.shape != shape for a in arrays.values()):
        raise RewardError(f"feedback arrays must share one (sessions, positions) shape; got "
                          f"{ {name: a.shape for name, a in arrays.items()} }")
    out = np.zeros(shape)
    for name, values in arrays.items():
        out += getattr(weights, name) * values
    for name, values in (("diversity", diversity), ("novelty", novelty)):
        weight = getattr(weights, name)
        if weight == 0:
            continue
        if values is None:
            raise RewardError(f"the {name} weight is {weight}: give each list's {name}")
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (shape[0],) or ((values < 0) | (values > 1)).any():
            raise RewardError(f"{name} needs one value in [0, 1] per session")
        out[:, -1] += weight * values  # a whole-list term: booked at the last position
    return out


def list_diversity(unit_features: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``(n,)`` each list's diversity in [0, 1]: one minus the mean cosine similarity of its
    tracks' audio features over all pairs (clipped at 0; a list of one track has 0).

    ``rows`` is ``(n, K)`` catalogue rows, -1 past a list's end."""
    rows = np.atleast_2d(np.asarray(rows, dtype=np.int64))
    shown = rows >= 0
    vectors = np.where(shown[:, :, None], unit_features[np.maximum(rows, 0)], 0.0)
    summed = vectors.sum(axis=1)
    counts = shown.sum(axis=1).astype(np.float64)
    pairs = counts * (counts - 1)
    # sum over i != j of v_i . v_j = |sum v|^2 - sum |v|^2
    cross = (summed ** 2).sum(axis=1) - (vectors ** 2).sum(axis=(1, 2))
    mean = np.divide(cross, pairs, out=np.ones_like(cross), where=pairs > 0)
    return np.clip(1.0 - mean, 0.0, 1.0)


def list_novelty(popularity: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``(n,)`` each list's novelty in [0, 1]: one minus its tracks' mean popularity
    percentile (an empty list has 0)."""
    rows = np.atleast_2d(np.asarray(rows, dtype=np.int64))
    shown = rows >= 0
    values = np.where(shown, popularity[np.maximum(rows, 0)], 0.0).sum(axis=1)
    counts = shown.sum(axis=1)
    mean = np.divide(values, counts, out=np.ones_like(values), where=counts > 0)
    return np.clip(1.0 - mean, 0.0, 1.0)
