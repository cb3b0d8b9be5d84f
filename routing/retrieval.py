"""Hybrid retrieval over track descriptors: sparse BM25 (``bm25s``) and dense similarity, fused by
reciprocal rank. Pure functions and one in-memory index class; no database.

A track's descriptor is its title, artist, genre and tags, plus words for what its audio
features and year say ("calm acoustic instrumental", "1990s nineties"), so that a prompt's own
words ("calm piano for sleep", "90s hip hop") find tracks by what they sound like, not only by
their names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import bm25s
import numpy as np
import pandas as pd

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


class HybridIndex:
    """BM25 over the descriptors and a matrix of their embeddings, for one catalogue."""

    def __init__(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        if len(texts) != len(vectors):
            raise ValueError(f"{len(texts)} descriptors but {len(vectors)} vectors")
        self.size = len(texts)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._bm25 = bm25s.BM25()
        self._bm25.index(bm25s.tokenize([fold(t) for t in texts], stopwords="en",
                                        show_progress=False), show_progress=False)

    def sparse(self, query: str, k: int) -> np.ndarray:
        """Row numbers of the ``k`` best BM25 matches (fewer where fewer match at all)."""
        tokens = bm25s.tokenize([fold(query)], stopwords="en", show_progress=False)
        if not tokens.ids or not tokens.ids[0]:
            return np.zeros(0, dtype=np.int64)
        rows, scores = self._bm25.retrieve(tokens, k=min(k, self.size), show_progress=False)
        return np.asarray(rows[0], dtype=np.int64)[np.asarray(scores[0]) > 0]

    def dense(self, vector: np.ndarray, k: int) -> np.ndarray:
        """Row numbers of the ``k`` most similar descriptors (cosine: vectors are unit)."""
        similarity = self.vectors @ np.asarray(vector, dtype=np.float32).ravel()
        k = min(k, self.size)
        top = np.argpartition(-similarity, k - 1)[:k]
        return top[np.argsort(-similarity[top], kind="stable")]

    def retrieve(self, query: str, vector: np.ndarray, *, k: int = 400) -> Retrieved:
        """The union of both lists, fused by reciprocal rank."""
        sparse, dense = self.sparse(query, k), self.dense(vector, k)
        fused = reciprocal_rank_fusion([sparse, dense], self.size)
        rows = np.union1d(sparse, dense)
        order = rows[np.argsort(-fused[rows], kind="stable")]
        sparse_rank = np.full(self.size, -1)
        sparse_rank[sparse] = np.arange(len(sparse))
        dense_rank = np.full(self.size, -1)
        dense_rank[dense] = np.arange(len(dense))
        return Retrieved(rows=order, relevance=fused[order], sparse_rank=sparse_rank[order],
                         dense_rank=dense_rank[order])
