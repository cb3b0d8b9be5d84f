"""Stored text vectors: a text is encoded once per encoder and kept in the database by
(text hash, encoder name); later reads load it instead of encoding again."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import Session

from labeling.ml.encoders import Encoder, ProgressCallback, text_hash
from labeling.project.authz import Actor, Capability, requires
from storage.db import session_scope
from storage.repositories import embeddings as embedding_repo


def encode_missing(
    *,
    session: Session,
    encoder: Encoder,
    texts: Sequence[str],
    progress: ProgressCallback | None = None,
) -> dict[str, bytes]:
    """Encode the texts that have no stored vector under ``encoder``; return them by hash.

    Nothing is written: the caller stores the result in its own unit of work
    (``store_vectors``), so a long encode never holds a write lock.
    """
    by_hash = {text_hash(t): t for t in texts}
    stored = embedding_repo.stored_hashes(
        session=session, model_name=encoder.name, hashes=list(by_hash)
    )
    missing = [h for h in by_hash if h not in stored]
    if not missing:
        if progress is not None:
            progress(0, 0)
        return {}
    vectors = encoder.encode([by_hash[h] for h in missing], progress=progress)
    return {h: vectors[i].astype(np.float32).tobytes() for i, h in enumerate(missing)}


def store_vectors(*, session: Session, encoder: Encoder, vectors: dict[str, bytes]) -> None:
    embedding_repo.add_many(
        session=session, model_name=encoder.name, dim=encoder.dim, vectors=vectors
    )


def embed_texts(
    *,
    session: Session,
    encoder: Encoder,
    texts: Sequence[str],
    progress: ProgressCallback | None = None,
) -> np.ndarray:
    """Vectors for ``texts`` in order, encoding and storing only those not stored yet."""
    new = encode_missing(session=session, encoder=encoder, texts=texts, progress=progress)
    store_vectors(session=session, encoder=encoder, vectors=new)
    return load_vectors(session=session, encoder=encoder, texts=texts, extra=new)


def load_vectors(
    *,
    session: Session,
    encoder: Encoder,
    texts: Sequence[str],
    extra: dict[str, bytes] | None = None,
) -> np.ndarray:
    """The stored vectors for ``texts`` as one (n, dim) matrix; a text without one is an error."""
    hashes = [text_hash(t) for t in texts]
    found = dict(extra or {})
    wanted = [h for h in hashes if h not in found]
    found.update(embedding_repo.vectors_by_hash(
        session=session, model_name=encoder.name, hashes=wanted
    ))
    matrix = np.zeros((len(hashes), encoder.dim), dtype=np.float32)
    for i, h in enumerate(hashes):
        if h not in found:
            raise KeyError(f"no stored {encoder.name} vector for text #{i}")
        matrix[i] = np.frombuffer(found[h], dtype=np.float32)
    return matrix


@requires(Capability.preview)
def embed(
    *, engine: Engine, actor: Actor, encoder: Encoder, texts: Sequence[str],
    progress: ProgressCallback | None = None,
) -> np.ndarray:
    """``embed_texts`` in a unit of work of its own (encodes, stores and loads at once)."""
    with session_scope(engine) as session:
        return embed_texts(session=session, encoder=encoder, texts=texts, progress=progress)
