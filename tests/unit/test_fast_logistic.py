"""FastLogisticRegression: scikit-learn's model and objective at CLINC150's scale, a float32 fit,
and a fit that stops early says so."""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from threadpoolctl import threadpool_limits

import labeling.ml.fitting as fitting
from labeling.lifecycle.model_files import load_model, save_model
from labeling.ml.calibration import TemperatureScaledClassifier
from labeling.ml.classifier import (
    FastLogisticRegression,
    fit_logistic,
    make_classifier,
    predict_proba_fast,
)
from labeling.ml.fitting import fit_calibrated
from labeling.ml.simulation import simulate
from labeling.ml.strategies.committee import BootstrapCommittee
from labeling.review.label_issues import out_of_fold_proba

N_CLASSES, DIM, C = 150, 384, 20.0


def _draw(rng: np.random.Generator, centres: np.ndarray, counts: np.ndarray, *, spread: float
          ) -> tuple[np.ndarray, np.ndarray]:
    """Unit-length float32 rows around ``centres`` (``counts[c]`` of class ``c``) and labels."""
    y = np.repeat(np.arange(len(centres)), counts)
    X = centres[y] + rng.normal(scale=spread, size=(len(y), centres.shape[1]))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), np.array([f"intent_{c:03d}" for c in y], dtype=object)


@pytest.fixture(scope="module")
def clinc_like() -> dict:
    """150 overlapping classes in 384 dimensions: 10 to 30 training rows a class (so balancing
    matters), 20 test rows a class; a converged model scores about 0.75 on the test rows."""
    rng = np.random.default_rng(11)
    centres = rng.normal(size=(N_CLASSES, DIM))
    X, y = _draw(rng, centres, rng.integers(10, 31, N_CLASSES), spread=4.0)
    X_test, y_test = _draw(rng, centres, np.full(N_CLASSES, 20), spread=4.0)
    return {"X": X, "y": y, "X_test": X_test, "y_test": y_test}


@pytest.fixture(scope="module")
def small(clinc_like) -> dict:
    """The first 12 classes of ``clinc_like``, for the tests that fit many times."""
    keep = np.isin(clinc_like["y"], [f"intent_{c:03d}" for c in range(12)])
    return {"X": clinc_like["X"][keep], "y": clinc_like["y"][keep]}


def _objective(model: LogisticRegression, X: np.ndarray, y: np.ndarray) -> float:
    """scikit-learn's lbfgs objective (float64) for ``class_weight="balanced"``: the weighted
    mean cross-entropy plus ``|coef_|^2 / (2 C sum(weights))``."""
    classes, index = np.unique(y, return_inverse=True)
    weights = (len(y) / (len(classes) * np.bincount(index)))[index]
    logits = X.astype(np.float64) @ np.asarray(model.coef_, dtype=np.float64).T
    logits += model.intercept_
    cross_entropy = logsumexp(logits, axis=1) - logits[np.arange(len(y)), index]
    penalty = float((np.asarray(model.coef_, dtype=np.float64) ** 2).sum())
    return float(weights @ cross_entropy / weights.sum() + penalty / (2 * C * weights.sum()))


@pytest.fixture(scope="module")
def fitted(clinc_like) -> dict:
    settings = {"C": C, "class_weight": "balanced", "tol": 1e-5, "max_iter": 1000}
    X, y = clinc_like["X"], clinc_like["y"]
    with threadpool_limits(limits=1, user_api="blas"):  # as ours fits: far faster on 2 cores
        theirs = LogisticRegression(**settings).fit(X, y)
    return {"ours": FastLogisticRegression(**settings).fit(X, y), "theirs": theirs}


