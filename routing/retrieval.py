"""Hybrid retrieval over track descriptors: sparse BM25 (``bm25s``) and dense similarity, fused by
reciprocal rank. Pure functions and one in-memory index class; no database.

A track's descriptor is its title, artist, genre and tags, plus words for what its audio
features and year say ("calm acoustic instrumental", "1990s nineties"), so that a prompt's own
words ("calm piano for sleep", "90s hip hop") find tracks by what they sound like, not only by
their names.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import bm25s
import numpy as np
import pandas as pd
from bm25s.stopwords import STOPWORDS_EN

from labeling.text.normalise import fold

RRF_K = 60
"""Reciprocal-rank-fusion constant (Cormack et al., 2009): a hit at rank r adds 1 / (k + r)."""

FEATURE_WORDS: tuple[tuple[str, float, float, str], ...] = (
    # (feature, low, high, words when the feature lies in [low, high])
    ("energy", 0.0, 0.35, "calm quiet soft gentle mellow relaxing"),
    ("energy", 0.75, 1.01, "energetic intense powerful loud hype"),
    ("valence", 0.0, 0.3, "sad dark melancholic moody"),
    ("valence", 0.7, 1.01, "happy upbeat cheerful sunny feel good"),
    ("danceability", 0.75, 1.01, "danceable dance groove party club"),
    ("acousticness", 0.6, 1.01, "acoustic unplugged organic"),
    ("instrumentalness", 0.5, 1.01, "instrumental no vocals"),
    ("speechiness", 0.33, 1.01, "rap spoken vocal heavy"),
    ("tempo", 0.0, 85.0, "slow downtempo"),
    ("tempo", 135.0, 400.0, "fast uptempo"),
)


def era_words(year: int) -> str:
    decade = (int(year) // 10) * 10
    short = f"{decade % 100:02d}s"
    names = {1960: "sixties", 1970: "seventies", 1980: "eighties", 1990: "nineties",
             2000: "noughties 2000s", 2010: "2010s", 2020: "2020s new"}
    return f"{decade}s {short} {names.get(decade, '')}".strip()


def descriptors(tracks: pd.DataFrame) -> list[str]:
    """One descriptor text per track (title, artist, genre, tags, feature and era words)."""
    out = []
    for row in tracks.itertuples(index=False):
        words = [w for feature, low, high, w in FEATURE_WORDS
                 if low <= float(getattr(row, feature)) < high]
        out.append(" ".join([str(row.title), "by", str(row.artist), str(row.genre),
                             str(getattr(row, "tags", "") or ""), *words,
                             era_words(row.year)]))
    return out


DENSE_TAG_WORDS = 8


def dense_descriptors(tracks: pd.DataFrame) -> list[str]:
    """The shorter text embedded per track: title, artist, genre and the first tag words (the
    feature words are for BM25; the encoder reads names and styles better than numbers)."""
    tags = tracks["tags"] if "tags" in tracks else pd.Series([""] * len(tracks))
    return [f"{title} by {artist}, {genre}, {' '.join(str(tag or '').split()[:DENSE_TAG_WORDS])}"
            .strip(" ,")
            for title, artist, genre, tag in zip(tracks["title"], tracks["artist"],
                                                 tracks["genre"], tags, strict=True)]


@dataclass(frozen=True)
class Retrieved:
    """Candidate rows with their fused relevance (higher first) and the parts behind it."""

    rows: np.ndarray
    relevance: np.ndarray
    sparse_rank: np.ndarray
    """Rank in the BM25 list (``-1``: not in it)."""
    dense_rank: np.ndarray


def reciprocal_rank_fusion(rankings: Sequence[np.ndarray], n: int, *, k: int = RRF_K
                           ) -> np.ndarray:
    """Fused score per row (``n`` rows) from several ranked lists of row numbers."""
    scores = np.zeros(n, dtype=np.float64)
    for ranking in rankings:
        ranking = np.asarray(ranking, dtype=np.int64)
        scores[ranking] += 1.0 / (k + np.arange(1, len(ranking) + 1))
    return scores


SAMPLE_ABOVE = 50_000
"""``top_rows`` over more values than this first finds a threshold from a sample."""


def top_rows(values: np.ndarray, k: int, rows: np.ndarray | None = None) -> np.ndarray:
    """The ``k`` rows with the highest ``values`` (of ``rows``, default all), best first; ties
    keep the order of ``rows``.

    Exact, and fast on large arrays: over ``SAMPLE_ABOVE`` values a threshold is read from a
    fixed sample so that only a few times ``k`` values are sorted, and every row at or above it
    is kept; if fewer than ``k`` pass, all are sorted. (``argpartition`` over 1,000,000 scores
    with many ties took 15 ms; most of them cannot be in a top 400.)
    """
    scores = values if rows is None else values[rows]
    k = min(k, scores.size)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if scores.size > SAMPLE_ABOVE:
        sample = scores[:: max(1, scores.size // 20_000)]
        share = min(1.0, 4.0 * k / scores.size)
        passing = np.flatnonzero(scores >= np.quantile(sample, 1.0 - share))
        if passing.size >= k:
            rows = passing if rows is None else np.asarray(rows, dtype=np.int64)[passing]
            scores = scores[passing]
    rows = np.arange(scores.size) if rows is None else np.asarray(rows, dtype=np.int64)
    if k < rows.size:
        kth = np.partition(scores, scores.size - k)[scores.size - k]  # the k-th highest
        # (not ``-np.partition(-scores, k - 1)``: the same value, 3x slower on 28,000 scores)
        above = np.flatnonzero(scores > kth)
        keep = np.concatenate([above, np.flatnonzero(scores == kth)[: k - above.size]])
        order = keep[np.lexsort((keep, -scores[keep]))]
    else:
        order = np.lexsort((np.arange(rows.size), -scores))
    return rows[order]


EXACT_MAX = 100_000
"""Up to this many tracks the dense search scans every vector (a few ms at 28,000 tracks);
above it an inverted-file index (``faiss.IndexIVFScalarQuantizer``) scans only the clusters
nearest the prompt (a full scan of 1,000,000 vectors takes about 100 ms on 2 cores)."""
IVF_PROBE_SHARE = 1 / 32
"""Share of the clusters an approximate search visits at least (``nprobe``); more when ``k``
is large for the catalogue, so that about 20 vectors are compared per one returned."""


class DenseIndex:
    """The descriptors' unit vectors, searched by inner product (= cosine).

    Exact up to ``EXACT_MAX`` vectors; above, an IVF index with about ``sqrt(n)`` clusters
    (k-means on a fixed sample of ``40 x clusters`` vectors, seeded, so a build is
    reproducible) that visits ``IVF_PROBE_SHARE`` of them per search, its vectors stored with
    8 bits per dimension (``IndexIVFScalarQuantizer``: 384 MB for a million tracks instead of
    1.5 GB, and a quarter of the memory to scan). The IVF index holds the only copy of the
    vectors (``vectors_of`` decodes them), so a million tracks do not cost them twice.
    ``bench/router_latency.py`` prints its recall against exact search.
    """

    def __init__(self, vectors: np.ndarray, *, exact_max: int = EXACT_MAX,
                 seed: int = 0) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.size, self.dim = vectors.shape if vectors.ndim == 2 else (0, 0)
        self._ivf = None
        self._vectors: np.ndarray | None = vectors
        if self.size > exact_max:
            self._ivf = self._build_ivf(vectors, seed=seed)
            self._vectors = None

    @property
    def approximate(self) -> bool:
        return self._ivf is not None

    @staticmethod
    def _build_ivf(vectors: np.ndarray, *, seed: int):
        import faiss

        n, dim = vectors.shape
        lists = max(16, int(np.sqrt(n)))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, lists,
                                              faiss.ScalarQuantizer.QT_8bit,
                                              faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(seed).choice(n, size=min(n, 40 * lists), replace=False)
        index.cp.seed = seed
        index.train(vectors[np.sort(sample)])
        index.add(vectors)
        index.make_direct_map()
        index.nprobe = max(1, int(np.ceil(lists * IVF_PROBE_SHARE)))
        return index

    def search(self, vector: np.ndarray, k: int) -> np.ndarray:
        """Row numbers of (about, when approximate) the ``k`` most similar vectors, best first."""
        k = min(k, self.size)
        if k <= 0:
            return np.zeros(0, dtype=np.int64)
        query = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        if self._ivf is not None:
            import faiss

            # visit enough clusters to see ~20 vectors per wanted one, at least the set share
            lists = self._ivf.nlist
            probes = min(lists, max(self._ivf.nprobe, int(np.ceil(20 * k * lists / self.size))))
            _, rows = self._ivf.search(query, k, params=faiss.SearchParametersIVF(nprobe=probes))
            rows = rows[0]
            return rows[rows >= 0].astype(np.int64)
        return top_rows(self._vectors @ query[0], k)

    def vectors_of(self, rows: Sequence[int]) -> np.ndarray:
        """The stored vectors of ``rows`` (float32, one row each)."""
        rows = np.asarray(rows, dtype=np.int64)
        if self._ivf is not None:
            return self._ivf.reconstruct_batch(rows)
        return self._vectors[rows]


_TOKEN = re.compile(r"(?u)\b\w\w+\b")
"""``bm25s.tokenize``'s default token pattern."""
_STOPWORDS = frozenset(STOPWORDS_EN)


