"""Reading labeled or unlabeled texts from CSV, JSONL or Parquet files, strictly.

Every problem is reported as one ``ImportFileError`` naming the file, and where it applies the
row: an import is all-or-nothing, so nothing is read half-way. A CSV cell that our CSV export
quoted against spreadsheet formulas (``labeling.dataio.spreadsheet``) reads back as it was.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from labeling.dataio import strict_json
from labeling.dataio.label_studio import read_tasks
from labeling.dataio.spreadsheet import unquote_frame
from labeling.exceptions import ImportFileError

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet",
           ".json": "label-studio"}
MAX_REPORTED_ROWS = 5
_LINE_END = re.compile(r"\r\n|\r|\n")
"""What ends a JSON line (not ``str.splitlines``: U+2028 or U+0085 inside a string is text)."""


@dataclass(frozen=True)
class TextTable:
    """Texts in file order, with their labels (``None`` where a row has none)."""

    path: Path
    texts: list[str]
    labels: list[str | None]
    labeled: bool
    user_ids: list[str | None]
    """Raw end-user ids (pseudonymised before they are stored), or ``None`` per row."""


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8 and import it again"
        ) from None


def jsonl_records(text: str, *, source: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of JSON-lines ``text``.

    Raises ``ImportFileError`` (a ``ValueError``) naming ``source`` and the line.
    """
    for number, line in enumerate(_LINE_END.split(text), start=1):
        if not line.strip():
            continue
        try:
            record = strict_json.loads(line)
        except json.JSONDecodeError as exc:
            raise ImportFileError(f"{source} line {number}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise ImportFileError(f"{source} line {number}: not a JSON object")
        yield number, record


def unique_text_records(
    text: str, *, source: str | Path, check: Callable[[dict[str, Any]], None]
) -> list[dict[str, Any]]:
    """The JSON-lines records of ``text``, each passed through ``check`` (which raises
    ``ValueError`` naming the problem), whose ``text`` fields are unique ignoring case and
    repeated white space. Blank lines are skipped.

    Raises
    ------
    ValueError
        ``"<source> line <n>: <problem>"`` for the first bad line.
    """
    records: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for number, record in jsonl_records(text, source=source):
        try:
            check(record)
        except ValueError as exc:
            raise ValueError(f"{source} line {number}: {exc}") from None
        key = " ".join(record["text"].casefold().split())
        if key in seen:
            raise ValueError(
                f"{source} line {number}: duplicate of line {seen[key]}: {record['text']!r}"
            )
        seen[key] = number
        records.append(record)
    return records


def _read_jsonl(path: Path, text: str) -> pd.DataFrame:
    return pd.DataFrame.from_records([r for _, r in jsonl_records(text, source=path)])


def _read_frame(path: Path) -> pd.DataFrame:
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ImportFileError(
            f"{path}: unknown file type {path.suffix or '(none)'}; use .csv, .jsonl, .parquet "
            "or .json (Label Studio tasks)"
        )
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    data = path.read_bytes()
    if not data.strip():
        raise ImportFileError(f"{path}: the file is empty")
    if kind == "parquet":
        try:
            return pd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds
            raise ImportFileError(f"{path}: not a readable Parquet file ({exc})") from None
    text = _decode(path, data)
    if kind == "label-studio":
        texts, labels = read_tasks(path, text)
        return pd.DataFrame({"text": texts, "label": labels})
    if kind == "jsonl":
        return _read_jsonl(path, text)
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ImportFileError(f"{path}: not a readable CSV file ({exc})") from None
    return unquote_frame(frame)  # a cell our CSV export quoted reads back as it was


def _column(path: Path, frame: pd.DataFrame, name: str, option: str) -> list[object]:
    if name not in frame.columns:
        columns = ", ".join(map(str, frame.columns)) or "none"
        raise ImportFileError(f"{path}: no column {name!r} ({option}); columns: {columns}")
    return frame[name].to_numpy(dtype=object).tolist()


def _rows_text(values: list[object]) -> list[str | None]:
    out: list[str | None] = []
    for value in values:
        if value is None or (isinstance(value, float) and pd.isna(value)):
            out.append(None)
        else:
            out.append(str(value).strip() or None)
    return out


def _describe(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:MAX_REPORTED_ROWS])
    more = f" and {len(rows) - MAX_REPORTED_ROWS} more" if len(rows) > MAX_REPORTED_ROWS else ""
    return f"{shown}{more}"


