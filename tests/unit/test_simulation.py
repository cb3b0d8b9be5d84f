"""Offline replay of the labeling loop: rows, seed sets, budgets, summaries and output files."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression

from app.components.simulation_charts import learning_curve_chart, write_outputs
from labeling.dataio.tabular import read_labeled_file
from labeling.exceptions import ImportFileError
from labeling.ml.classifier import make_classifier
from labeling.ml.fitting import TaskTrainer, fit_for_task
from labeling.ml.scope import ScopedClassifier
from labeling.ml.simulation import simulate, summarise
from labeling.ml.splits import validation_rows


@pytest.fixture(scope="module")
def data() -> dict:
    X, y = make_blobs(n_samples=500, n_features=10, centers=4, cluster_std=3.5, random_state=0)
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    labels = np.array([f"intent_{k}" for k in y], dtype=object)
    return {"X_pool": X[:350], "y_pool": labels[:350], "X_test": X[350:], "y_test": labels[350:]}


def _run(data: dict, **changes) -> pd.DataFrame:
    options = {"strategies": ["margin", "random"], "seed_size": 20, "batch": 10,
               "budgets": [20, 40, 60], "seeds": [0, 1], **changes}
    return simulate(**data, **options)


@pytest.fixture(scope="module")
def runs(data) -> pd.DataFrame:
    return _run(data)


def test_one_row_per_strategy_seed_and_budget(runs):
    assert len(runs) == 2 * 2 * 3
    assert set(map(tuple, runs[["strategy", "seed", "budget"]].to_numpy().tolist())) == {
        (s, seed, b) for s in ("margin", "random") for seed in (0, 1) for b in (20, 40, 60)
    }
    assert runs["accuracy"].between(0, 1).all()
    assert runs["macro_f1"].between(0, 1).all()
    assert (runs["seconds"] >= 0).all()


def test_every_strategy_starts_from_the_same_seed_set(data, runs):
    first = runs[runs["budget"] == 20].set_index(["seed", "strategy"])["accuracy"]
    for seed in (0, 1):  # the same 20 labels give the same model, whatever the strategy
        assert first[seed, "margin"] == first[seed, "random"]

    seen: list[bytes] = []

    class Recording(LogisticRegression):
        def fit(self, X, y):
            if len(X) == 20:
                seen.append(np.sort(np.asarray(X), axis=0).tobytes())
            return super().fit(X, y)

    _run(data, seeds=[5], budgets=[30], make_model=lambda *, seed: Recording(random_state=seed))
    assert len(seen) == 2 and seen[0] == seen[1]


def test_progress_counts_the_query_rounds(data):
    calls: list[tuple[int, int]] = []
    _run(data, strategies=["entropy"], seeds=[0], budgets=[50],
         progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]  # (50 - 20) / 10 query rounds


@pytest.mark.parametrize(
    "budgets, message",
    [([25], "cannot be reached"), ([10], "cannot be reached"), ([400], "pool"), ([], "empty")],
)
def test_unreachable_budgets_raise_a_clear_value_error(data, budgets, message):
    with pytest.raises(ValueError, match=message):
        _run(data, budgets=budgets)


def test_a_seed_set_with_one_label_raises_a_clear_value_error(data):
    one_label = {**data, "y_pool": np.array(["intent_0"] * 350, dtype=object)}
    with pytest.raises(ValueError, match="only one label"):
        _run(one_label, seeds=[0], budgets=[20])


def test_unknown_strategy_raises_before_any_work(data):
    with pytest.raises(ValueError, match="valid:"):
        _run(data, strategies=["margin", "psychic"])


def test_out_of_scope_label_adds_in_scope_accuracy_and_oos_recall(data):
    y_test = data["y_test"].copy()
    y_test[y_test == "intent_3"] = "oos"
    y_pool = data["y_pool"].copy()
    y_pool[y_pool == "intent_3"] = "oos"
    df = _run({**data, "y_pool": y_pool, "y_test": y_test}, strategies=["random"], seeds=[0],
              budgets=[40], oos_label="oos")
    assert {"in_scope_accuracy", "oos_recall"} <= set(df.columns)
    assert df["oos_recall"].between(0, 1).all()


def test_summarise_gives_mean_std_and_n_per_strategy_and_budget():
    df = pd.DataFrame({
        "strategy": ["margin", "margin", "random", "random", "margin"],
        "seed": [0, 1, 0, 1, 0],
        "budget": [10, 10, 10, 10, 20],
        "accuracy": [0.6, 0.8, 0.5, 0.5, 0.9],
        "macro_f1": [0.5, 0.7, 0.4, 0.6, 0.8],
    })
    summary = summarise(df).set_index(["strategy", "budget"])
    assert summary.loc[("margin", 10), "accuracy_mean"] == pytest.approx(0.7)
    assert summary.loc[("margin", 10), "accuracy_std"] == pytest.approx(np.std([0.6, 0.8], ddof=1))
    assert summary.loc[("random", 10), "macro_f1_mean"] == pytest.approx(0.5)
    assert summary.loc[("random", 10), "accuracy_std"] == 0.0
    assert summary.loc[("margin", 20), "n"] == 1
    assert summary.loc[("margin", 20), "accuracy_std"] == 0.0  # one seed: no spread


def test_chart_has_a_title_and_both_metrics(runs):
    spec = learning_curve_chart(summarise(runs)).to_dict()
    assert "test score vs labels" in json.dumps(spec["title"])
    values = next(iter(spec["datasets"].values()))
    assert {row["metric"] for row in values} == {"Accuracy", "Macro-F1"}


def test_write_outputs_writes_the_four_files(runs, tmp_path):
    paths = write_outputs(runs, tmp_path / "out")
    assert {p.name for p in paths.values()} == {
        "runs.csv", "summary.csv", "learning_curve.html", "learning_curve.png",
    }
    assert all(p.is_file() for p in paths.values())
    png = paths["png"].read_bytes()
    assert len(png) > 1000 and png.startswith(b"\x89PNG")
    assert len(pd.read_csv(paths["runs"])) == len(runs)
    assert "vega" in paths["html"].read_text()


def test_read_labeled_file_reads_jsonl_and_csv(tmp_path):
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text('{"text": "play jazz", "label": "music"}\n{"text": "hi", "label": "greet"}\n')
    assert read_labeled_file(jsonl) == (["play jazz", "hi"], ["music", "greet"])
    csv = tmp_path / "b.csv"
    csv.write_text("prompt,intent\nplay jazz,music\n")
    assert read_labeled_file(csv, text_col="prompt", label_col="intent") == (
        ["play jazz"], ["music"]
    )


@pytest.mark.parametrize(
    "name, content, options, message",
    [
        ("missing.jsonl", None, {}, "no such file"),
        ("a.csv", "text,label\nhi,greet\n", {"label_col": "intent"}, "no column 'intent'"),
        ("b.jsonl", '{"text": "hi"}\n{"text": "yo", "label": "greet"}\n', {}, "no label"),
        ("c.txt", "hi\n", {}, ".jsonl or .csv"),
    ],
)
def test_read_labeled_file_rejects_bad_input(tmp_path, name, content, options, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(ImportFileError, match=message):
        read_labeled_file(path, **options)


def test_the_simulation_trains_as_the_product_does_rejections_included(data):
    """By default each round runs the product's training (TaskTrainer: calibration and the
    out-of-scope threshold), so OOS recall counts the threshold's rejections, not only the
    arg-max; a plain classifier factory scores the arg-max alone."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 10))

    def world(n_per_class: int, n_oos: int) -> tuple[np.ndarray, np.ndarray]:
        """Three topics, and out-of-scope prompts anywhere (not a cluster of their own)."""
        X = np.vstack([*(c + rng.normal(scale=0.7, size=(n_per_class, 10)) for c in centres),
                       rng.normal(scale=1.5, size=(n_oos, 10))])
        y = [f"intent_{k}" for k in range(3) for _ in range(n_per_class)] + ["oos"] * n_oos
        return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32), np.asarray(
            y, dtype=object)

    (X_pool, y_pool), (X_test, y_test) = world(80, 60), world(100, 200)
    changed = {"X_pool": X_pool, "y_pool": y_pool, "X_test": X_test, "y_test": y_test}
    options = {"strategies": ["random"], "seeds": [0], "budgets": [100], "oos_label": "oos"}
    product = _run(changed, **options).iloc[0]
    plain = _run(changed, make_model=lambda *, seed: make_classifier(seed=seed),
                 **options).iloc[0]
    assert product["oos_recall"] >= plain["oos_recall"]
    assert product["in_scope_accuracy"] <= plain["in_scope_accuracy"]
    assert (product["oos_recall"], product["in_scope_accuracy"]) != (
        plain["oos_recall"], plain["in_scope_accuracy"])
    # and what the simulation trained is what training would have stored
    X, y = X_pool, list(y_pool)
    trainer = TaskTrainer(oos_label="oos", seed=0).fit(X, y)
    assert isinstance(trainer.model_, ScopedClassifier)  # cross-fitted, with an in-scope score
    val = validation_rows(task_name="simulation", text_hashes=[
        hashlib.sha256(np.ascontiguousarray(row).tobytes()).hexdigest() for row in X],
        labels=y, oos_label="oos")
    stored = fit_for_task(X, y, val_rows=val, oos_label="oos", seed=0)
    assert trainer.oos_threshold_ == stored.oos_threshold
    np.testing.assert_allclose(trainer.predict_proba(X), stored.model.predict_proba(X))