def query_words(query: str) -> list[str]:
    """The query's BM25 tokens: what ``bm25s.tokenize(..., stopwords="en")`` gives for the
    folded query (lower case, its token pattern, English stop words out), without its per-call
    set-up (progress bars, vocabulary): 0.13 ms per prompt became a few microseconds."""
    return [word for word in _TOKEN.findall(fold(query).lower()) if word not in _STOPWORDS]


class SparseIndex:
    """BM25 over the descriptors of one catalogue."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.size = len(texts)
        self._bm25 = bm25s.BM25()
        self._bm25.index(bm25s.tokenize([fold(t) for t in texts], stopwords="en",
                                        show_progress=False), show_progress=False)

    def sparse(self, query: str, k: int) -> np.ndarray:
        """Row numbers of the ``k`` best BM25 matches (fewer where fewer match at all)."""
        words = query_words(query)
        if not words:
            return np.zeros(0, dtype=np.int64)
        scores = self._bm25.get_scores(list(words))
        return top_rows(scores, k, np.flatnonzero(scores > 0))


class HybridIndex(SparseIndex):
    """BM25 over the descriptors and a dense index of their embeddings, for one catalogue."""

    def __init__(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        if len(texts) != len(vectors):
            raise ValueError(f"{len(texts)} descriptors but {len(vectors)} vectors")
        super().__init__(texts)
        self.dense_index = DenseIndex(vectors)

    def dense(self, vector: np.ndarray, k: int) -> np.ndarray:
        """Row numbers of the ``k`` most similar descriptors (cosine: vectors are unit)."""
        return self.dense_index.search(vector, k)

    def vectors_of(self, rows: Sequence[int]) -> np.ndarray:
        return self.dense_index.vectors_of(rows)

    def retrieve(self, query: str, vector: np.ndarray | None, *, k: int = 400) -> Retrieved:
        """The union of both lists, fused by reciprocal rank (no dense list without a
        ``vector``)."""
        sparse = self.sparse(query, k)
        dense = np.zeros(0, dtype=np.int64) if vector is None else self.dense(vector, k)
        fused = reciprocal_rank_fusion([sparse, dense], self.size)
        rows = np.flatnonzero(fused != 0)  # both lists' rows, ascending (np.union1d: 0.2 ms)
        order = rows[np.argsort(-fused[rows], kind="stable")]
        sparse_rank = np.full(self.size, -1)
        sparse_rank[sparse] = np.arange(len(sparse))
        dense_rank = np.full(self.size, -1)
        dense_rank[dense] = np.arange(len(dense))
        return Retrieved(rows=order, relevance=fused[order], sparse_rank=sparse_rank[order],
                         dense_rank=dense_rank[order])
