"""The cold start: with no model yet, a diverse seed set from k-means over the embeddings, each
centroid taking the nearest pool item no other centroid took."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import MiniBatchKMeans

from labeling.ml.classifier import DEFAULT_CHUNK
from labeling.ml.strategies.selection import Selection, check_request, make_selection

KMEANS_SAMPLE = 20_000  # rows k-means is fitted on for a bigger pool (nearest item: whole pool)


def kmeans_seed(
    X_pool: np.ndarray, n: int, *, rng: np.random.Generator, sample_size: int = KMEANS_SAMPLE
) -> Selection:
    """A diverse seed set: the pool item nearest each centroid of ``n``-cluster k-means.

    ``MiniBatchKMeans`` is fitted on at most ``sample_size`` random rows (or ``3 * n`` if that is
    more), then every centroid takes the nearest pool item not taken by another.

    Returns
    -------
    Selection
        ``scores`` is the share of the (sampled) pool in the item's cluster, so the items that
        stand for the most prompts come first; ``strategy`` is ``"kmeans_seed"``.
    """
    X, n = check_request(X_pool, n)
    if n >= len(X):
        return make_selection(np.arange(len(X)), np.full(len(X), 1.0 / len(X)), "kmeans_seed")
    size = min(len(X), max(sample_size, 3 * n))
    rows = np.sort(rng.choice(len(X), size, replace=False)) if size < len(X) else slice(None)
    sample = np.asarray(X[rows], dtype=np.float32)
    kmeans = MiniBatchKMeans(
        n_clusters=n, random_state=int(rng.integers(2**31 - 1)), n_init=3,
        batch_size=max(1024, 4 * n),
    ).fit(sample)
    share = np.bincount(kmeans.labels_, minlength=n) / len(sample)
    chosen = nearest_distinct(X, kmeans.cluster_centers_, chunk=DEFAULT_CHUNK)
    order = np.argsort(-share, kind="stable")
    return make_selection(chosen[order], share[order], "kmeans_seed")



def nearest_distinct(X: np.ndarray, centres: np.ndarray, *, chunk: int) -> np.ndarray:
    """For each centre, the nearest row of ``X`` not already taken by a nearer centre."""
    k = len(centres)
    keep = min(k, len(X))  # k candidates per centre always leave one free
    centres = centres.astype(np.float32)
    centre_sq = np.einsum("ij,ij->i", centres, centres)
    best_rows, best_dist = [], []
    for start in range(0, len(X), chunk):
        block = np.asarray(X[start : start + chunk], dtype=np.float32)
        dist = np.einsum("ij,ij->i", block, block)[:, None] - 2.0 * (block @ centres.T)
        dist += centre_sq
        m = min(keep, len(block))
        rows = np.argpartition(dist, m - 1, axis=0)[:m]  # (m, k)
        best_rows.append(rows + start)
        best_dist.append(np.take_along_axis(dist, rows, axis=0))
    rows = np.concatenate(best_rows)
    dist = np.concatenate(best_dist)
    order = np.argsort(dist, axis=0, kind="stable")
    rows, dist = np.take_along_axis(rows, order, 0), np.take_along_axis(dist, order, 0)
    taken: set[int] = set()
    chosen = np.empty(k, dtype=np.int64)
    for centre in np.argsort(dist[0], kind="stable"):  # the most clear-cut centres first
        row = next(int(r) for r in rows[:, centre] if int(r) not in taken)
        taken.add(row)
        chosen[centre] = row
    return chosen
