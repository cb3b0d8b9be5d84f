"""The stored track catalogue: storing the generated demo catalogue once."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from routing.catalogue import generate_demo_catalogue
from storage.db import write_scope
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

