"""Reading long-format ratings (one row per judgement) from CSV, JSONL or Parquet, strictly.

The result is the ``item``, ``rater``, ``label`` table that ``labeling.metrics.agreement``
and ``labeling.metrics.aggregation`` measure. File problems are ``ImportFileError``s naming the
file and, where it applies, the rows (numbered from 1, the first data row), as in
``labeling.dataio.tabular``.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from labeling.dataio.tabular import _column, _describe, _read_frame, _rows_text
from labeling.exceptions import ImportFileError

ONEHOT_SUFFIX = ".*"
"""A ``label_col`` ending in this names a one-hot column prefix: ``is_abuse.*``."""
EMPTY_LABELS_ATTR = "empty_labels_dropped"
"""Key in the returned frame's ``attrs``: rows dropped because their label was empty."""


def item_id(values: tuple[str | None, ...]) -> str:
    """A stable string id for an item identified by several columns' values.

    The SHA-1 of the values as a compact JSON list, first 16 hex digits: the same values give
    the same id in any file and any run.
    """
    text = json.dumps(list(values), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _items(path: Path, frame: pd.DataFrame, item_col: str) -> list[str]:
    names = [name.strip() for name in item_col.split(",") if name.strip()]
    if not names:
        raise ImportFileError(f"{path}: no item column given (--item-col)")
    columns = [_rows_text(_column(path, frame, name, "--item-col")) for name in names]
    if len(columns) == 1:
        ids = columns[0]
    else:
        ids = [None if all(v is None for v in row) else item_id(row)
               for row in zip(*columns, strict=True)]
    empty = [i + 1 for i, value in enumerate(ids) if value is None]
    if empty:
        raise ImportFileError(f"{path}: no item id in row(s) {_describe(empty)}")
    return ids  # type: ignore[return-value]


def _cell_flag(value: object) -> float | None:
    """1.0 / 0.0 for a one-hot cell, ``None`` when blank, NaN when it is not 0 or 1."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip().lower()
    if not text:
        return None
    if text in {"true", "false"}:
        return 1.0 if text == "true" else 0.0
    try:
        number = float(text)
    except ValueError:
        return math.nan
    return number if number in (0.0, 1.0) else math.nan


def _onehot_labels(path: Path, frame: pd.DataFrame, prefix: str) -> list[str | None]:
    names = [str(c) for c in frame.columns
             if str(c).startswith(prefix) and len(str(c)) > len(prefix)]
    if not names:
        columns = ", ".join(map(str, frame.columns)) or "none"
        raise ImportFileError(
            f"{path}: no column starts with {prefix!r} (one-hot --label-col); columns: {columns}"
        )
    cells = [[_cell_flag(v) for v in frame[name].to_numpy(dtype=object)] for name in names]
    raw = np.array([[c is None for c in column] for column in cells]).T
    flags = np.array([[math.nan if c is None else c for c in column] for column in cells],
                     dtype=float).T
    bad_value = np.isnan(flags) & ~raw
    if bad_value.any():
        rows = (np.flatnonzero(bad_value.any(axis=1)) + 1).tolist()
        raise ImportFileError(
            f"{path}: one-hot columns {prefix}* hold values other than 0/1 in row(s) "
            f"{_describe(rows)}"
        )
    blank = raw.all(axis=1)
    ones = np.nansum(flags, axis=1)
    wrong = (~blank) & (ones != 1)
    if wrong.any():
        rows = (np.flatnonzero(wrong) + 1).tolist()
        raise ImportFileError(
            f"{path}: row(s) {_describe(rows)} do not have exactly one 1 across "
            f"{', '.join(names)}"
        )
    suffixes = [name[len(prefix):] for name in names]
    winner = np.nan_to_num(flags, nan=0.0).argmax(axis=1)
    return [None if blank[i] else suffixes[winner[i]] for i in range(len(frame))]


def read_ratings(
    path: Path | str,
    *,
    item_col: str,
    rater_col: str,
    label_col: str | None = None,
    label_from_onehot: str | None = None,
) -> pd.DataFrame:
    """Read a long-format ratings file into columns ``item``, ``rater``, ``label`` (strings).

    Parameters
    ----------
    path
        A ``.csv``, ``.jsonl``/``.ndjson`` or ``.parquet`` file, UTF-8 for the text formats.
    item_col
        The item column, or several separated by commas (``conv_id,prev_agent,user``): the item
        is then the tuple of their values, turned into one stable id by ``item_id``.
    rater_col
        The rater column.
    label_col
        The label column (default ``label``). Ending in ``.*`` (``is_abuse.*``) it means
        ``label_from_onehot`` with the prefix before the ``*``.
    label_from_onehot
        A column-name prefix (``is_abuse.``): the label is the suffix of the one column starting
        with it that holds 1. A row whose one-hot cells are all blank has an empty label.

    Returns
    -------
    pandas.DataFrame
        One row per judgement, in file order. Rows with an empty label are dropped; how many is
        in ``frame.attrs["empty_labels_dropped"]``.

    Raises
    ------
    ImportFileError
        Unknown file type, missing or empty file, not UTF-8, unreadable content, an unknown
        column (the message lists the file's columns), a row without item or rater id, or
        one-hot cells that are not 0/1 or not exactly one 1 in a row.
    """
    path = Path(path)
    if label_col is not None and label_col.endswith(ONEHOT_SUFFIX):
        if label_from_onehot is not None:
            raise ImportFileError("give either a one-hot label_col (prefix.*) or "
                                  "label_from_onehot, not both")
        label_col, label_from_onehot = None, label_col[: -len("*")]
    if label_col is not None and label_from_onehot is not None:
        raise ImportFileError("give either label_col or label_from_onehot, not both")
    frame = _read_frame(path)
    if frame.empty:
        raise ImportFileError(f"{path}: the file has no rows")
    items = _items(path, frame, item_col)
    raters = _rows_text(_column(path, frame, rater_col, "--rater-col"))
    no_rater = [i + 1 for i, value in enumerate(raters) if value is None]
    if no_rater:
        raise ImportFileError(f"{path}: no rater id in row(s) {_describe(no_rater)}")
    if label_from_onehot is not None:
        labels = _onehot_labels(path, frame, label_from_onehot)
    else:
        labels = _rows_text(_column(path, frame, label_col or "label", "--label-col"))
    keep = [i for i, label in enumerate(labels) if label is not None]
    ratings = pd.DataFrame({
        "item": [items[i] for i in keep],
        "rater": [raters[i] for i in keep],
        "label": [labels[i] for i in keep],
    })
    ratings.attrs[EMPTY_LABELS_ATTR] = len(labels) - len(keep)
    return ratings
