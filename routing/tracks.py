"""The stored track catalogue: the generated demo catalogue, imports of any CSV of tracks through
a column mapping, and the catalogue's versions.

The tracks table holds one catalogue at a time, the newest import; every import (the demo's
too) is a new ``catalogueversion`` row, whose number goes into routing decisions and cache keys.
An import is checked whole before anything is written: a missing column, a value outside its
range or an unreadable number is reported with its rows and nothing changes. Tracks are
de-duplicated by id (the first row wins; the tags of the others are merged into it).

A mapping file (JSON) names, for each catalogue field, where its value comes from: a column
name; ``{"column": C, "slice": [A, B]}`` (characters A to B of a column: the year of a date);
``{"value": V}`` (a constant); for ``tags`` only, ``{"columns": [C, ...]}`` (joined words).
``"skip_incomplete": true`` skips rows whose title, artist or id is empty, and counts them.
``routing/mappings/spotify_songs.json`` maps the TidyTuesday Spotify songs file.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from labeling.dataio import strict_json
from labeling.dataio.tabular import storable
from labeling.exceptions import LabelingError
from labeling.project import authz
from labeling.project.authz import Actor, Capability, requires
from routing.catalogue import CATALOGUE_FIELDS, generate_demo_catalogue
from storage.db import session_scope, write_scope
from storage.models import CatalogueVersion
from storage.repositories import audit
from storage.repositories import tracks as track_repo

TEXT_FIELDS = ("track_id", "title", "artist", "genre")
TEXT_LIMITS = {"track_id": 64, "title": 256, "artist": 256, "genre": 64}
"""The most characters each text field holds (the tracks table's column sizes)."""
RANGES: dict[str, tuple[float, float]] = {
    "year": (1900, 2100), "energy": (0, 1), "valence": (0, 1), "danceability": (0, 1),
    "acousticness": (0, 1), "instrumentalness": (0, 1), "speechiness": (0, 1),
    "tempo": (0, 300), "loudness": (-70, 10), "duration_ms": (1_000, 3_600_000),
    "popularity": (0, 100),
}
INTEGER_FIELDS = ("year", "duration_ms", "popularity")
MAX_REPORTED = 5
EXAMPLE_MAPPINGS = Path(__file__).parent / "mappings"


class CatalogueError(LabelingError):
    """A catalogue file or mapping that cannot be imported; nothing was written."""


@dataclass(frozen=True)
class CatalogueInfo:
    version: int
    source: str
    n_tracks: int


@dataclass(frozen=True)
class CatalogueImport:
    version: int
    rows: int
    tracks: int
    duplicates: int
    skipped: int


@requires(Capability.manage_catalogue)
def add_demo_catalogue(*, engine: Engine, actor: Actor) -> int:
    """Store the generated demo catalogue (version 1) if no track is stored yet; return how
    many tracks were added (0 when a catalogue was there already)."""
    rows = generate_demo_catalogue()
    with write_scope(engine) as session:
        who = authz.principal(session, actor)
        if track_repo.count(session=session):
            return 0
        track_repo.add_many(session=session, rows=rows)
        _new_version(session, source="demo (generated)", digest=None, n=len(rows),
                     mapping={}, actor=who.audit_name)
    return len(rows)


def _new_version(session, *, source: str, digest: str | None, n: int, mapping: dict,
                 actor: str) -> int:
    latest = track_repo.latest_version(session=session)
    row = track_repo.add_version(session=session, row=CatalogueVersion(
        version=(latest.version if latest else 0) + 1, source=source[:512], file_sha256=digest,
        n_tracks=n, mapping=mapping, created_by=actor))
    audit.record(session=session, actor=actor, action="catalogue.import",
                 entity="catalogueversion", entity_id=row.id,
                 after={"version": row.version, "source": row.source, "tracks": n})
    return row.version


@requires(Capability.preview)
def current_catalogue(*, engine: Engine, actor: Actor) -> CatalogueInfo | None:
    """The catalogue the router serves from (``None`` before any)."""
    with session_scope(engine) as session:
        latest = track_repo.latest_version(session=session)
        if latest is None:
            count = track_repo.count(session=session)
            return CatalogueInfo(version=0, source="unversioned", n_tracks=count) if count \
                else None
        return CatalogueInfo(version=latest.version, source=latest.source,
                             n_tracks=latest.n_tracks)


@requires(Capability.preview)
def load_catalogue(*, engine: Engine, actor: Actor) -> tuple[CatalogueInfo | None, pd.DataFrame]:
    """The current catalogue's version and its tracks as a frame (one row per track)."""
    info = current_catalogue(engine=engine, actor=actor)
    with session_scope(engine) as session:
        rows = track_repo.all_rows(session=session)
    frame = pd.DataFrame(rows, columns=[*CATALOGUE_FIELDS, "tags"])
    frame["tags"] = frame["tags"].fillna("")
    return info, frame


# --- importing a CSV through a mapping ---------------------------------------------------------

def read_mapping(path: Path | str) -> dict[str, Any]:
    """A mapping file, checked: every catalogue field is mapped, each in a known form."""
    path = Path(path)
    if not path.is_file():
        raise CatalogueError(f"{path}: no such mapping file")
    try:
        mapping = strict_json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"{path}: not a JSON mapping ({exc})") from None
    if not isinstance(mapping, dict):
        raise CatalogueError(f"{path}: a mapping is a JSON object")
    fields = mapping.get("fields", mapping)
    if not isinstance(fields, dict):
        raise CatalogueError(f"{path}: \"fields\" is a JSON object of field: source")
    missing = [f for f in CATALOGUE_FIELDS if f not in fields]
    if missing:
        raise CatalogueError(f"{path}: the mapping misses {', '.join(missing)}")
    for name, spec in fields.items():
        if name in (*CATALOGUE_FIELDS, "tags") and not _known_form(name, spec):
            raise CatalogueError(f"{path}: field {name!r} has an unknown form: {spec!r}")
    return mapping


