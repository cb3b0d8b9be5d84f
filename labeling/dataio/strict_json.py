"""JSON text read strictly: a ``\\ud800``-style escape of half a surrogate pair (not a
character: it cannot be encoded as UTF-8 nor stored) and ``NaN``/``Infinity`` (not JSON: a
database refuses them in a JSON column) are refused like any other JSON error."""

from __future__ import annotations

import json
import re
from typing import Any

_LONE_SURROGATE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def _encodable(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def loads(text: str) -> Any:
    """``json.loads(text)``, refusing a lone surrogate escape and ``NaN``/``Infinity``.

    Raises
    ------
    json.JSONDecodeError
        Not JSON, or a string holding half a surrogate pair (``msg`` says which).
    """
    def constant(name: str) -> Any:
        raise json.JSONDecodeError(f"{name} is not a JSON value", text, text.find(name))

    value = json.loads(text, parse_constant=constant)
    if not _encodable(value):
        found = _LONE_SURROGATE.search(text)
        raise json.JSONDecodeError("a lone surrogate escape, which is not a character", text,
                                   found.start() if found else 0)
    return value
