"""Model files: skops only, hash-checked, and files written before a type moved still load."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from labeling.lifecycle.model_files import (
    SCHEMA_FILE,
    ModelFileError,
    load_model,
    save_model,
    with_moved_modules,
)
from labeling.ml.calibration import TemperatureScaledClassifier


def _model() -> TemperatureScaledClassifier:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4))
    y = ["calm" if v > 0 else "party" for v in X[:, 0]]
    return TemperatureScaledClassifier(LogisticRegression().fit(X, y), temperature=1.7)


def _rewrite_schema(data: bytes, change) -> bytes:
    """The skops archive ``data`` with its schema text passed through ``change``."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == SCHEMA_FILE:
                content = change(content.decode()).encode()
            target.writestr(info, content)
    return out.getvalue()


def test_a_file_written_before_the_move_still_loads(tmp_path):
    path = tmp_path / "v1.skops"
    save_model(_model(), path)
    old = _rewrite_schema(path.read_bytes(),
                          lambda text: text.replace('"labeling.ml.calibration"',
                                                    '"labeling.calibration"'))
    assert b"labeling.calibration" in zipfile.ZipFile(io.BytesIO(old)).read(SCHEMA_FILE)
    path.write_bytes(old)
    loaded = load_model(path, expected_sha256=hashlib.sha256(old).hexdigest())
    assert isinstance(loaded, TemperatureScaledClassifier) and loaded.temperature == 1.7
    assert path.read_bytes() == old  # the file on disk is never rewritten


def test_a_current_file_is_read_as_it_is(tmp_path):
    path = tmp_path / "v2.skops"
    digest = save_model(_model(), path)
    assert with_moved_modules(path.read_bytes()) == path.read_bytes()
    assert load_model(path, expected_sha256=digest).classes_.tolist() == ["calm", "party"]


def test_an_unknown_type_is_refused_even_with_a_matching_hash(tmp_path):
    path = tmp_path / "v3.skops"
    save_model(_model(), path)
    odd = _rewrite_schema(path.read_bytes(), lambda text: text.replace(
        '"labeling.ml.calibration"', '"somewhere.else"'))
    path.write_bytes(odd)
    with pytest.raises(ModelFileError, match="unexpected types"):
        load_model(path, expected_sha256=hashlib.sha256(odd).hexdigest())


def test_a_file_that_is_not_a_skops_archive_is_refused(tmp_path):
    path = tmp_path / "v4.skops"
    path.write_bytes(json.dumps({"not": "a model"}).encode())
    with pytest.raises(ModelFileError, match="not a skops file"):
        load_model(path, expected_sha256=hashlib.sha256(path.read_bytes()).hexdigest())


def test_a_text_feature_model_round_trips_compactly(tmp_path):
    from labeling.ml.encoders import HashingEncoder
    from labeling.ml.fitting import fit_calibrated
    from labeling.ml.text_features import fit_text_features
    from safety.demo_content import load_safety_prompts

    rows = load_safety_prompts()
    texts, labels = [r["text"] for r in rows], [r["label"] for r in rows]
    X = HashingEncoder().encode(texts)
    embedding = fit_calibrated(X, labels, val_rows=np.zeros(len(texts), bool),
                               oos_label=None).model
    model = fit_text_features(texts, X, labels, embedding_model=embedding).model
    path = tmp_path / "text.skops"
    digest = save_model(model, path)
    loaded = load_model(path, expected_sha256=digest)
    assert np.allclose(loaded.predict_proba_texts(texts[:20], X[:20]),
                       model.predict_proba_texts(texts[:20], X[:20]))
    assert loaded.members[0][0].transformer_list[0][1].vocabulary_ == \
        model.members[0][0].transformer_list[0][1].vocabulary_
    schema = zipfile.ZipFile(path).getinfo(SCHEMA_FILE)
    assert schema.compress_size < 200_000  # vocabularies are arrays, not schema entries
