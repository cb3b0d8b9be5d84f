"""Encoders and the vector store: a text is encoded once per model."""

from __future__ import annotations

import numpy as np
import pytest

from labeling.ml.encoders import (
    HashingEncoder,
    SentenceTransformerEncoder,
    make_encoder,
    text_hash,
)
from labeling.project.vectors import embed
from tests.factories import CLI


class CountingEncoder(HashingEncoder):
    def __init__(self) -> None:
        super().__init__()
        self.encoded: list[str] = []

    def encode(self, texts, *, progress=None):
        self.encoded.extend(texts)
        return super().encode(texts, progress=progress)


def test_hash_ignores_surrounding_space_but_not_case():
    assert text_hash(" chill vibes\n") == text_hash("chill vibes")
    assert text_hash("Chill vibes") != text_hash("chill vibes")


def test_hashing_encoder_is_deterministic_normalised_and_similarity_aware():
    encoder = HashingEncoder()
    a, b, c = encoder.encode(["chill songs for studying", "chill songs for study", "gym metal"])
    assert np.allclose(encoder.encode(["chill songs for studying"])[0], a)
    assert np.isclose(np.linalg.norm(a), 1.0, atol=1e-5)
    assert a @ b > a @ c


def test_unknown_encoder_lists_the_valid_ones():
    with pytest.raises(ValueError, match="minilm, minilm-onnx-int8, hashing"):
        make_encoder("bert")


def test_texts_are_encoded_once_and_stored(engine):
    encoder = CountingEncoder()
    progress: list[tuple[int, int]] = []
    first = embed(engine=engine, actor=CLI, encoder=encoder, texts=["a b c", "d e f"],
                  progress=lambda done, total: progress.append((done, total)))
    second = embed(engine=engine, actor=CLI, encoder=encoder, texts=["d e f", "a b c", "g"])
    assert encoder.encoded == ["a b c", "d e f", "g"]
    assert np.allclose(first[0], second[1]) and np.allclose(first[1], second[0])
    assert progress[-1] == (2, 2)


@pytest.mark.real_encoder
def test_real_minilm_encoder_loads_offline_and_embeds_meaningfully():
    encoder = SentenceTransformerEncoder()
    vectors = encoder.encode([
        "relaxing music to fall asleep", "calm songs for sleeping", "heavy metal for the gym",
    ])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
