"""Writing exported label rows as CSV, JSONL, Parquet or Label Studio JSON.

CSV cells that a spreadsheet would read as a formula start with a ``'``
(``labeling.dataio.spreadsheet``); JSONL, Parquet and Label Studio JSON keep text as it is.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import pandas as pd

from labeling.dataio.label_studio import to_tasks
from labeling.dataio.spreadsheet import to_csv
from labeling.exceptions import LabelingError

EXPORT_FORMATS = ("csv", "jsonl", "parquet", "label-studio")


def _frame(rows: list[dict[str, Any]], columns: Sequence[str] | None) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows, columns=list(columns) if columns else None)
    frame["slots"] = [json.dumps(s, sort_keys=True) for s in frame["slots"]]
    return frame


def _jsonable(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def check_target(fmt: str, out: Path | None) -> None:
    """Refuse an unknown format, or Parquet to standard output (``LabelingError``)."""
    if fmt not in EXPORT_FORMATS:
        raise LabelingError(f"unknown format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    if fmt == "parquet" and out is None:
        raise LabelingError("Parquet is binary: give --out FILE")


STREAMED = ("csv", "jsonl")
"""Formats ``write_chunks`` writes a chunk at a time, as the rows arrive."""


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


def write_chunks(chunks: Iterable[list[dict[str, Any]]], *, fmt: str, out: Path | None,
                 columns: Sequence[str]) -> int:
    """Write ``chunks`` of rows as ``fmt`` (one of ``STREAMED``) to ``out`` (standard output
    where ``None``) as they arrive, so memory holds one chunk; how many rows were written."""
    if fmt not in STREAMED:
        raise LabelingError(f"{fmt} is not written a chunk at a time; use one of "
                            f"{', '.join(STREAMED)}")
    stream: IO[str] = open(out, "w", encoding="utf-8", newline="") if out else sys.stdout
    try:
        if fmt == "csv":
            return _write_csv(chunks, stream, columns)
        return _write_jsonl(chunks, stream)
    finally:
        if out is not None:
            stream.close()


def write_rows(rows: list[dict[str, Any]], *, fmt: str, out: Path | None,
               columns: Sequence[str] | None = None) -> None:
    """Write ``rows`` as ``fmt`` to ``out`` (standard output where ``None``, not for Parquet).

    ``columns`` orders the tabular formats' columns (and heads a file with no rows); default:
    the rows' own keys.
    """
    check_target(fmt, out)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        _frame(rows, columns).to_parquet(out, index=False)
        return
    if fmt == "label-studio":
        payload = json.dumps(to_tasks(rows), indent=1, default=_jsonable)
        if out is None:
            sys.stdout.write(payload + "\n")
        else:
            out.write_text(payload + "\n", encoding="utf-8")
        return
    write_chunks([rows], fmt=fmt, out=out,
                 columns=list(columns) if columns else list(rows[0]) if rows else ["slots"])
