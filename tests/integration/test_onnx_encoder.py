"""The int8 ONNX MiniLM encoder: built once from the packaged model, close to the PyTorch
vectors, a text's vector independent of its batch, and a damaged or racing build handled."""

from __future__ import annotations

import shutil
import threading
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from app.cli import app
from labeling.ml import onnx_minilm
from labeling.ml.encoders import SentenceTransformerEncoder, make_encoder
from labeling.ml.onnx_minilm import EncoderBuildError, OnnxMiniLMEncoder, ensure_model

pytestmark = pytest.mark.real_encoder

PROMPTS = ["chill morning for coding", "90s hip hop for the gym", "calm piano to fall asleep",
           "what's the weather in Paris", "songs like Daft Punk but slower, no explicit lyrics"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One build for the module (about 10 s): the folder holding the model file."""
    folder = tmp_path_factory.mktemp("encoders")
    ensure_model(folder)
    return folder


def test_selectable_by_name_and_close_to_the_pytorch_vectors(built):
    encoder = make_encoder("minilm-onnx-int8", cache_dir=built)
    assert isinstance(encoder, OnnxMiniLMEncoder)
    assert (encoder.name, encoder.dim) == ("all-MiniLM-L6-v2-onnx-int8", 384)
    vectors = encoder.encode(PROMPTS)
    reference = SentenceTransformerEncoder().encode(PROMPTS)
    assert vectors.shape == (len(PROMPTS), 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    cosine = np.sum(vectors * reference, axis=1)
    assert cosine.min() > 0.97, cosine
    # it keeps the meaning: the prompts nearest the sleep prompt come in the PyTorch order
    assert np.array_equal(np.argsort(vectors @ vectors[2]), np.argsort(reference @ reference[2]))
    assert encoder.encode([]).shape == (0, 384)


def test_a_texts_vector_does_not_depend_on_its_batch(built):
    encoder = OnnxMiniLMEncoder(cache_dir=built)
    alone = encoder.encode([PROMPTS[0]])[0]
    in_batch = encoder.encode([PROMPTS[4], PROMPTS[0], "x" * 2000])[1]
    assert np.array_equal(alone, in_batch)


def test_the_built_file_is_reused_and_keyed_on_what_built_it(built, monkeypatch):
    files = sorted(built.glob("*.onnx"))
    assert len(files) == 1 and files[0].stat().st_size > 10 * 2**20
    assert not list(built.glob(".build-*")), "the build's scratch folder is removed"

    def refuse(*args, **kwargs):
        raise AssertionError("rebuilt although the file exists")

    monkeypatch.setattr(onnx_minilm, "_build", refuse)
    assert ensure_model(built) == files[0]
    monkeypatch.setattr(onnx_minilm, "RECIPE", "another-recipe")
    with pytest.raises(AssertionError, match="rebuilt"):
        ensure_model(built)  # a new recipe (or weights, or tool versions) is a new file


def test_processes_starting_together_build_once(tmp_path, monkeypatch):
    builds = []

    def slow_build(model_path, out):
        builds.append(out)
        time.sleep(0.3)
        out.write_bytes(b"model")

    monkeypatch.setattr(onnx_minilm, "_build", slow_build)
    results = []
    threads = [threading.Thread(target=lambda: results.append(ensure_model(tmp_path)))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1 and len(set(results)) == 1 and results[0].read_bytes() == b"model"


def test_a_damaged_file_is_named_in_the_error(built, tmp_path):
    model = next(built.glob("*.onnx"))
    (tmp_path / model.name).write_bytes(b"not an onnx model")
    with pytest.raises(EncoderBuildError, match=f"{model.name}.*delete the file"):
        OnnxMiniLMEncoder(cache_dir=tmp_path).encode(["hello"])


def test_cli_builds_it_into_the_data_folder(built, sqlite_env, tmp_path):
    target = tmp_path / "data" / "encoders"
    target.mkdir(parents=True)
    for model in built.glob("*.onnx"):  # the same key: reused, so the test stays fast
        shutil.copy(model, target / model.name)
    result = CliRunner().invoke(app, ["encoder", "build", "--encoder", "minilm-onnx-int8"])
    assert result.exit_code == 0, result.output
    assert "all-MiniLM-L6-v2-onnx-int8" in result.output and str(target) in result.output
    assert "one prompt" in result.output
    refused = CliRunner().invoke(app, ["encoder", "build", "--encoder", "bert"])
    assert refused.exit_code == 1 and "unknown encoder 'bert'" in refused.output