def _check_texts(path: Path, texts: list[str | None], *, max_chars: int) -> None:
    empty = [i + 1 for i, t in enumerate(texts) if t is None]
    if empty:
        raise ImportFileError(f"{path}: empty text in row(s) {_describe(empty)}")
    too_long = [i + 1 for i, t in enumerate(texts) if t is not None and len(t) > max_chars]
    if too_long:
        raise ImportFileError(
            f"{path}: text longer than {max_chars:,} characters in row(s) {_describe(too_long)} "
            "(limit: WORKBENCH_MAX_TEXT_CHARS)"
        )


def storable(value: str | None) -> bool:
    """Whether a database text column can hold ``value``: no NUL character (PostgreSQL stores
    none) and no half a surrogate pair (not a character)."""
    if value is None:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in value


def _check_storable(path: Path, columns: list[list[str | None]]) -> None:
    """Refuse a NUL character (PostgreSQL cannot store one in text) or half a surrogate pair
    (not a character) in any cell that is kept."""
    bad = sorted({i + 1 for column in columns for i, v in enumerate(column) if not storable(v)})
    if bad:
        raise ImportFileError(
            f"{path}: a NUL character or invalid Unicode in row(s) {_describe(bad)}; "
            "remove it and import the file again"
        )


def read_texts(
    path: Path | str,
    *,
    text_col: str = "text",
    label_col: str | None = None,
    user_col: str | None = None,
    max_chars: int = 10_000,
) -> TextTable:
    """Read the texts (and labels) of a CSV, JSONL or Parquet file.

    ``label_col=None`` takes the column ``label`` where the file has one. Rows are numbered from 1
    (the first data row) in messages.
    """
    path = Path(path)
    frame = _read_frame(path)
    if frame.empty:
        raise ImportFileError(f"{path}: the file has no rows")
    texts = _rows_text(_column(path, frame, text_col, "--text-col"))
    if label_col is None and "label" in frame.columns:
        label_col = "label"
    labels = (
        _rows_text(_column(path, frame, label_col, "--label-col"))
        if label_col is not None else [None] * len(texts)
    )
    user_ids = (
        _rows_text(_column(path, frame, user_col, "--user-col"))
        if user_col is not None else [None] * len(texts)
    )
    _check_texts(path, texts, max_chars=max_chars)
    _check_storable(path, [texts, labels, user_ids])
    return TextTable(
        path=path, texts=[t for t in texts if t is not None], labels=labels,
        labeled=label_col is not None, user_ids=user_ids,
    )


def read_labeled_file(
    path: Path | str, *, text_col: str = "text", label_col: str = "label"
) -> tuple[list[str], list[str]]:
    """Texts and labels of a JSONL or CSV file in which every row has a label.

    Raises
    ------
    ImportFileError
        A missing or unreadable file, an unknown column, an empty text or a missing label.
    """
    path = Path(path)
    if path.suffix.lower() not in {".jsonl", ".ndjson", ".csv"}:
        raise ImportFileError(f"{path}: use a .jsonl or .csv file")
    table = read_texts(path, text_col=text_col, label_col=label_col)
    missing = [i + 1 for i, label in enumerate(table.labels) if label is None]
    if missing:
        raise ImportFileError(f"{path}: no label in row(s) {_describe(missing)}")
    return table.texts, [str(label) for label in table.labels]
