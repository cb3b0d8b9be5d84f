"""Query strategies: one contract for every registered strategy, then each one's behaviour."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from labeling.exceptions import EmptyPoolError, LabelingError
from labeling.ml.classifier import (
    FastProbaClassifier,
    make_classifier,
    predict_proba_fast,
    top_proba_fast,
)
from labeling.ml.strategies import (
    STRATEGIES,
    BootstrapCommittee,
    Selection,
    get_strategy,
    kmeans_seed,
)


def _unit(X: np.ndarray) -> np.ndarray:
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_blobs(n_samples=500, n_features=16, centers=4, cluster_std=4.0, random_state=0)
    return _unit(X), np.array([f"intent_{k}" for k in y], dtype=object)


@pytest.fixture(scope="module")
def fitted(blobs):
    """A model fitted on the first 60 items; the other 440 are the pool."""
    X, y = blobs
    model = make_classifier(seed=0).fit(X[:60], list(y[:60]))
    return {"model": model, "X_labeled": X[:60], "y_labeled": y[:60], "X_pool": X[60:]}


def _select(name: str, fitted: dict, *, n: int = 10, seed: int = 0, **changes) -> Selection:
    request = {**fitted, **changes}
    return get_strategy(name).select(n_instances=n, rng=np.random.default_rng(seed), **request)


@pytest.mark.parametrize("name", list(STRATEGIES))
class TestStrategyContract:
    """What every strategy in the registry promises (small-text's SamplingStrategiesTests)."""

    def test_returns_n_distinct_in_range_indices(self, name, fitted):
        selection = _select(name, fitted, n=10)
        assert selection.indices.dtype == np.int64
        assert len(selection.indices) == 10
        assert len(np.unique(selection.indices)) == 10
        assert selection.indices.min() >= 0
        assert selection.indices.max() < len(fitted["X_pool"])
        assert selection.strategy == name

    def test_one_float_score_per_index(self, name, fitted):
        selection = _select(name, fitted, n=7)
        assert selection.scores.shape == (7,)
        assert np.issubdtype(selection.scores.dtype, np.floating)
        assert np.isfinite(selection.scores).all()

    def test_deterministic_for_the_same_rng_seed(self, name, fitted):
        first, again = _select(name, fitted, seed=3), _select(name, fitted, seed=3)
        np.testing.assert_array_equal(first.indices, again.indices)
        np.testing.assert_array_equal(first.scores, again.scores)

    def test_cold_start_without_a_model(self, name, fitted):
        selection = _select(name, fitted, n=8, model=None, X_labeled=None, y_labeled=None)
        assert len(np.unique(selection.indices)) == 8
        assert selection.scores.shape == (8,)

    def test_more_than_the_pool_returns_the_whole_pool(self, name, fitted):
        pool = fitted["X_pool"][:12]
        for model in (fitted["model"], None):
            selection = _select(name, fitted, n=50, X_pool=pool, model=model)
            assert sorted(selection.indices.tolist()) == list(range(12))

    def test_empty_pool_raises(self, name, fitted):
        with pytest.raises(EmptyPoolError) as caught:
            _select(name, fitted, X_pool=np.zeros((0, 16), dtype=np.float32))
        assert isinstance(caught.value, LabelingError)

    @pytest.mark.parametrize("bad", [{"n": 0}, {"n": -3}, {"X_pool": np.zeros(16)}])
    def test_bad_requests_raise_value_error(self, name, fitted, bad):
        with pytest.raises(ValueError):
            _select(name, fitted, **bad)

    def test_registry_gives_a_strategy_of_that_name(self, name, fitted):
        strategy = get_strategy(name)
        assert isinstance(strategy, STRATEGIES[name])
        assert strategy.name == name


def test_unknown_strategy_lists_the_valid_names():
    with pytest.raises(ValueError) as caught:
        get_strategy("most_fun")
    message = str(caught.value)
    for name in ("least_confidence", "margin", "entropy", "ranked_batch", "qbc", "random"):
        assert name in message


def test_registry_has_exactly_the_issue_names():
    assert set(STRATEGIES) == {
        "least_confidence", "margin", "entropy", "ranked_batch", "qbc", "random",
    }


def test_margin_picks_the_items_nearest_the_decision_boundary():
    rng = np.random.default_rng(0)
    X_lab = np.concatenate([rng.normal(-2, 0.5, (30, 2)), rng.normal(2, 0.5, (30, 2))])
    y_lab = ["left"] * 30 + ["right"] * 30
    model = LogisticRegression().fit(X_lab, y_lab)
    pool = rng.uniform(-4, 4, (300, 2))
    selection = get_strategy("margin").select(
        model=model, X_pool=pool, n_instances=10, rng=np.random.default_rng(0)
    )
    nearest = np.argsort(np.abs(model.decision_function(pool)))[:10]
    assert set(selection.indices.tolist()) == set(nearest.tolist())
    assert np.all(np.diff(selection.scores) <= 0)  # most worth labeling first


def test_uncertainty_strategies_are_exact_across_chunks(fitted):
    for name in ("least_confidence", "margin", "entropy"):
        whole = _select(name, fitted, n=15)
        chunked = _select(name, fitted, n=15, model=FastProbaClassifier(fitted["model"], chunk=37))
        np.testing.assert_array_equal(np.sort(whole.indices), np.sort(chunked.indices))


def test_kmeans_seed_takes_one_item_from_every_well_separated_cluster():
    X, y = make_blobs(n_samples=1200, n_features=8, centers=6, cluster_std=0.3,
                      center_box=(-20, 20), random_state=1)
    selection = kmeans_seed(X.astype(np.float32), 6, rng=np.random.default_rng(0), sample_size=500)
    assert sorted(y[selection.indices].tolist()) == list(range(6))
    assert selection.scores.sum() == pytest.approx(1.0)


def test_qbc_aligns_members_whose_bootstrap_missed_classes(blobs):
    X, y = blobs
    rows = np.concatenate([np.flatnonzero(y == "intent_0")[:1],  # a class seen once
                           np.flatnonzero(y != "intent_0")[:30]])
    model = make_classifier().fit(X[rows], list(y[rows]))
    committee = BootstrapCommittee.fit(model, X[rows], y[rows], n_members=8,
                                       rng=np.random.default_rng(0))
    assert any(len(m.classes_) < 4 for m in committee.members)  # some bootstrap missed it
    for proba in committee.aligned_proba(X[:20]):
        assert proba.shape == (20, 4)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    selection = get_strategy("qbc").select(model=model, X_pool=X[100:], n_instances=5,
                                           X_labeled=X[rows], y_labeled=y[rows],
                                           rng=np.random.default_rng(0))
    assert len(np.unique(selection.indices)) == 5


def test_qbc_without_labeled_data_explains_what_it_needs(fitted):
    with pytest.raises(ValueError, match="X_labeled"):
        _select("qbc", fitted, X_labeled=None, y_labeled=None)


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_predict_proba_fast_equals_predict_proba(n_classes):
    X, y = make_blobs(n_samples=400, n_features=12, centers=n_classes, cluster_std=3.0,
                      random_state=n_classes)
    X = _unit(X)
    model = make_classifier().fit(X, y)
    fast = predict_proba_fast(model, X, chunk=64)
    assert fast.dtype == np.float32
    np.testing.assert_allclose(fast, model.predict_proba(X), atol=1e-5)
    np.testing.assert_array_equal(FastProbaClassifier(model).predict(X), model.predict(X))


@pytest.mark.parametrize("n_classes", [2, 3, 6])
@pytest.mark.parametrize("k", [1, 2])
def test_top_proba_fast_gives_the_k_largest_probabilities(n_classes, k):
    X, y = make_blobs(n_samples=300, n_features=12, centers=n_classes, cluster_std=4.0,
                      random_state=n_classes)
    model = make_classifier().fit(_unit(X), y)
    expected = np.sort(model.predict_proba(_unit(X)), axis=1)[:, -k:]
    got = np.sort(top_proba_fast(model, _unit(X), k=k, chunk=50), axis=1)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_predict_proba_fast_folds_a_scaler_and_falls_back_otherwise():
    X, y = make_blobs(n_samples=300, n_features=6, centers=3, random_state=2)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    np.testing.assert_allclose(predict_proba_fast(pipeline, X), pipeline.predict_proba(X),
                               atol=1e-5)

    class Constant:
        classes_ = np.array([0, 1])

        def predict_proba(self, X):
            return np.full((len(X), 2), 0.5)

    assert predict_proba_fast(Constant(), X).dtype == np.float32
