"""The track catalogue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, func, select

from storage.models import Track
from storage.repositories._bulk import insert_ignoring_conflicts


def add_many(*, session: Session, rows: Sequence[dict[str, Any]]) -> None:
    insert_ignoring_conflicts(
        session=session, table=Track, rows=rows, conflict_columns=["track_id"]
    )


def count(*, session: Session) -> int:
    return session.exec(select(func.count()).select_from(Track)).one()