def test_it_matches_scikit_learn_at_150_classes_and_384_dimensions(clinc_like, fitted):
    ours, theirs = fitted["ours"], fitted["theirs"]
    X, y, X_test, y_test = (clinc_like[k] for k in ("X", "y", "X_test", "y_test"))
    assert ours.converged_ and list(ours.classes_) == list(theirs.classes_)
    assert ours.coef_.shape == theirs.coef_.shape == (N_CLASSES, DIM)
    accuracy = (ours.predict(X_test) == y_test).mean()
    assert 0.6 < accuracy < 0.98  # overlapping classes: a real test of the optimum
    assert accuracy == pytest.approx((theirs.predict(X_test) == y_test).mean(), abs=0.002)
    assert _objective(ours, X, y) == pytest.approx(_objective(theirs, X, y), rel=1e-3)
    np.testing.assert_allclose(ours.predict_proba(X_test), theirs.predict_proba(X_test),
                               atol=0.02)


def test_the_objective_check_tells_a_wrong_fit_apart(clinc_like, fitted):
    """The 1e-3 tolerance is tight enough: ignoring the class weights, or stopping after
    5 iterations, misses the optimum by more."""
    X, y = clinc_like["X"], clinc_like["y"]
    best = _objective(fitted["theirs"], X, y)
    unweighted = fit_logistic(FastLogisticRegression(C=C, class_weight=None), X, y,
                              warm_start=fitted["ours"])
    with pytest.warns(ConvergenceWarning):
        early = FastLogisticRegression(C=C, class_weight="balanced", max_iter=5).fit(X, y)
    for model in (unweighted, early):
        assert _objective(model, X, y) > best * (1 + 1e-3)


def test_many_classes_never_take_scikit_learns_fit(small, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("LogisticRegression.fit was called")

    monkeypatch.setattr(LogisticRegression, "fit", refuse)
    model = make_classifier().fit(small["X"], small["y"])
    assert model.converged_ and model.n_iter_.shape == (1,)
    assert model.n_features_in_ == DIM


def test_two_classes_fall_back_to_scikit_learn(small):
    X, y = small["X"], small["y"]
    pair = np.isin(y, ["intent_000", "intent_001"])
    ours = make_classifier().fit(X[pair], y[pair])
    theirs = LogisticRegression(**make_classifier().get_params()).fit(X[pair], y[pair])
    np.testing.assert_array_equal(ours.coef_, theirs.coef_)
    assert ours.converged_ and ours.coef_.shape == (1, DIM)


@pytest.mark.parametrize("class_weight", ["balanced", None])
def test_sample_weights_take_the_fast_fit_and_match_scikit_learn(small, monkeypatch,
                                                                  class_weight):
    """Row weights (self-training's pseudo-labels) multiply the class weights, and balanced
    class weights come from the weighted counts, as in scikit-learn."""
    X, y = small["X"], small["y"]
    weights = np.where(np.arange(len(y)) % 3 == 0, 0.25, 1.0)
    settings = {**make_classifier().get_params(), "class_weight": class_weight, "tol": 1e-6,
                "max_iter": 2000}
    with threadpool_limits(limits=1, user_api="blas"):
        theirs = LogisticRegression(**settings).fit(X, y, sample_weight=weights)
    plain = FastLogisticRegression(**settings).fit(X, y)

    def refuse(*args, **kwargs):
        raise AssertionError("LogisticRegression.fit was called")

    monkeypatch.setattr(LogisticRegression, "fit", refuse)
    ours = FastLogisticRegression(**settings).fit(X, y, sample_weight=weights)
    assert ours.converged_
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=0.01)
    assert np.abs(plain.predict_proba(X) - theirs.predict_proba(X)).max() > 0.05  # weights count
    with pytest.raises(ValueError, match="[Nn]egative"):
        FastLogisticRegression(**settings).fit(X, y, sample_weight=-weights)


def test_bad_parameters_are_refused_as_by_scikit_learn(small):
    with pytest.raises(ValueError, match="C"):
        FastLogisticRegression(C=-1.0).fit(small["X"], small["y"])


