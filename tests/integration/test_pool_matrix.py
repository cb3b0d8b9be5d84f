"""The in-memory pool matrix: rows in the asked order, across extensions, looked up as arrays;
stored vectors read by item id, only the others encoded from their texts."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import bindparam, text
from sqlmodel import select

from labeling.ml.encoders import HashingEncoder
from labeling.queue.pool import PoolMatrix
from storage.db import make_engine, migrate, session_scope
from storage.models import Embedding, Item
from storage.repositories import _bulk
from storage.repositories import items as item_repo
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


def test_stored_vectors_are_read_by_item_id_and_only_the_rest_from_their_texts(
        engine, tmp_path, monkeypatch):
    encoder = HashingEncoder(dim=16)
    make_queue_task(engine, encoder, tmp_path, n_items=12)  # the import stores the vectors
    with session_scope(engine) as session:
        items = session.exec(select(Item.id, Item.text, Item.text_hash).order_by(Item.id)).all()
    ids = [i for i, _, _ in items]
    unstored = ids[2:5]
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM embedding WHERE text_hash IN :hashes")
                           .bindparams(bindparam("hashes", expanding=True)),
                           {"hashes": [h for i, _, h in items if i in unstored]})
    read: list[int] = []
    texts_by_id = item_repo.texts_by_id

    def spy(*, session, item_ids):
        read.extend(item_ids)
        return texts_by_id(session=session, item_ids=item_ids)

    monkeypatch.setattr(item_repo, "texts_by_id", spy)
    monkeypatch.setattr(_bulk, "ARRAY_CHUNK", 5)  # PostgreSQL: several array chunks
    expected = encoder.encode([t for _, t, _ in items])
    with session_scope(engine) as session:
        rows = PoolMatrix(16).rows(session=session, encoder=encoder, item_ids=ids[::-1])
    assert np.allclose(rows, expected[::-1])
    assert sorted(read) == unstored
    with session_scope(engine) as session:  # and those are stored now
        assert len(session.exec(select(Embedding.text_hash)).all()) == len(ids)
