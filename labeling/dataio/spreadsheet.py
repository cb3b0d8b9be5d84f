"""CSV cells a spreadsheet shows as text, never runs as a formula (OWASP "CSV injection").

A string cell that would start a formula (``=``, ``+``, ``-``, ``@``, a tab or a carriage return,
also after leading white space or quotes) is written with a ``'`` in front, which Excel,
LibreOffice and Google Sheets read as "this is text" and do not show. ``unquote_cell`` undoes
exactly that, so a CSV we export imports again to the same texts. ``to_csv`` writes a frame
so, with CRLF line ends (RFC 4180), which also makes the writer quote a cell holding a bare
carriage return instead of letting it end the row. JSONL and Parquet are not spreadsheets: they
keep text as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import IO

import pandas as pd
from pandas.api.types import is_object_dtype, is_string_dtype

QUOTE = "'"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NEEDS_QUOTE = re.compile(r"[\s']*[=+\-@\t\r]")
"""A cell a spreadsheet could read as a formula: optional white space and quotes, then a
formula character. The quotes are included so that quoting can always be undone exactly."""


def needs_quote(text: str) -> bool:
    """Whether a spreadsheet could read ``text`` as a formula (see ``FORMULA_START``)."""
    return _NEEDS_QUOTE.match(text) is not None


def safe_cell(value: object) -> object:
    """``value`` as a CSV cell: a string that could start a formula gets a leading ``'``;
    anything else (numbers, dates, ``None``) is returned unchanged."""
    if isinstance(value, str) and needs_quote(value):
        return QUOTE + value
    return value


def unquote_cell(value: object) -> object:
    """Undo ``safe_cell``: a string that is ``'`` followed by what ``safe_cell`` quotes loses
    the quote; anything else is returned unchanged. ``unquote_cell(safe_cell(s)) == s``."""
    if isinstance(value, str) and value.startswith(QUOTE) and needs_quote(value[1:]):
        return value[1:]
    return value


def _map_text(frame: pd.DataFrame, cell: Callable[[object], object]) -> pd.DataFrame:
    out = frame.copy()
    for position, dtype in enumerate(out.dtypes):
        if is_object_dtype(dtype) or is_string_dtype(dtype):
            out.isetitem(position, out.iloc[:, position].map(cell, na_action="ignore"))
    out.columns = [cell(name) for name in out.columns]
    return out


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` ready for ``to_csv``: every string cell of its text columns, and
    every string column name, through ``safe_cell``."""
    return _map_text(frame, safe_cell)


def unquote_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` read from a CSV with every string cell and column name through
    ``unquote_cell``: the inverse of ``safe_frame`` for text."""
    return _map_text(frame, unquote_cell)


def to_csv(frame: pd.DataFrame, stream: IO[str] | None = None, *, header: bool = True
           ) -> str | None:
    """``frame`` as CSV without its index, through ``safe_frame``: written to ``stream`` (a
    chunk at a time with ``header=False`` after the first), or returned as text when ``stream``
    is ``None``."""
    return safe_frame(frame).to_csv(stream, index=False, header=header, lineterminator="\r\n")
