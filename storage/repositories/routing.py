"""Routing: versions of the slot lexicon."""

from __future__ import annotations

from sqlmodel import Session, select

from storage.models import LexiconVersion


def latest_lexicon(*, session: Session) -> LexiconVersion | None:
    statement = select(LexiconVersion).order_by(LexiconVersion.version.desc())  # type: ignore[union-attr]
    return session.exec(statement).first()


def add_lexicon(*, session: Session, row: LexiconVersion) -> LexiconVersion:
    session.add(row)
    session.flush()
    return row