def _is_slice(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(
        v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in value)


def _known_form(name: str, spec: Any) -> bool:
    """A column name; ``{"column": C}`` with an optional ``"slice": [A, B]`` (integers or
    null); ``{"value": V}`` with a text, number, true/false or null; for tags
    ``{"columns": [C, ...]}`` (one column or more)."""
    if isinstance(spec, str):
        return True
    if not isinstance(spec, dict):
        return False
    if "column" in spec:
        return isinstance(spec["column"], str) and ("slice" not in spec or
                                                     _is_slice(spec["slice"]))
    if "value" in spec:
        return spec["value"] is None or isinstance(spec["value"], str | int | float | bool)
    return name == "tags" and isinstance(spec.get("columns"), list) and bool(
        spec["columns"]) and all(isinstance(c, str) for c in spec["columns"])


def _column(frame: pd.DataFrame, path: Path, name: str) -> pd.Series:
    if name not in frame.columns:
        raise CatalogueError(f"{path}: no column {name!r}; columns: "
                             f"{', '.join(map(str, frame.columns))}")
    return frame[name]


def _field(frame: pd.DataFrame, path: Path, spec: Any) -> pd.Series:
    if isinstance(spec, str):
        return _column(frame, path, spec)
    if "value" in spec:
        return pd.Series([spec["value"]] * len(frame), index=frame.index, dtype=object)
    if "columns" in spec:
        parts = [_column(frame, path, c).fillna("").astype(str) for c in spec["columns"]]
        return pd.concat(parts, axis=1).agg(" ".join, axis=1).str.strip()
    values = _column(frame, path, spec["column"]).astype("string")
    if "slice" in spec:
        start, stop = spec["slice"]
        values = values.str.slice(start, stop)
    return values


def _rows(rows: list[int]) -> str:
    more = f" and {len(rows) - MAX_REPORTED} more" if len(rows) > MAX_REPORTED else ""
    return ", ".join(str(r) for r in rows[:MAX_REPORTED]) + more


def _numbers(values: pd.Series, name: str, path: Path) -> pd.Series:
    numbers = pd.to_numeric(values.astype(object), errors="coerce").astype(float)
    bad = [int(i) + 1 for i, num in numbers.items() if math.isnan(num)]
    if bad:
        raise CatalogueError(f"{path}: {name} is not a number in row(s) {_rows(bad)} "
                             "(rows counted from 1, the first data row)")
    low, high = RANGES[name]
    outside = [int(i) + 1 for i, num in numbers.items() if not low <= num <= high]
    if outside:
        raise CatalogueError(f"{path}: {name} outside {low:g}..{high:g} in row(s) "
                             f"{_rows(outside)}")
    return numbers.astype(int) if name in INTEGER_FIELDS else numbers.astype(float)


def _explicit(values: pd.Series, path: Path) -> pd.Series:
    text = values.astype(str).str.strip().str.lower()
    known = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
    bad = [int(i) + 1 for i, v in text.items() if v not in known]
    if bad:
        raise CatalogueError(f"{path}: explicit is not true/false in row(s) {_rows(bad)}")
    return text.map(known).astype(bool)


def _table(frame: pd.DataFrame, path: Path, mapping: dict[str, Any]) -> tuple[pd.DataFrame, int]:
    fields = mapping.get("fields", mapping)
    out = pd.DataFrame(index=frame.index)
    for name in TEXT_FIELDS:
        out[name] = _field(frame, path, fields[name]).astype("string").str.strip()
    incomplete = out[list(TEXT_FIELDS)].isna().any(axis=1) | (
        out[list(TEXT_FIELDS)].isin(["", "NA", "nan"]).any(axis=1))
    if incomplete.any() and not mapping.get("skip_incomplete", False):
        rows = [i + 1 for i in range(len(out)) if incomplete.iloc[i]]
        raise CatalogueError(f"{path}: empty id, title, artist or genre in row(s) "
                             f"{_rows(rows)}; set \"skip_incomplete\": true to skip them")
    keep = ~incomplete
    for name in RANGES:
        out[name] = _numbers(_field(frame[keep], path, fields[name]), name, path) \
            .reindex(out.index)
    out["explicit"] = _explicit(_field(frame[keep], path, fields["explicit"]), path) \
        .reindex(out.index)
    out["tags"] = (_field(frame, path, fields["tags"]).astype(str)
                   if "tags" in fields else pd.Series("", index=out.index))
    _check_text(out[keep], path)
    return out[keep], int(incomplete.sum())


def _check_text(table: pd.DataFrame, path: Path) -> None:
    """Refuse text the tracks table cannot hold: longer than its column, or not storable (a
    NUL character or half a surrogate pair, ``tabular.storable``)."""
    for name in (*TEXT_FIELDS, "tags"):
        values = table[name].astype(str)
        limit = TEXT_LIMITS.get(name)
        if limit is not None:
            long = [int(i) + 1 for i, v in values.items() if len(v) > limit]
            if long:
                raise CatalogueError(f"{path}: {name} longer than {limit} characters in row(s) "
                                     f"{_rows(long)}")
        bad = [int(i) + 1 for i, v in values.items() if not storable(v)]
        if bad:
            raise CatalogueError(f"{path}: a NUL character or invalid Unicode in {name} in "
                                 f"row(s) {_rows(bad)}")


def _deduplicate(table: pd.DataFrame) -> tuple[list[dict[str, Any]], int]:
    tags = table.groupby("track_id", sort=False)["tags"].agg(
        lambda values: " ".join(dict.fromkeys(" ".join(values).split())))
    first = table.drop_duplicates("track_id", keep="first").copy()
    first["tags"] = first["track_id"].map(tags).str.slice(0, 512)
    first["genre"] = first["genre"].str.lower()
    rows = first[[*CATALOGUE_FIELDS, "tags"]].to_dict("records")
    for row in rows:
        for name in ("year", "duration_ms", "popularity"):
            row[name] = int(row[name])
        row["explicit"] = bool(row["explicit"])
        for name in TEXT_FIELDS:
            row[name] = str(row[name])
    return rows, len(table) - len(first)


@dataclass(frozen=True)
class CatalogueFile:
    """A catalogue file read and checked, not yet stored."""

    rows: list[dict[str, Any]]
    read: int
    duplicates: int
    skipped: int
    digest: str
    mapping: dict[str, Any]

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=[*CATALOGUE_FIELDS, "tags"])


