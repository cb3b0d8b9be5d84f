"""``labeling.metrics.dawid_skene`` gives what crowd-kit's ``DawidSkene`` gives (posteriors,
priors, rater confusions, iterations), on random ratings and on ConvAbuse's real ones, and the
aggregator's rater accuracy is the one read from crowd-kit's fitted tables."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from labeling.dataio.ratings_io import read_ratings
from labeling.metrics.aggregation import get_aggregator
from labeling.metrics.dawid_skene import fit_dawid_skene
from labeling.metrics.ratings import prepare_ratings

SHARED = Path(__file__).resolve().parents[2].parent / "shared/data"
CONVABUSE = SHARED / "convabuse/ConvAbuseEMNLPfull.csv"
ITEM_COLS = ["conv_id", "prev_agent", "prev_user", "agent", "user"]


def _crowdkit(item, rater, label, n_items, n_labels):
    from crowdkit.aggregation import DawidSkene

    data = pd.DataFrame({"task": item, "worker": rater, "label": label})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = DawidSkene(n_iter=100, tol=1e-5).fit(data)
    posteriors = (model.probas_.reindex(index=np.arange(n_items), columns=np.arange(n_labels))
                  .fillna(0.0).to_numpy(dtype=float))
    priors = model.priors_.reindex(np.arange(n_labels)).fillna(0.0).to_numpy(dtype=float)
    return model, posteriors, priors


def _crowdkit_errors(model, n_raters, n_labels):
    errors = np.zeros((n_raters, n_labels, n_labels))
    for (worker, said), row in model.errors_.iterrows():
        errors[worker, said, row.index.to_numpy(dtype=int)] = row.to_numpy(dtype=float)
    return errors


def _assert_same_as_crowdkit(coded):
    fit = fit_dawid_skene(coded.item, coded.rater, coded.label, n_items=coded.n_items,
                          n_raters=coded.n_raters, n_labels=coded.n_labels)
    model, posteriors, priors = _crowdkit(coded.item, coded.rater, coded.label,
                                          coded.n_items, coded.n_labels)
    assert fit.iterations == len(model.loss_history_)
    np.testing.assert_allclose(fit.posteriors, posteriors, atol=1e-9)
    np.testing.assert_allclose(fit.priors, priors, atol=1e-9)
    # the tables are sums of posteriors, added in another order than crowd-kit's pandas
    # groupby: a CI run found a rater's 0.5 read as 0.49999993 (posteriors equal to 1e-9)
    np.testing.assert_allclose(fit.confusions(), _crowdkit_errors(model, coded.n_raters,
                                                                  coded.n_labels), atol=1e-6)
    return fit


@st.composite
def ratings_tables(draw):
    n_items = draw(st.integers(1, 40))
    n_raters = draw(st.integers(1, 6))
    labels = draw(st.lists(st.sampled_from("abcdef"), min_size=1, max_size=6, unique=True))
    rows = []
    for item in range(n_items):
        raters = draw(st.lists(st.integers(0, n_raters - 1), min_size=1, max_size=n_raters,
                               unique=True))
        rows += [(item, f"r{r}", draw(st.sampled_from(labels))) for r in raters]
    return pd.DataFrame(rows, columns=["item", "rater", "label"])


CI_CASE = pd.DataFrame(
    [(0, "r1", "a"), (1, "r1", "b"), (1, "r0", "d"), (1, "r4", "a"), (1, "r2", "b"),
     (1, "r3", "c"), (2, "r1", "b"), (3, "r1", "c"), (4, "r1", "a"), (4, "r0", "a"),
     (4, "r2", "c"), (4, "r4", "b"), (4, "r3", "d")], columns=["item", "rater", "label"])
"""The table a CI run found whose tables differed from crowd-kit's by 7e-8."""


@settings(max_examples=60, deadline=None)
@given(ratings_tables())
@example(CI_CASE)
def test_random_ratings_fit_as_crowdkit_fits_them(ratings):
    _assert_same_as_crowdkit(prepare_ratings(ratings))


def test_labels_no_rating_used_get_nothing_and_the_rest_match():
    ratings = pd.DataFrame({"item": [1, 1, 2, 2, 3, 3], "rater": list("ababab"),
                            "label": ["x", "z", "x", "x", "z", "z"]})
    coded = prepare_ratings(ratings, labels=["x", "y", "z"])  # "y" declared, never said
    fit = _assert_same_as_crowdkit(coded)
    assert fit.priors[1] == 0 and (fit.posteriors[:, 1] == 0).all()
    assert 1 not in fit.pair_said and not fit.confusions()[:, 1, :].any()


def test_the_aggregators_rater_accuracy_is_read_from_the_fitted_tables():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 3, 200)
    rows = [(i, f"r{r}", int(t if rng.random() < (0.9 if r else 0.4) else rng.integers(3)))
            for i, t in enumerate(truth) for r in range(4)]
    ratings = pd.DataFrame(rows, columns=["item", "rater", "label"])
    coded = prepare_ratings(ratings)
    model, _, _ = _crowdkit(coded.item, coded.rater, coded.label, coded.n_items,
                            coded.n_labels)
    errors = _crowdkit_errors(model, coded.n_raters, coded.n_labels)
    priors = model.priors_.reindex(np.arange(coded.n_labels)).to_numpy(dtype=float)
    expected = [sum(priors[k] * errors[r, k, k] for k in range(coded.n_labels))
                for r in range(coded.n_raters)]
    accuracy = get_aggregator("dawid_skene").aggregate(ratings).rater_accuracy
    np.testing.assert_allclose(accuracy["accuracy"], expected, atol=1e-9)
    assert accuracy["accuracy"].idxmin() == list(accuracy["rater"]).index("r0")  # the noisy one


@pytest.mark.skipif(not CONVABUSE.is_file(), reason=f"ConvAbuse file not found at {CONVABUSE}")
def test_convabuse_fits_as_crowdkit_fits_it():
    ratings = read_ratings(CONVABUSE, item_col=",".join(ITEM_COLS), rater_col="annotator_id",
                           label_col="is_abuse.*")
    fit = _assert_same_as_crowdkit(prepare_ratings(ratings))
    assert fit.posteriors.shape == (4185, 5)


def test_no_ratings_is_refused():
    empty = np.array([], dtype=np.int64)
    with pytest.raises(ValueError, match="at least one rating"):
        fit_dawid_skene(empty, empty, empty, n_items=0, n_raters=0, n_labels=2)
