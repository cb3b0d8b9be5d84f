"""A track catalogue prepared for serving: the ranker's arrays, the hybrid retrieval index over
its descriptors (their vectors encoded once per catalogue version and stored) and the artist
names for fuzzy matching."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from labeling.ml.encoders import Encoder
from labeling.project.vectors import embed
from routing.lexicon import ArtistIndex
from routing.ranker import CatalogueArrays
from routing.retrieval import HybridIndex, dense_descriptors, descriptors
from routing.tracks import CatalogueError, CatalogueInfo, load_catalogue


@dataclass
class CatalogueIndex:
    """A catalogue prepared for serving: arrays, hybrid index and artist names."""

    info: CatalogueInfo | None
    tracks: pd.DataFrame
    arrays: CatalogueArrays
    index: HybridIndex
    artists: ArtistIndex

    @classmethod
    def build(cls, info: CatalogueInfo | None, tracks: pd.DataFrame, vectors: np.ndarray
              ) -> CatalogueIndex:
        return cls(info=info, tracks=tracks, arrays=CatalogueArrays(tracks),
                   index=HybridIndex(descriptors(tracks), vectors),
                   artists=ArtistIndex(tracks["artist"].astype(str).tolist()))

    @classmethod
    def load(cls, *, engine: Engine, encoder: Encoder,
             progress: Callable[[int, int], None] | None = None) -> CatalogueIndex:
        """The current catalogue; descriptor vectors are encoded once and stored. Raises
        ``CatalogueError`` when there is none to serve from."""
        info, tracks = load_catalogue(engine=engine)
        if tracks.empty:
            raise CatalogueError("no track catalogue to serve from: run `workbench init "
                                 "--demo` or `workbench catalogue import FILE --mapping FILE`")
        texts = dense_descriptors(tracks)
        vectors = embed(engine=engine, encoder=encoder, texts=texts, progress=progress) \
            if texts else np.zeros((0, encoder.dim), dtype=np.float32)
        return cls.build(info, tracks, vectors)
