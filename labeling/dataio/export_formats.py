"""Writing exported label rows as CSV, JSONL, Parquet or Label Studio JSON, a chunk at a time.

Every format is written as the rows arrive, so memory is bounded whatever the export's size:
CSV and JSONL a chunk at a time, Parquet a row group per ``PARQUET_ROWS`` rows (with a schema
fixed before the first), Label Studio JSON a task per item as soon as the item's last label
has been read (its rows must come grouped by item: ``by_item``).

CSV cells that a spreadsheet would read as a formula start with a ``'``
(``labeling.dataio.spreadsheet``); JSONL, Parquet and Label Studio JSON keep text as it is.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from labeling.dataio.label_studio import task_for
from labeling.dataio.spreadsheet import to_csv
from labeling.exceptions import LabelingError

EXPORT_FORMATS = ("csv", "jsonl", "parquet", "label-studio")


def _jsonable(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def check_target(fmt: str, out: Path | None) -> None:
    """Refuse an unknown format, or Parquet to standard output (``LabelingError``)."""
    if fmt not in EXPORT_FORMATS:
        raise LabelingError(f"unknown format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    if fmt == "parquet" and out is None:
        raise LabelingError("Parquet is binary: give --out FILE")


BY_ITEM = ("label-studio",)
"""Formats that need each item's rows together (one task per item): ``write_chunks`` is given
them ordered by item."""

ARROW_TYPES: dict[str, pa.DataType] = {
    "task": pa.string(), "label_id": pa.int64(), "item_id": pa.int64(), "text": pa.string(),
    "value": pa.string(), "slots": pa.string(), "unsure": pa.bool_(), "rater": pa.string(),
    "source": pa.string(), "source_detail": pa.string(), "shown_at": pa.timestamp("us"),
    "submitted_at": pa.timestamp("us"), "seconds": pa.float64(),
    "guideline_version": pa.int64(), "strategy": pa.string(), "model_version_id": pa.int64(),
    "selection_score": pa.float64(), "batch_id": pa.string(), "is_gold": pa.bool_(),
    "corrects_label_id": pa.int64(), "superseded": pa.bool_(), "consensus": pa.string(),
    "consensus_method": pa.string(), "consensus_confidence": pa.float64(),
    "consensus_agreement": pa.float64(), "consensus_settled": pa.bool_(),
}
"""Parquet column types of the export's columns (``labeling.project.exporting.COLUMNS``), fixed
before the first row so every row group has the same schema (a chunk whose column is all empty
would otherwise read as another type). Slots are JSON text, as in CSV."""


def _write_csv(chunks: Iterable[list[dict[str, Any]]], stream: IO[str],
               columns: Sequence[str]) -> int:
    """CSV (slots as JSON, formula cells quoted), a chunk at a time. Columns keep their Python
    values (``dtype=object``), so every chunk is written alike."""
    written, header = 0, True
    for chunk in chunks:
        frame = pd.DataFrame(chunk, columns=list(columns), dtype=object)
        frame["slots"] = [json.dumps(s, sort_keys=True) for s in frame["slots"]]
        to_csv(frame, stream, header=header)
        written, header = written + len(chunk), False
    if header:
        to_csv(pd.DataFrame(columns=list(columns)), stream)
    return written


def _write_jsonl(chunks: Iterable[list[dict[str, Any]]], stream: IO[str]) -> int:
    written = 0
    for chunk in chunks:
        stream.write("".join(json.dumps({k: _jsonable(v) for k, v in row.items()}) + "\n"
                             for row in chunk))
        written += len(chunk)
    return written


def _arrow_schema(columns: Sequence[str], first: list[dict[str, Any]]) -> pa.Schema:
    """The export's types (``ARROW_TYPES``); another column takes the type of its values in
    the first chunk (text where they are all empty)."""
    fields = []
    for name in columns:
        kind = ARROW_TYPES.get(name)
        if kind is None:
            kind = pa.array([row.get(name) for row in first]).type
            kind = pa.string() if pa.types.is_null(kind) else kind
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


PARQUET_ROWS = 20_000
"""Rows per Parquet row group: chunks are gathered up to this many before a group is written
(readers do better with groups of tens of thousands of rows than of one chunk; the footer keeps
statistics per group), held as Arrow columns: memory holds at most this many rows."""


def _write_parquet(chunks: Iterable[list[dict[str, Any]]], out: Path,
                   columns: Sequence[str]) -> int:
    """Parquet, a row group per ``PARQUET_ROWS`` rows (each chunk held as Arrow columns until
    its group is written)."""
    written, writer, held = 0, None, []

    def flush() -> None:
        if held:
            writer.write_table(pa.concat_tables(held))
            held.clear()

    try:
        for chunk in chunks:
            rows = [{**row, "slots": json.dumps(row.get("slots") or {}, sort_keys=True)}
                    for row in chunk]
            if writer is None:
                writer = pq.ParquetWriter(out, _arrow_schema(columns, rows))
            if rows:
                held.append(pa.Table.from_pylist(rows, schema=writer.schema))
            written += len(rows)
            if sum(len(table) for table in held) >= PARQUET_ROWS:
                flush()
        if writer is None:
            writer = pq.ParquetWriter(out, _arrow_schema(columns, []))
        flush()
    finally:
        if writer is not None:
            writer.close()
    return written


def _write_label_studio(chunks: Iterable[list[dict[str, Any]]], stream: IO[str]) -> int:
    """A JSON list of Label Studio tasks, one written as soon as its item's rows are all read
    (the rows come grouped by item)."""
    written, first, item, held = 0, True, None, []

    def flush() -> None:
        nonlocal first
        if held:
            text = json.dumps(task_for(held), indent=1, default=_jsonable)
            stream.write(("[\n" if first else ",\n") + text)
            first = False

    for chunk in chunks:
        for row in chunk:
            if row["item_id"] != item:
                flush()
                item, held = row["item_id"], []
            held.append(row)
        written += len(chunk)
    flush()
    stream.write("[]\n" if first else "\n]\n")
    return written


def write_chunks(chunks: Iterable[list[dict[str, Any]]], *, fmt: str, out: Path | None,
                 columns: Sequence[str]) -> int:
    """Write ``chunks`` of rows as ``fmt`` to ``out`` (standard output where ``None``; not for
    Parquet) as they arrive, so memory stays bounded; how many rows were written. Label
    Studio's rows must come grouped by item (``BY_ITEM``).

    A file is written beside ``out`` and put in its place once whole: an export that fails half
    way leaves no half file (and an older export at ``out`` as it was)."""
    check_target(fmt, out)
    if out is None:
        return _write_stream(chunks, fmt, sys.stdout, columns)
    partial = out.with_name(f".{out.name}.partial")
    try:
        if fmt == "parquet":
            written = _write_parquet(chunks, partial, columns)
        else:
            with open(partial, "w", encoding="utf-8", newline="") as stream:
                written = _write_stream(chunks, fmt, stream, columns)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return written


def _write_stream(chunks: Iterable[list[dict[str, Any]]], fmt: str, stream: IO[str],
                  columns: Sequence[str]) -> int:
    if fmt == "csv":
        return _write_csv(chunks, stream, columns)
    if fmt == "label-studio":
        return _write_label_studio(chunks, stream)
    return _write_jsonl(chunks, stream)


def write_rows(rows: list[dict[str, Any]], *, fmt: str, out: Path | None,
               columns: Sequence[str] | None = None) -> None:
    """Write ``rows`` as ``fmt`` to ``out`` (standard output where ``None``, not for Parquet).

    ``columns`` orders the tabular formats' columns (and heads a file with no rows); default:
    the rows' own keys.
    """
    check_target(fmt, out)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
    if fmt in BY_ITEM:
        rows = sorted(rows, key=lambda row: row["item_id"])  # stable: each item's own order
    write_chunks([rows], fmt=fmt, out=out,
                 columns=list(columns) if columns else list(rows[0]) if rows else ["slots"])
