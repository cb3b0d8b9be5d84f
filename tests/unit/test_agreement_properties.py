"""Properties of the agreement measures and aggregators on random small tables (hypothesis)."""

from __future__ import annotations

import math
import warnings
from collections import Counter

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from labeling.metrics.aggregation import get_aggregator
from labeling.metrics.agreement import krippendorff_alpha, pairwise_cohen
from labeling.metrics.rater_quality import peer_consensus_agreement

SETTINGS = settings(max_examples=50, deadline=None)
RATERS = [f"r{k}" for k in range(5)]
LABELS = ["a", "b", "c", "d"]


@st.composite
def ratings_tables(draw) -> pd.DataFrame:
    """1-8 items, each rated by a non-empty subset of up to 5 raters, one label each."""
    n_labels = draw(st.integers(2, 4))
    rows = []
    for item in range(draw(st.integers(1, 8))):
        raters = draw(st.lists(st.sampled_from(RATERS), min_size=1, max_size=5, unique=True))
        rows += [(f"i{item}", rater, draw(st.sampled_from(LABELS[:n_labels]))) for rater in raters]
    return pd.DataFrame(rows, columns=["item", "rater", "label"])


@SETTINGS
@given(ratings_tables())
def test_kappa_is_bounded_symmetric_and_sklearns(ratings):
    forward = pairwise_cohen(ratings)
    finite = forward["kappa"].dropna()
    assert ((finite >= -1 - 1e-12) & (finite <= 1 + 1e-12)).all()
    wide = ratings.pivot(index="item", columns="rater", values="label")
    for a, b, n, k in forward.itertuples(index=False):
        both = wide[[a, b]].dropna()
        assert len(both) == n
        if n >= 2:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # undefined kappa warns
                expected = cohen_kappa_score(both[a].tolist(), both[b].tolist())
            assert (math.isnan(k) and math.isnan(expected)) or abs(k - expected) < 1e-12
    # rename raters so every pair is seen the other way round (rater_b first)
    flipped = ratings.assign(rater=ratings["rater"].map(lambda r: f"z{9 - int(r[1])}"))
    backward = pairwise_cohen(flipped)
    back = {frozenset((a, b)): (n, k) for a, b, n, k in backward.itertuples(index=False)}
    for a, b, n, k in forward.itertuples(index=False):
        n_back, k_back = back[frozenset((f"z{9 - int(a[1])}", f"z{9 - int(b[1])}"))]
        assert n == n_back
        assert (math.isnan(k) and math.isnan(k_back)) or abs(k - k_back) < 1e-12


@SETTINGS
@given(
    st.lists(st.sampled_from(LABELS), min_size=2, max_size=12).filter(lambda xs: len(set(xs)) > 1),
    st.integers(2, 5),
)
def test_alpha_is_one_on_identical_ratings(labels, n_raters):
    ratings = pd.DataFrame([(item, RATERS[r], label) for item, label in enumerate(labels)
                            for r in range(n_raters)], columns=["item", "rater", "label"])
    assert abs(krippendorff_alpha(ratings) - 1.0) < 1e-12
    assert abs(krippendorff_alpha(ratings, level="ordinal", order=LABELS) - 1.0) < 1e-12


@SETTINGS
@given(ratings_tables(), st.sampled_from(["majority", "dawid_skene"]), st.randoms())
def test_aggregation_ignores_row_order(ratings, name, random):
    order = list(range(len(ratings)))
    random.shuffle(order)
    shuffled = ratings.iloc[order].reset_index(drop=True)
    first = get_aggregator(name).aggregate(ratings)
    second = get_aggregator(name).aggregate(shuffled)
    assert first.items["item"].tolist() == second.items["item"].tolist()
    assert first.items["label"].tolist() == second.items["label"].tolist()
    assert first.items["tie"].tolist() == second.items["tie"].tolist()
    np.testing.assert_allclose(first.items["confidence"], second.items["confidence"], atol=1e-9)
    np.testing.assert_allclose(first.rater_accuracy["accuracy"],
                               second.rater_accuracy["accuracy"], atol=1e-9)


@SETTINGS
@given(ratings_tables())
def test_majority_never_breaks_a_tie_silently(ratings):
    result = get_aggregator("majority").aggregate(ratings).items.set_index("item")
    for item, labels in ratings.groupby("item")["label"]:
        ranked = Counter(labels).most_common()
        tied = len(ranked) > 1 and ranked[0][1] == ranked[1][1]
        assert bool(result.loc[item, "tie"]) is tied
        assert result.loc[item, "label"] == (None if tied else ranked[0][0])
        assert result.loc[item, "confidence"] == ranked[0][1] / len(labels)


def _peer_agreement_by_hand(ratings: pd.DataFrame, decided: dict) -> dict:
    """Each rater's hits against the reviewer's decision, else the others' untied majority."""
    hits: dict[str, list[int]] = {}
    for item, rater, label in ratings[["item", "rater", "label"]].itertuples(index=False):
        if item in decided:
            reference = decided[item]
        else:
            others = Counter(ratings[(ratings["item"] == item)]["label"])
            others[label] -= 1
            ranked = [(n, lab) for lab, n in others.most_common() if n > 0]
            if not ranked or (len(ranked) > 1 and ranked[0][0] == ranked[1][0]):
                continue
            reference = ranked[0][1]
        hits.setdefault(rater, []).append(int(label == reference))
    return {rater: (len(h), sum(h) / len(h)) for rater, h in hits.items()}


@SETTINGS
@given(ratings_tables(), st.data())
def test_peer_consensus_leaves_the_raters_own_vote_out(ratings, data):
    items = sorted(ratings["item"].unique())
    decided = {item: data.draw(st.sampled_from([*LABELS, "e"]))  # "e": a label nobody gave
               for item in data.draw(st.lists(st.sampled_from(items), unique=True))}
    got = peer_consensus_agreement(ratings, decided)
    assert list(got.columns) == ["rater", "n", "agreement"]
    by_rater = {r: (n, a) for r, n, a in got.itertuples(index=False)}
    expected = _peer_agreement_by_hand(ratings, decided)
    assert set(by_rater) == set(expected)
    for rater, (n, share) in expected.items():
        assert by_rater[rater][0] == n and math.isclose(by_rater[rater][1], share)
