"""Stored embedding vectors, keyed by (text hash, model name)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, select

from storage.models import Embedding
from storage.repositories._bulk import chunks, insert_ignoring_conflicts


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
