"""The text-feature classifier's direct scorer for a few texts gives exactly what scikit-learn's
transform and decision function give, for multi-class and binary models and any text."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labeling.ml import text_features
from labeling.ml.classifier import make_classifier
from labeling.ml.encoders import HashingEncoder
from labeling.ml.text_features import _scorer, fit_text_features

WORDS = {"calm": ["calm piano for sleep", "mellow lofi beats", "quiet acoustic evening",
                  "soft jazz for reading", "chill ambient study"],
         "party": ["loud dance party hits", "club bangers tonight", "upbeat pop for dancing",
                   "edm festival anthems", "hype songs for the party"],
         "workout": ["gym metal to lift", "fast running playlist", "hiit workout beats",
                     "heavy rock for training", "cardio mix high tempo"]}
ENCODER = HashingEncoder()


def fitted(labels_used: list[str]):
    texts, labels = [], []
    for label in labels_used:
        for i, text in enumerate(WORDS[label]):
            for suffix in ("", " please", " now", f" number {i}"):
                texts.append(text + suffix)
                labels.append(label)
    X = ENCODER.encode(texts)
    embedding = make_classifier().fit(X, labels)
    return fit_text_features(texts, X, labels, embedding_model=embedding, folds=4).model


MODELS = {"three classes": fitted(["calm", "party", "workout"]),
          "binary": fitted(["calm", "party"])}
PROBES = ["calm piano for sleep", "", "zzzz qqqq", "Ｃａｌｍ ＰＩＡＮＯ 😴", "party " * 300,
          "a\x00b\tc", "heavy metal party for the gym, not calm"]


def slow(model, texts, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(text_features, "FAST_ROWS", 0)
        return model.predict_proba_texts(texts, ENCODER.encode(texts))


@pytest.mark.parametrize("name", list(MODELS))
def test_direct_scores_equal_scikit_learns(name, monkeypatch):
    model = MODELS[name]
    assert _scorer(model) is not None and len(model.members) == 4
    fast = model.predict_proba_texts(PROBES, ENCODER.encode(PROBES))
    assert np.allclose(fast, slow(model, PROBES, monkeypatch), atol=1e-6)
    assert np.allclose(fast.sum(axis=1), 1.0)
    # and the model still means something: its own training prompts come out right
    assert model.classes_[fast[0].argmax()] == "calm"


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(max_size=80), min_size=1, max_size=text_features.FAST_ROWS))
def test_any_text_scores_the_same_both_ways(texts, monkeypatch):
    model = MODELS["three classes"]
    fast = model.predict_proba_texts(texts, ENCODER.encode(texts))
    assert np.allclose(fast, slow(model, texts, monkeypatch), atol=1e-6)


def test_a_model_the_scorer_does_not_fit_keeps_the_scikit_learn_path():
    model = MODELS["binary"]
    clone = type(model)(members=[(union, estimator) for union, estimator in model.members],
                        labels=model.labels, embedding_model=model.embedding_model,
                        temperature=model.temperature)
    clone.members[0][0].transformer_weights = {"char": 2.0, "word": 1.0}
    try:
        assert _scorer(clone) is None
        assert clone.predict_proba_texts(PROBES[:2], ENCODER.encode(PROBES[:2])).shape == (2, 2)
    finally:
        clone.members[0][0].transformer_weights = None
