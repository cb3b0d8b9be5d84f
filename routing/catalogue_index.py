"""A track catalogue prepared for serving: the ranker's arrays, the hybrid retrieval index over
its descriptors (their vectors encoded once per catalogue version and stored) and the artist
names for fuzzy matching."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy.engine import Engine

from labeling.ml.encoders import Encoder
from labeling.project.authz import Actor
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
    _columns: dict[str, Any] = field(default_factory=dict, repr=False)
    """Each column's array (numpy where numeric without gaps), for ``records``."""

    def __post_init__(self) -> None:
        for name, column in self.tracks.items():
            plain = column.dtype.kind in "biuf" and not column.isna().any()
            array = column.array
            self._columns[str(name)] = column.to_numpy() if plain else \
                array.__arrow_array__().combine_chunks() \
                if isinstance(array, pd.arrays.ArrowStringArray) \
                else array

    def records(self, rows: Sequence[int], fields: Sequence[str]) -> list[dict[str, Any]]:
        """``fields`` of the tracks at ``rows`` as plain Python values, one dict per row, a
        missing value as NaN (``DataFrame.iloc`` and ``to_dict`` cost a few ms per list; this,
        a tenth of one: string columns are taken by pyarrow, 11 us instead of pandas' 40)."""
        rows = np.asarray(rows, dtype=np.int64)
        columns = []
        for f in fields:
            column = self._columns[f]
            if isinstance(column, np.ndarray):
                columns.append(column[rows].tolist())  # Python numbers already
            elif isinstance(column, pa.Array):
                columns.append([np.nan if v is None else v
                                for v in column.take(rows).to_pylist()])
            else:
                columns.append([v.item() if hasattr(v, "item") else v
                                for v in column.take(rows).tolist()])
        return [dict(zip(fields, values, strict=True)) for values in zip(*columns, strict=True)]

    @classmethod
    def build(cls, info: CatalogueInfo | None, tracks: pd.DataFrame, vectors: np.ndarray
              ) -> CatalogueIndex:
        return cls(info=info, tracks=tracks, arrays=CatalogueArrays(tracks),
                   index=HybridIndex(descriptors(tracks), vectors),
                   artists=ArtistIndex(tracks["artist"].astype(str).tolist()))

    @classmethod
    def load(cls, *, engine: Engine, encoder: Encoder, actor: Actor,
             progress: Callable[[int, int], None] | None = None) -> CatalogueIndex:
        """The current catalogue, loaded by ``actor`` (serving infrastructure); descriptor
        vectors are encoded once and stored. Raises ``CatalogueError`` when there is none to
        serve from."""
        info, tracks = load_catalogue(engine=engine, actor=actor)
        if tracks.empty:
            raise CatalogueError("no track catalogue to serve from: run `workbench init "
                                 "--demo` or `workbench catalogue import FILE --mapping FILE`")
        texts = dense_descriptors(tracks)
        vectors = embed(engine=engine, actor=actor, encoder=encoder, texts=texts,
                        progress=progress) \
            if texts else np.zeros((0, encoder.dim), dtype=np.float32)
        return cls.build(info, tracks, vectors)
