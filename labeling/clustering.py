"""Geometry for picking representatives: the nearest distinct pool row to each centre."""

from __future__ import annotations

import numpy as np


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
