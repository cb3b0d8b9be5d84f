"""Search at catalogue scale: the exact top-k helper, and the inverted-file dense index that
large catalogues use (recall against exact search, stored vectors, determinism)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from routing import retrieval
from routing.retrieval import DenseIndex, HybridIndex, top_rows


def expected(values: np.ndarray, k: int, rows: np.ndarray) -> np.ndarray:
    return rows[np.lexsort((np.arange(rows.size), -values[rows]))][:k]


@settings(max_examples=200, deadline=None)
@given(values=hnp.arrays(np.float64, st.integers(1, 300),
                         elements=st.integers(-5, 5).map(float)),
       k=st.integers(1, 50), subset=st.booleans(), sample_above=st.sampled_from([10, 50_000]))
def test_top_rows_is_exact_with_ties_in_row_order(values, k, subset, sample_above):
    rows = np.flatnonzero(values >= 0) if subset else np.arange(values.size)
    original = retrieval.SAMPLE_ABOVE
    retrieval.SAMPLE_ABOVE = sample_above  # also the sampled-threshold path on small arrays
    try:
        got = top_rows(values, k, rows if subset else None)
    finally:
        retrieval.SAMPLE_ABOVE = original
    assert np.array_equal(got, expected(values, k, rows))


def clustered(n: int, dim: int = 32, centres: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    middle = rng.standard_normal((centres, dim))
    points = middle[rng.integers(0, centres, n)] + 0.35 * rng.standard_normal((n, dim))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def test_large_catalogues_get_an_ivf_index_with_high_recall():
    vectors = clustered(6_000)
    exact = DenseIndex(vectors)
    approximate = DenseIndex(vectors, exact_max=1_000)
    assert not exact.approximate and approximate.approximate
    queries = clustered(40, seed=1)
    recall = np.mean([len(set(exact.search(q, 100)) & set(approximate.search(q, 100))) / 100
                      for q in queries])
    assert recall >= 0.9, recall
    # stored with 8 bits per dimension: close to the originals
    assert np.allclose(approximate.vectors_of([5, 17, 5999]), vectors[[5, 17, 5999]],
                       atol=0.02)
    again = DenseIndex(vectors, exact_max=1_000)  # seeded: the same index twice
    assert all(np.array_equal(again.search(q, 50), approximate.search(q, 50))
               for q in queries[:5])


def test_sparse_search_returns_only_tracks_that_share_a_word():
    index = HybridIndex(["calm piano for sleep", "loud rock party", "calm jazz evening",
                         "90s hip hop"], clustered(4))
    assert index.sparse("calm piano", 10).tolist() == [0, 2]
    assert index.sparse("zzz unknown", 10).size == 0 and index.sparse("", 10).size == 0


@settings(max_examples=200, deadline=None)
@given(query=st.text(max_size=60) | st.sampled_from(
    ["calm piano for SLEEP", "90s hip hop", "the songs of the 80s", "Ünïcödé café beats",
     "a b cc dd the and", "rock rock rock", ""]))
def test_query_words_are_what_bm25s_tokenize_gives(query):
    import bm25s

    from labeling.text.normalise import fold
    from routing.retrieval import query_words

    expected = bm25s.tokenize([fold(query)], stopwords="en", show_progress=False,
                              return_ids=False)[0]
    assert query_words(query) == list(expected)
