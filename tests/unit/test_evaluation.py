"""Evaluation metrics: ECE and the reliability diagram, OOS threshold, classification figures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import f1_score

from labeling.ml.calibration import TemperatureScaledClassifier, fit_temperature
from labeling.ml.evaluation import (
    classification_metrics,
    expected_calibration_error,
    oos_metrics,
    tune_oos_threshold,
)


def _calibrated(n: int, rng: np.random.Generator, *, overconfident: bool = False):
    """Two-class probabilities whose top-label confidence is (or is not) the hit rate."""
    confidence = rng.uniform(0.5, 1.0, n)
    correct = rng.random(n) < (confidence if not overconfident else 0.5)
    proba = np.stack([confidence, 1 - confidence], axis=1)
    y_index = np.where(correct, 0, 1)
    return proba, y_index


def test_ece_is_near_zero_when_calibrated_and_large_when_overconfident():
    rng = np.random.default_rng(0)
    ece, rows = expected_calibration_error(*_calibrated(50_000, rng))
    assert ece < 0.01
    assert len(rows) == 15 and sum(r["count"] for r in rows) == 50_000
    over, _ = expected_calibration_error(*_calibrated(50_000, rng, overconfident=True))
    assert over > 0.2


def test_reliability_rows_sum_to_n_and_empty_bins_are_none():
    proba = np.array([[0.95, 0.05], [0.9, 0.1], [0.55, 0.45]])
    ece, rows = expected_calibration_error(proba, np.array([0, 1, 0]), bins=10)
    assert sum(r["count"] for r in rows) == 3
    assert rows[0]["confidence"] is None and rows[0]["count"] == 0
    assert rows[-1]["count"] == 1 and rows[-1]["accuracy"] == 1.0
    assert 0 <= ece <= 1
    json.dumps(rows)


@pytest.mark.parametrize("target", [0.5, 0.75, 0.8, 1.0])
def test_threshold_tuning_reaches_the_target_recall(target):
    rng = np.random.default_rng(1)
    scores = np.concatenate([rng.uniform(0.1, 0.7, 200), rng.uniform(0.4, 1.0, 800)])
    is_oos = np.arange(1000) < 200
    threshold = tune_oos_threshold(scores, is_oos, target_recall=target)
    recall = float(np.mean(scores[is_oos] < threshold))
    assert recall >= target
    # the smallest such threshold: one step lower misses the target
    below = np.sort(scores[is_oos])[int(np.ceil(target * 200)) - 1]
    assert np.mean(scores[is_oos] < below) < target


def test_threshold_without_oos_rows_rejects_nothing():
    assert tune_oos_threshold(np.array([0.3, 0.9]), np.array([False, False])) == 0.0


def test_oos_metrics_count_rejected_in_scope_items_as_wrong():
    classes = ["a", "b", "oos"]
    proba = np.array([
        [0.9, 0.05, 0.05],  # a, confident: right
        [0.4, 0.35, 0.25],  # a, but below the threshold: rejected, so wrong
        [0.1, 0.8, 0.1],  # labeled a, predicted b: wrong
        [0.1, 0.1, 0.8],  # oos predicted as oos: rejected
        [0.45, 0.3, 0.25],  # oos below the threshold: rejected
        [0.9, 0.05, 0.05],  # oos predicted a: missed
    ])
    y = ["a", "a", "a", "oos", "oos", "oos"]
    out = oos_metrics(proba, y, classes, oos_label="oos", threshold=0.5, target_recall=0.8)
    assert out["in_scope_accuracy"] == pytest.approx(1 / 3)
    assert out["in_scope_accuracy_no_threshold"] == pytest.approx(2 / 3)
    assert out["oos_recall"] == pytest.approx(2 / 3)
    assert (out["n_in_scope"], out["n_oos"], out["target_recall"]) == (3, 3, 0.8)
    json.dumps(out)


def test_classification_metrics_match_sklearn_and_are_json():
    rng = np.random.default_rng(2)
    classes = ["x", "y", "z"]
    proba = rng.dirichlet(np.ones(3), 300)
    y_pred = [classes[i] for i in proba.argmax(axis=1)]
    y_true = [p if rng.random() < 0.7 else classes[rng.integers(3)] for p in y_pred]
    out = classification_metrics(y_true, y_pred, proba, classes)
    assert out["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert out["accuracy"] == pytest.approx(np.mean(np.array(y_true) == np.array(y_pred)))
    assert [r["label"] for r in out["per_class"]] == classes
    assert sum(r["support"] for r in out["per_class"]) == 300
    assert np.array(out["confusion"]["matrix"]).sum() == 300
    assert json.loads(json.dumps(out)) == out


def test_temperature_scaling_fixes_overconfident_logits_and_keeps_predictions():
    rng = np.random.default_rng(3)
    n, k = 4000, 5
    true_logits = rng.normal(0, 1.5, (n, k))
    p = np.exp(true_logits) / np.exp(true_logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(k, p=row) for row in p])
    temperature = fit_temperature(true_logits * 3.0, y)  # 3x over-confident logits
    assert temperature == pytest.approx(3.0, rel=0.15)

    class Linear:
        classes_ = np.arange(k)

        def decision_function(self, X):
            return X * 3.0

    model = TemperatureScaledClassifier(Linear()).fit(true_logits, y)
    assert model.temperature == pytest.approx(temperature)
    assert (model.predict(true_logits) == (true_logits * 3).argmax(axis=1)).all()
    before, _ = expected_calibration_error(
        TemperatureScaledClassifier(Linear()).predict_proba(true_logits), y)
    after, _ = expected_calibration_error(model.predict_proba(true_logits), y)
    assert after < before / 2


def test_fit_logistic_matches_scikit_learn_and_warm_starts():
    from sklearn.linear_model import LogisticRegression

    from labeling.ml.classifier import fit_logistic, make_classifier

    rng = np.random.default_rng(4)
    centres = rng.normal(size=(4, 16))
    y = rng.choice(4, 600, p=[0.5, 0.3, 0.15, 0.05])
    X = (centres[y] + rng.normal(scale=1.2, size=(600, 16))).astype(np.float32)
    labels = [f"c{i}" for i in y]
    ours = fit_logistic(make_classifier(C=1.0, tol=1e-6), X, labels)
    theirs = LogisticRegression(**make_classifier(C=1.0, tol=1e-6).get_params()).fit(X, labels)
    assert type(theirs) is LogisticRegression and ours.converged_
    assert list(ours.classes_) == list(theirs.classes_)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=2e-3)
    again = fit_logistic(make_classifier(C=1.0, tol=1e-6), X, labels, warm_start=ours)
    assert again.n_iter_[0] < ours.n_iter_[0]
