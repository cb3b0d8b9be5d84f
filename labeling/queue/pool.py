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
from storage.repositories import items as item_repo


class PoolMatrix:
    """Vectors of one task's items under one encoder, by item id."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._position: dict[int, int] = {}
        self._matrix = np.zeros((0, dim), dtype=np.float32)
        self._lock = threading.Lock()

    def _extend(self, *, session: Session, encoder: Encoder, item_ids: Sequence[int]) -> None:
        missing = [i for i in item_ids if i not in self._position]
        if not missing:
            return
        texts = item_repo.texts_by_id(session=session, item_ids=missing)
        ordered = [i for i in missing if i in texts]
        vectors = embed_texts(
            session=session, encoder=encoder, texts=[texts[i] for i in ordered]
        )
        start = len(self._position)
        self._matrix = np.vstack([self._matrix, vectors]) if start else vectors.copy()
        for offset, item_id in enumerate(ordered):
            self._position[item_id] = start + offset

    def rows(self, *, session: Session, encoder: Encoder, item_ids: Sequence[int]) -> np.ndarray:
        """The vectors of ``item_ids`` in that order (loading or encoding the new ones)."""
        with self._lock:
            self._extend(session=session, encoder=encoder, item_ids=item_ids)
            index = np.fromiter((self._position[i] for i in item_ids), dtype=np.int64,
                                count=len(item_ids))
            return self._matrix[index]


_POOLS: dict[tuple[str, int, str], PoolMatrix] = {}
_POOLS_LOCK = threading.Lock()


def pool_matrix(*, database: str, task_id: int, encoder: Encoder) -> PoolMatrix:
    key = (database, task_id, encoder.name)
    with _POOLS_LOCK:
        if key not in _POOLS:
            _POOLS[key] = PoolMatrix(encoder.dim)
        return _POOLS[key]