def test_clone_params_and_cross_val_predict(small):
    model = make_classifier(C=5.0, seed=3)
    copy = clone(model)
    assert type(copy) is FastLogisticRegression
    assert copy.get_params() == model.get_params() and copy.C == 5.0
    assert copy.set_params(max_iter=50).max_iter == 50 and model.max_iter == 300
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    proba = cross_val_predict(model, small["X"], small["y"], cv=folds, method="predict_proba")
    assert proba.shape == (len(small["y"]), 12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert (np.unique(small["y"])[proba.argmax(axis=1)] == small["y"]).mean() > 0.5


def test_a_fit_that_stops_early_warns_and_says_so(small):
    with pytest.warns(ConvergenceWarning, match=r"after 2 of max_iter=2 iterations"):
        model = make_classifier(max_iter=2).fit(small["X"], small["y"])
    assert model.converged_ is False and model.n_iter_[0] == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        assert make_classifier().fit(small["X"], small["y"]).converged_ is True


def test_fit_calibrated_notes_a_fit_that_did_not_converge(small, monkeypatch):
    X, y = small["X"], list(small["y"])
    val_rows = np.arange(len(y)) % 4 == 0
    settled = fit_calibrated(X, y, val_rows=val_rows, oos_label=None)
    assert not any("converge" in note for note in settled.notes)
    monkeypatch.setattr(fitting, "make_classifier", partial(make_classifier, max_iter=2))
    with pytest.warns(ConvergenceWarning):
        result = fit_calibrated(X, y, val_rows=val_rows, oos_label=None)
    unconverged = [note for note in result.notes if "did not converge" in note]
    assert len(unconverged) == 2  # the first fit and the refit
    assert "2 of max_iter=2 iterations" in unconverged[0]


def test_warm_starts_take_fewer_iterations(small):
    X, y = small["X"], small["y"]
    first = make_classifier(tol=1e-5).fit(X[::2], y[::2])
    cold = make_classifier(tol=1e-5).fit(X, y)
    warm = fit_logistic(make_classifier(tol=1e-5), X, y, warm_start=first)
    assert warm.n_iter_[0] < cold.n_iter_[0]
    np.testing.assert_allclose(warm.predict_proba(X), cold.predict_proba(X), atol=5e-3)
    again = cold.set_params(warm_start=True).fit(X, y)  # scikit-learn's own warm_start
    assert again.n_iter_[0] <= 2
    with pytest.raises(TypeError, match="FastLogisticRegression"):
        fit_logistic(LogisticRegression(), X, y)


def test_it_saves_and_loads_as_a_model_file(small, tmp_path):
    model = TemperatureScaledClassifier(make_classifier().fit(small["X"], small["y"]),
                                        temperature=1.3)
    digest = save_model(model, tmp_path / "v1.skops")
    loaded = load_model(tmp_path / "v1.skops", expected_sha256=digest)
    assert type(loaded.estimator) is FastLogisticRegression and loaded.estimator.converged_
    np.testing.assert_array_equal(loaded.predict_proba(small["X"]),
                                  model.predict_proba(small["X"]))
    np.testing.assert_allclose(predict_proba_fast(loaded, small["X"]),
                               model.predict_proba(small["X"]), atol=1e-5)


@pytest.fixture
def fits(monkeypatch) -> list[FastLogisticRegression]:
    """Every ``FastLogisticRegression`` fitted while the test runs."""
    seen: list[FastLogisticRegression] = []
    original = FastLogisticRegression._fit

    def recording(self, *args, **kwargs):
        seen.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(FastLogisticRegression, "_fit", recording)
    return seen


def test_the_committee_cleanlab_and_the_simulation_fit_the_fast_class(small, fits):
    X, y = small["X"], small["y"]
    model = make_classifier().fit(X, y)
    committee = BootstrapCommittee.fit(model, X, y, n_members=3, rng=np.random.default_rng(0))
    assert all(type(m) is FastLogisticRegression and m.converged_ for m in committee.members)
    assert len(fits) == 1 + 3

    out_of_fold_proba(X, y, folds=3)
    assert len(fits) == 4 + 3

    test = np.arange(len(y)) % 5 == 0
    simulate(X_pool=X[~test], y_pool=y[~test], X_test=X[test], y_test=y[test],
             strategies=["random"], seed_size=60, batch=20, budgets=[60, 80], seeds=[0])
    assert len(fits) == 7 + 2 * 2  # two rounds of the product's training: fit, then refit
    assert all(type(m) is FastLogisticRegression for m in fits)
