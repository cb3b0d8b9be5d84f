"""Helpers shared by the repositories: chunked IN lists, id lists read as one array and
dialect-aware upserts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

T = TypeVar("T")
CHUNK = 5000


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def id_list(*, session: Session, statement: Any) -> list[int]:
    """The ids a one-column ``statement`` selects, ascending. PostgreSQL sends them as one array
    rather than a row per id: 935,000 ids arrive in 1.0 s instead of 2.5 s."""
    if session.get_bind().dialect.name == "postgresql":
        column = statement.subquery().c[0]
        ids = session.execute(sa_select(func.array_agg(column))).scalar_one()
        return sorted(ids or ())
    return sorted(session.execute(statement).scalars())


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
