"""Selection scores kept between batch selections.

Under one serving model an uncertainty strategy's score of an item never changes (the model and
the item's vector are fixed), so a task's items are scored once per model and kept best first. A
selection then walks that order and asks the database which of the first candidates may still
be selected, instead of reading the ids and vectors of the whole pool and scoring them again
(2.4 s at a million prompts, of which reading the pool's ids alone is 0.8 s).

Items added since the scores were computed are scored when a selection first sees them; the count
and sum of the task's item ids up to the newest scored one, checked every ``RECHECK_SECONDS``,
notice any that were committed late (with a lower id), and then the task's ids are compared in
full. A deletion of the task's items drops the kept scores (``task.items_deleted``).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlmodel import Session

from labeling.ml.encoders import Encoder
from labeling.ml.strategies import QueryStrategy
from labeling.queue.pool import pool_matrix
from storage.repositories import items as item_repo
from storage.repositories import queue as queue_repo

FIRST_LOOK = 4
"""The walk first asks about this many times the batch size of the best candidates ..."""
GROWTH = 4
"""... then this many times more at each step (most of the best are taken by then) ..."""
MAX_LOOK = 4096
"""... at most this many at a time ..."""
WALK_LIMIT = 50_000
"""... and after this many candidates it reads the whole pool instead (a pool nearly used up)."""
RECHECK_SECONDS = 30.0
"""How often at most the kept ids are checked against the task's (0.15 s at a million items, of
a selection's 0.2 s): an item committed late waits at most this long to be a candidate.
Deleted items need no check: a deletion changes the task's ``items_deleted``, which drops the
kept scores."""


@dataclass
class _Ranked:
    """One task's item ids (ascending), their scores, and the positions best first."""

    ids: np.ndarray
    scores: np.ndarray
    order: np.ndarray
    checked_at: float = -math.inf
    """When (``time.monotonic``) the ids up to the newest were last checked against the task's."""

    @classmethod
    def empty(cls) -> _Ranked:
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=np.int64))

    @property
    def newest(self) -> int:
        return int(self.ids[-1]) if len(self.ids) else 0

    def merged(self, ids: np.ndarray, scores: np.ndarray, keep: np.ndarray | None = None
               ) -> _Ranked:
        """These ranks with ``ids`` added (and only ``keep`` of the old ids, if given)."""
        old = np.ones(len(self.ids), dtype=bool) if keep is None else np.isin(self.ids, keep)
        all_ids = np.concatenate([self.ids[old], ids])
        all_scores = np.concatenate([self.scores[old], scores])
        by_id = np.argsort(all_ids, kind="stable")
        all_ids, all_scores = all_ids[by_id], all_scores[by_id]
        # best first; equal scores by item id, as a selection over the sorted pool breaks them
        return _Ranked(all_ids, all_scores, np.lexsort((all_ids, -all_scores)), self.checked_at)


_RANKED: dict[tuple[str, int], tuple[tuple[Any, ...], _Ranked]] = {}
"""(database, task id) -> (what the scores hold: encoder, model hash, strategy, the task's
``items_deleted``; the ranks). One entry per task, so a new model's scores replace the old
model's."""
_LOCKS: dict[tuple[str, int], threading.Lock] = {}
"""One lock per task, so scoring one task's items (40 s for a million) holds up no other's."""
_LOCKS_GUARD = threading.Lock()


def _lock(key: tuple[str, int]) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


def _brought_up_to_date(*, session: Session, database: str, task_id: int, items_deleted: int,
                        encoder: Encoder, strategy: QueryStrategy, model: Any, ranked: _Ranked
                        ) -> _Ranked:
    """``ranked`` with the task's items added since, and, at most every ``RECHECK_SECONDS``,
    reconciled when the count and sum of the ids up to the newest disagree."""
    newest = ranked.newest
    keep = None
    missing = np.asarray(item_repo.ids_for_task(session=session, task_id=task_id, after=newest),
                         dtype=np.int64)
    if newest and time.monotonic() - ranked.checked_at >= RECHECK_SECONDS:
        ranked.checked_at = time.monotonic()
        held = (len(ranked.ids), int(ranked.ids.sum()))
        if item_repo.id_summary(session=session, task_id=task_id, upto=newest) != held:
            keep = np.asarray(item_repo.ids_for_task(session=session, task_id=task_id,
                                                     upto=newest), dtype=np.int64)
            missing = np.concatenate([np.setdiff1d(keep, ranked.ids), missing])
    if not len(missing) and keep is None:
        return ranked
    X = pool_matrix(database=database, task_id=task_id, encoder=encoder,
                    items_deleted=items_deleted).rows(
        session=session, encoder=encoder, item_ids=missing.tolist())
    scores = strategy.scores(model=model, X=X) if len(missing) else np.zeros(0)
    return ranked.merged(missing, scores, keep)


def best_in_pool(*, session: Session, database: str, task_id: int, items_deleted: int, k: int,
                 n: int, encoder: Encoder, strategy: QueryStrategy, model: Any, model_hash: str
                 ) -> tuple[list[int], list[float]]:
    """The ``n`` selectable items of the task that ``strategy`` (``itemwise``) scores best under
    ``model``, best first, with their scores; fewer when the pool holds fewer. Scores kept from
    before a deletion of the task's items (``items_deleted``) are dropped."""
    what = (encoder.name, model_hash, strategy.name, items_deleted)
    with _lock((database, task_id)):
        held, ranked = _RANKED.get((database, task_id), (None, _Ranked.empty()))
        if held != what:
            ranked = _Ranked.empty()
        ranked = _brought_up_to_date(session=session, database=database, task_id=task_id,
                                     items_deleted=items_deleted, encoder=encoder,
                                     strategy=strategy, model=model, ranked=ranked)
        _RANKED[(database, task_id)] = (what, ranked)
    candidates = ranked.ids[ranked.order]
    picked = _walk(session=session, task_id=task_id, k=k, n=n, candidates=candidates)
    at = np.searchsorted(ranked.ids, picked)
    return picked.tolist(), ranked.scores[at].tolist()


def _walk(*, session: Session, task_id: int, k: int, n: int, candidates: np.ndarray
          ) -> np.ndarray:
    """The first ``n`` of ``candidates`` that may be selected, asking the database about a
    growing run of them at a time."""
    picked: list[np.ndarray] = []
    found, start, size = 0, 0, max(FIRST_LOOK * n, 1)
    while found < n and start < len(candidates):
        if start >= WALK_LIMIT:
            pool = np.asarray(queue_repo.pool_item_ids(session=session, task_id=task_id, k=k),
                              dtype=np.int64)
            rest = candidates[start:]
            picked.append(rest[np.isin(rest, pool)][: n - found])
            break
        run = candidates[start : start + size]
        free = queue_repo.still_free(session=session, task_id=task_id, item_ids=run.tolist(),
                                     k=k)
        chosen = run[np.isin(run, np.fromiter(free, dtype=np.int64, count=len(free)))]
        picked.append(chosen[: n - found])
        found += len(picked[-1])
        start += size
        size = min(size * GROWTH, MAX_LOOK)
    return np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)
