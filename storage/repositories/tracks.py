"""The track catalogue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert
from sqlmodel import Session, func, select

from storage.models import CatalogueVersion, Track
from storage.repositories._bulk import chunks, insert_ignoring_conflicts


def add_many(*, session: Session, rows: Sequence[dict[str, Any]]) -> None:
    insert_ignoring_conflicts(
        session=session, table=Track, rows=rows, conflict_columns=["track_id"]
    )


def count(*, session: Session) -> int:
    return session.exec(select(func.count()).select_from(Track)).one()


def replace_all(*, session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Delete every track and insert ``rows`` (the caller's unit of work makes it atomic)."""
    session.execute(delete(Track))
    for part in chunks(list(rows)):
        session.execute(insert(Track), list(part))


def all_rows(*, session: Session) -> list[dict[str, Any]]:
    """Every track as a dict of its columns, by row id."""
    columns = [c for c in Track.__table__.columns if c.name != "id"]
    statement = select(*columns).order_by(Track.id)
    return [dict(zip([c.name for c in columns], row, strict=True))
            for row in session.exec(statement)]


def latest_version(*, session: Session) -> CatalogueVersion | None:
    statement = select(CatalogueVersion).order_by(CatalogueVersion.version.desc())  # type: ignore[union-attr]
    return session.exec(statement).first()


def add_version(*, session: Session, row: CatalogueVersion) -> CatalogueVersion:
    session.add(row)
    session.flush()
    return row


def artists(*, session: Session) -> list[str]:
    return list(session.exec(select(Track.artist).distinct().order_by(Track.artist)))
