"""Out-of-scope detection: the in-scope score, the cross-fit that tunes its threshold on the kind
of model that serves, and the trade-off curve a lead picks an operating point from."""

from __future__ import annotations

import numpy as np
import pytest

from labeling.lifecycle.model_files import load_model, save_model
from labeling.ml.classifier import predict_proba_fast
from labeling.ml.evaluation import (
    oos_metrics,
    oos_tradeoff,
    operating_point,
    point_at,
    rejected,
)
from labeling.ml.fitting import cross_folds, fit_cross_fitted, fit_for_task
from labeling.ml.scope import ScopedClassifier, neighbour_similarity, scope_scores_if_any

DIM, CLASSES = 24, 8


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def _world(seed: int = 0):
    """In-scope prompts around eight topics, out-of-scope ones anywhere (fixed centres)."""
    centres = np.random.default_rng(123).normal(size=(CLASSES, DIM))

    def draw(rng, n_per_class, n_oos):
        rows = [centres[c] + rng.normal(scale=0.6, size=(n_per_class, DIM))
                for c in range(CLASSES)]
        X = np.vstack([*rows, rng.normal(scale=1.4, size=(n_oos, DIM))])
        y = [f"c{c}" for c in range(CLASSES) for _ in range(n_per_class)] + ["oos"] * n_oos
        return _unit(X), y

    rng = np.random.default_rng(seed)
    return draw(rng, 60, 60), draw(rng, 200, 1_000)


def test_neighbour_similarity_is_the_mean_of_the_k_largest_cosines():
    rng = np.random.default_rng(1)
    X, ref = _unit(rng.normal(size=(30, DIM))), _unit(rng.normal(size=(50, DIM)))
    brute = np.sort(X @ ref.T, axis=1)[:, -5:].mean(axis=1)
    np.testing.assert_allclose(neighbour_similarity(X, ref, k=5), brute, atol=1e-6)
    np.testing.assert_allclose(neighbour_similarity(X, ref, k=500),  # k capped at the rows
                               (X @ ref.T).mean(axis=1), atol=1e-6)


@pytest.fixture(scope="module")
def fitted():
    (X, y), test = _world()
    return fit_cross_fitted(X, y, oos_label="oos", target_oos_recall=0.9), (X, y), test


def test_the_threshold_tuned_out_of_fold_holds_on_new_prompts(fitted):
    result, _, (X_test, y_test) = fitted
    model = result.model
    assert isinstance(model, ScopedClassifier)
    proba = predict_proba_fast(model, X_test)
    out = oos_metrics(proba, y_test, list(model.classes_), oos_label="oos",
                      threshold=result.oos_threshold, scores=model.scope_scores(X_test))
    # new out-of-scope prompts from the same world are caught about as often as aimed for
    assert out["oos_recall"] == pytest.approx(0.9, abs=0.06)
    assert out["in_scope_accuracy"] > 0.9 and out["score"] == "scope"


def test_the_served_model_averages_the_fold_models_and_survives_its_file(fitted, tmp_path):
    result, (X, y), (X_test, _) = fitted
    model = result.model
    assert result.held_rows.all() and len(result.val_proba) == len(y)
    assert result.oos_curve and model.reference.dtype == np.float16
    assert len(model.reference) == sum(label != "oos" for label in y)
    path = tmp_path / "v1.skops"
    loaded = load_model(path, expected_sha256=save_model(model, path))
    np.testing.assert_allclose(loaded.scope_scores(X_test), model.scope_scores(X_test),
                               atol=1e-9)
    np.testing.assert_allclose(predict_proba_fast(loaded, X_test), model.predict_proba(X_test),
                               atol=1e-5)


def test_the_curve_trades_accuracy_for_recall_and_the_operating_point_reads_it(fitted):
    result, _, (X_test, y_test) = fitted
    model = result.model
    proba = model.predict_proba(X_test)
    curve = oos_tradeoff(proba, y_test, list(model.classes_), oos_label="oos",
                         scores=model.scope_scores(X_test))
    thresholds = [p["threshold"] for p in curve]
    assert thresholds == sorted(thresholds)
    recalls = [p["oos_recall"] for p in curve]
    accuracies = [p["in_scope_accuracy"] for p in curve]
    assert recalls == sorted(recalls) and accuracies == sorted(accuracies, reverse=True)
    assert recalls[-1] > 0.95 and accuracies[0] > accuracies[-1]
    point = operating_point(curve, target_recall=0.8)
    assert point["oos_recall"] >= 0.8
    assert all(p["in_scope_accuracy"] <= point["in_scope_accuracy"]
               for p in curve if p["oos_recall"] >= 0.8)
    assert point_at(curve, point["threshold"]) == point
    assert point_at(curve, thresholds[0] - 1) == curve[0]  # below every score: no rejection
    assert point_at([], 0.0) is None
    assert operating_point([], target_recall=0.8) is None


def test_rejection_reads_the_score_when_there_is_one():
    proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    classes = ["mood", "oos"]
    assert rejected(proba, classes, oos_label="oos", threshold=0.7).tolist() == [
        False, True, True]
    scores = np.array([-3.0, 2.0, 5.0])
    assert rejected(proba, classes, oos_label="oos", threshold=0.0,
                    scores=scores).tolist() == [True, False, True]


def test_tasks_without_an_oos_label_or_with_a_class_of_one_keep_the_validation_fit():
    (X, y), _ = _world()
    val = np.zeros(len(y), dtype=bool)
    val[::7] = True
    plain = fit_for_task(X, y, val_rows=val, oos_label=None)
    assert not isinstance(plain.model, ScopedClassifier)
    assert scope_scores_if_any(plain.model, X) is None
    lonely = [*y[:-1], "rare"]
    assert cross_folds(np.asarray(lonely, dtype=object)) == 0
    assert not isinstance(fit_for_task(X, lonely, val_rows=val, oos_label="oos").model,
                          ScopedClassifier)
    assert cross_folds(np.asarray(y, dtype=object)) == 5


def test_a_two_class_task_with_no_out_of_scope_rows_is_cross_fitted_too():
    (X, y), _ = _world()
    keep = [i for i, label in enumerate(y) if label in ("c0", "c1")]
    result = fit_cross_fitted(X[keep], [y[i] for i in keep], oos_label="oos")
    assert isinstance(result.model, ScopedClassifier)
    assert "no out-of-scope training examples" in " ".join(result.notes)
    proba = result.model.predict_proba(X[keep])
    assert proba.shape == (len(keep), 2)
    assert not rejected(proba, ["c0", "c1"], oos_label="oos", threshold=result.oos_threshold,
                        scores=result.model.scope_scores(X[keep])).any()
