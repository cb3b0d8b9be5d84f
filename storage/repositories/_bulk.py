"""Helpers shared by the repositories: chunked IN lists and dialect-aware upserts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

T = TypeVar("T")
CHUNK = 5000


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def insert_ignoring_conflicts(
    *, session: Session, table: Any, rows: Iterable[dict[str, Any]], conflict_columns: list[str]
) -> None:
    """INSERT rows, skipping any that collide on ``conflict_columns`` (SQLite or PostgreSQL)."""
    rows = list(rows)
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(table).on_conflict_do_nothing(index_elements=conflict_columns)
    for part in chunks(rows):
        session.execute(statement, list(part))
