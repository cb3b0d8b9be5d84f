"""The in-memory pool matrix: rows in the asked order, across extensions, looked up as arrays."""

from __future__ import annotations

import numpy as np
import pytest
from sqlmodel import select

from labeling.ml.encoders import HashingEncoder
from labeling.queue.pool import PoolMatrix
from storage.db import make_engine, migrate, session_scope
from storage.models import Item
from tests.factories import make_queue_task


def test_rows_come_in_the_asked_order_across_extensions(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'pool.db'}")
    migrate(engine)
    encoder = HashingEncoder(dim=16)
    make_queue_task(engine, encoder, tmp_path, n_items=12)
    with session_scope(engine) as session:
        items = session.exec(select(Item.id, Item.text).order_by(Item.id)).all()
        ids = [i for i, _ in items]
        expected = dict(zip(ids, encoder.encode([t for _, t in items]), strict=True))
        matrix = PoolMatrix(16)
        first = ids[7:2:-1]  # part of the pool, backwards
        assert np.allclose(matrix.rows(session=session, encoder=encoder, item_ids=first),
                           [expected[i] for i in first])
        mixed = [ids[11], ids[4], ids[0], ids[4], ids[9]]  # new and known ids, one twice
        assert np.allclose(matrix.rows(session=session, encoder=encoder, item_ids=mixed),
                           [expected[i] for i in mixed])
        assert np.allclose(matrix.rows(session=session, encoder=encoder, item_ids=ids),
                           [expected[i] for i in ids])
        with pytest.raises(KeyError, match="no text"):
            matrix.rows(session=session, encoder=encoder, item_ids=[ids[0], max(ids) + 100])