def read_catalogue(path: Path | str, mapping_path: Path | str) -> CatalogueFile:
    """Read and check a CSV of tracks through a mapping, without storing it.

    Raises ``CatalogueError`` for a bad file, mapping or value.
    """
    path = Path(path)
    mapping = read_mapping(mapping_path)
    if not path.is_file():
        raise CatalogueError(f"{path}: no such file")
    data = path.read_bytes()
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise CatalogueError(f"{path}: not a readable UTF-8 CSV file ({exc})") from None
    if frame.empty:
        raise CatalogueError(f"{path}: the file has no rows")
    table, skipped = _table(frame, path, mapping)
    rows, duplicates = _deduplicate(table)
    if not rows:
        raise CatalogueError(f"{path}: no track left to import")
    return CatalogueFile(rows=rows, read=len(frame), duplicates=duplicates, skipped=skipped,
                         digest=hashlib.sha256(data).hexdigest(), mapping=mapping)


@requires(Capability.manage_catalogue)
def import_catalogue(*, engine: Engine, path: Path | str, mapping_path: Path | str,
                     actor: Actor) -> CatalogueImport:
    """Replace the catalogue with the tracks of a CSV file, as a new catalogue version.

    Raises ``CatalogueError`` (and writes nothing) for a bad file, mapping or value.
    """
    path = Path(path)
    checked = read_catalogue(path, mapping_path)
    with write_scope(engine) as session:
        who = authz.principal(session, actor)
        track_repo.replace_all(session=session, rows=checked.rows)
        version = _new_version(session, source=path.name, n=len(checked.rows),
                               mapping=checked.mapping, digest=checked.digest,
                               actor=who.audit_name)
    return CatalogueImport(version=version, rows=checked.read, tracks=len(checked.rows),
                           duplicates=checked.duplicates, skipped=checked.skipped)
