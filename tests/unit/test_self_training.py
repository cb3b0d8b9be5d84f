"""Self-training: pseudo-labels of the unlabeled pool in the product's fit and the simulation."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from labeling.ml.classifier import make_classifier, predict_fast, predict_proba_fast
from labeling.ml.fitting import TaskTrainer, fit_calibrated, fit_for_task
from labeling.ml.self_training import PSEUDO_LABEL_THRESHOLD, pseudo_labels
from labeling.ml.simulation import simulate


@pytest.fixture(scope="module")
def world() -> dict:
    """Eight overlapping classes in 16 dimensions: four labels a class (one for validation),
    996 unlabeled rows, 2,000 test rows."""
    X, y = make_blobs(n_samples=3000, n_features=16, centers=8, cluster_std=5.0,
                      random_state=1)
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    y = np.array([f"c{k}" for k in y], dtype=object)
    labeled = np.concatenate([np.flatnonzero(y == c)[:4] for c in np.unique(y)])
    val = np.zeros(len(labeled), dtype=bool)
    val[::4] = True
    return {"X": X[labeled], "y": list(y[labeled]), "val": val,
            "pool": X[np.setdiff1d(np.arange(1000), labeled)],
            "X_test": X[1000:], "y_test": y[1000:]}


def test_pseudo_labels_are_the_confident_rows_with_their_top_class(world):
    model = make_classifier().fit(world["X"], world["y"])
    proba = predict_proba_fast(model, world["pool"])
    sure = proba.max(axis=1) >= PSEUDO_LABEL_THRESHOLD
    assert 0 < sure.sum() < len(sure)  # a real threshold on this pool
    rows, labels = pseudo_labels(model, world["pool"])
    np.testing.assert_array_equal(rows, world["pool"][sure])
    assert list(labels) == list(model.classes_[proba[sure].argmax(axis=1)])
    few, few_labels = pseudo_labels(model, world["pool"], max_rows=100, threshold=0.0)
    assert len(few) == len(few_labels) == 100  # a sample of a larger pool, every row kept
    again, _ = pseudo_labels(model, world["pool"], max_rows=100, threshold=0.0)
    np.testing.assert_array_equal(few, again)  # seeded
    empty, none = pseudo_labels(model, world["pool"][:0])
    assert empty.shape == (0, world["pool"].shape[1]) and len(none) == 0


def test_self_training_learns_from_the_unlabeled_rows(world):
    plain = fit_calibrated(world["X"], world["y"], val_rows=world["val"], oos_label=None)
    trained = fit_calibrated(world["X"], world["y"], val_rows=world["val"], oos_label=None,
                             unlabeled=world["pool"])
    assert plain.n_pseudo == 0 and 0 < trained.n_pseudo <= len(world["pool"])

    def accuracy(result) -> float:
        return float(np.mean(predict_fast(result.model, world["X_test"]) == world["y_test"]))

    assert accuracy(trained) > accuracy(plain) + 0.005
    # the temperature is the self-trained model's own, fitted on the validation rows
    assert trained.model.temperature != pytest.approx(plain.model.temperature, rel=1e-3)
    unsure = fit_calibrated(world["X"], world["y"], val_rows=world["val"], oos_label=None,
                            unlabeled=world["pool"][:0])
    assert unsure.n_pseudo == 0 and not unsure.notes


@pytest.mark.parametrize("rows_a_class", [4, 1])  # cross-fitted, and too small for folds
def test_a_task_with_an_out_of_scope_label_does_not_self_train(world, rows_a_class):
    keep = np.flatnonzero(np.arange(len(world["y"])) % 4 < rows_a_class)
    y = ["oos" if world["y"][i] in {"c6", "c7"} else world["y"][i] for i in keep]
    val = world["val"][keep] if rows_a_class > 1 else np.zeros(len(keep), dtype=bool)
    result = fit_for_task(world["X"][keep], y, val_rows=val, oos_label="oos",
                          unlabeled=world["pool"])
    assert result.n_pseudo == 0
    assert any("self-training is off" in note for note in result.notes)
    plain = fit_for_task(world["X"][keep], y, val_rows=val, oos_label=None,
                         unlabeled=world["pool"])
    assert plain.n_pseudo > 0  # the same rows without an out-of-scope label do self-train


def test_the_simulation_gives_a_self_training_model_the_rest_of_the_pool(world):
    seen: list[tuple[int, int]] = []

    class Spy(TaskTrainer):
        def fit(self, X, y, unlabeled=None):
            seen.append((len(X), -1 if unlabeled is None else len(unlabeled)))
            return super().fit(X, y, unlabeled=unlabeled)

    X = np.vstack([world["X"], world["pool"]])
    y = world["y"] + list(predict_fast(make_classifier().fit(world["X"], world["y"]),
                                       world["pool"]))
    options = {"X_pool": X, "y_pool": y, "X_test": world["X_test"], "y_test": world["y_test"],
               "strategies": ["margin"], "seed_size": 40, "batch": 20, "budgets": [40, 60],
               "seeds": [0]}
    rows = simulate(make_model=lambda *, seed: Spy(seed=seed, self_training=True), **options)
    assert seen == [(40, len(X) - 40), (60, len(X) - 60)] and len(rows) == 2
    seen.clear()
    simulate(make_model=lambda *, seed: Spy(seed=seed), **options)
    assert seen == [(40, -1), (60, -1)]  # a model that does not self-train gets no pool
