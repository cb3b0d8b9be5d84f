"""The stored track catalogue the ranker draws from."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from routing.catalogue import generate_demo_catalogue
from storage.db import session_scope, write_scope
from storage.repositories import tracks as track_repo


def add_demo_catalogue(*, engine: Engine) -> int:
    """Store the generated demo catalogue if no track is stored yet; return how many tracks
    were added (0 when the catalogue was there already)."""
    rows = generate_demo_catalogue()
    with write_scope(engine) as session:
        if track_repo.count(session=session):
            return 0
        track_repo.add_many(session=session, rows=rows)
    return len(rows)


def track_count(*, engine: Engine) -> int:
    with session_scope(engine) as session:
        return track_repo.count(session=session)
