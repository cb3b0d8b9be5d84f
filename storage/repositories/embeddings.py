"""Stored embedding vectors, keyed by (text hash, model name)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy import and_
from sqlmodel import Session, select

from storage.models import Embedding, Item
from storage.repositories._bulk import chunks, id_filters, insert_ignoring_conflicts


def vectors_by_hash(
    *, session: Session, model_name: str, hashes: Sequence[str]
) -> dict[str, bytes]:
    """The stored vectors (raw float32 bytes) for those of ``hashes`` that have one."""
    found: dict[str, bytes] = {}
    for part in chunks(list(dict.fromkeys(hashes))):
        statement = select(Embedding.text_hash, Embedding.vector).where(
            Embedding.model_name == model_name,
            Embedding.text_hash.in_(part),  # type: ignore[attr-defined]
        )
        found.update({h: v for h, v in session.exec(statement)})
    return found


def vectors_for_items(*, session: Session, model_name: str, item_ids: Sequence[int]
                      ) -> Iterator[list[tuple[int, bytes]]]:
    """(item id, raw float32 bytes) for those of ``item_ids`` whose text has a stored vector,
    matched on the item's text hash in the database (so the texts are not read at all); a
    list per chunk of ids, so a caller holds one chunk's bytes at a time."""
    for condition in id_filters(session=session, column=Item.id, ids=item_ids):
        statement = select(Item.id, Embedding.vector).join(Embedding, and_(
            Embedding.text_hash == Item.text_hash, Embedding.model_name == model_name,
        )).where(condition)
        yield [(i, v) for i, v in session.exec(statement)]


def stored_hashes(*, session: Session, model_name: str, hashes: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for part in chunks(list(dict.fromkeys(hashes))):
        statement = select(Embedding.text_hash).where(
            Embedding.model_name == model_name,
            Embedding.text_hash.in_(part),  # type: ignore[attr-defined]
        )
        found.update(session.exec(statement))
    return found


def add_many(*, session: Session, model_name: str, dim: int, vectors: dict[str, bytes]) -> None:
    rows = [
        {"text_hash": h, "model_name": model_name, "dim": dim, "vector": v}
        for h, v in vectors.items()
    ]
    insert_ignoring_conflicts(
        session=session, table=Embedding, rows=rows, conflict_columns=["text_hash", "model_name"]
    )
