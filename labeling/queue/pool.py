"""In-memory embedding matrices per task, extended as items arrive (never re-encoded).

Selection over a pool is one matrix product plus a partial sort, so the pool's vectors are kept
in memory per (database, task, encoder) and only items not seen before are loaded.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
from sqlmodel import Session

from labeling.ml.encoders import Encoder
from labeling.project.vectors import embed_texts
from storage.repositories import embeddings as embedding_repo
from storage.repositories import items as item_repo


class PoolMatrix:
    """Vectors of one task's items under one encoder, by item id.

    Item ids are looked up as arrays (sorted ids and their rows), not one by one: a selection
    over a million-item pool asks for about 935,000 rows at a time."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._ids = np.zeros(0, dtype=np.int64)
        """The item id of each matrix row."""
        self._sorted_ids = np.zeros(0, dtype=np.int64)
        self._sorted_rows = np.zeros(0, dtype=np.int64)
        self._matrix = np.zeros((0, dim), dtype=np.float32)
        self._lock = threading.Lock()

    def _lookup(self, item_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each id's matrix row and whether it has one."""
        at = np.searchsorted(self._sorted_ids, item_ids)
        inside = at < len(self._sorted_ids)
        found = np.zeros(len(item_ids), dtype=bool)
        found[inside] = self._sorted_ids[at[inside]] == item_ids[inside]
        rows = np.zeros(len(item_ids), dtype=np.int64)
        rows[found] = self._sorted_rows[at[found]]
        return rows, found

    def _extend(self, *, session: Session, encoder: Encoder, item_ids: np.ndarray) -> None:
        """Add the rows of the ids not held yet: their stored vectors, read by item id (a first
        selection over 1M items takes 39-43 s in all, most of it moving the vectors out of the
        database; through their texts and text hashes it took 105 s), then the few without one
        encoded and stored from their texts."""
        _, found = self._lookup(item_ids)
        missing = [int(i) for i in dict.fromkeys(item_ids[~found].tolist())]
        if not missing:
            return
        ordered: list[int] = []
        blocks = [np.zeros((0, self.dim), dtype=np.float32)]
        for stored in embedding_repo.vectors_for_items(
                session=session, model_name=encoder.name, item_ids=missing):
            ordered += [i for i, _ in stored]
            blocks.append(np.frombuffer(b"".join(v for _, v in stored), dtype=np.float32)
                          .reshape(len(stored), self.dim))
        unstored = sorted(set(missing) - set(ordered))
        if unstored:
            texts = item_repo.texts_by_id(session=session, item_ids=unstored)
            encoded = [i for i in unstored if i in texts]
            ordered += encoded
            blocks.append(embed_texts(session=session, encoder=encoder,
                                      texts=[texts[i] for i in encoded]))
        vectors = np.vstack(blocks)
        self._matrix = np.vstack([self._matrix, vectors]) if len(self._ids) else vectors
        self._ids = np.concatenate([self._ids, np.asarray(ordered, dtype=np.int64)])
        self._sorted_rows = np.argsort(self._ids, kind="stable")
        self._sorted_ids = self._ids[self._sorted_rows]

    def rows(self, *, session: Session, encoder: Encoder, item_ids: Sequence[int]) -> np.ndarray:
        """The vectors of ``item_ids`` in that order (loading or encoding the new ones)."""
        wanted = np.fromiter(item_ids, dtype=np.int64, count=len(item_ids))
        with self._lock:
            self._extend(session=session, encoder=encoder, item_ids=wanted)
            index, found = self._lookup(wanted)
            if not found.all():
                missing = wanted[~found][0]
                raise KeyError(f"item {missing} has no text to encode")
            return self._matrix[index]


_POOLS: dict[tuple[str, int, str], tuple[int, PoolMatrix]] = {}
"""(database, task id, encoder) -> (the task's ``items_deleted`` when the matrix was started,
the matrix)."""
_POOLS_LOCK = threading.Lock()


def pool_matrix(*, database: str, task_id: int, encoder: Encoder, items_deleted: int
                ) -> PoolMatrix:
    """The task's matrix under ``encoder``; a new, empty one once items of the task were deleted
    since the held one was started (``task.items_deleted``): an erased text's vector is not kept,
    nor given to a new item that takes its id."""
    key = (database, task_id, encoder.name)
    with _POOLS_LOCK:
        held = _POOLS.get(key)
        if held is None or held[0] != items_deleted:
            held = _POOLS[key] = (items_deleted, PoolMatrix(encoder.dim))
        return held[1]
