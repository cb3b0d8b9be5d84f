"""Routing: versions of the slot lexicon; the preview's impressions and feedback; the ranker
configurations promoted for the preview."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from storage.models import Feedback, Impression, LexiconVersion, RankerPromotion


def latest_lexicon(*, session: Session) -> LexiconVersion | None:
    statement = select(LexiconVersion).order_by(LexiconVersion.version.desc())  # type: ignore[union-attr]
    return session.exec(statement).first()


def add_lexicon(*, session: Session, row: LexiconVersion) -> LexiconVersion:
    session.add(row)
    session.flush()
    return row


def add_impression(*, session: Session, row: Impression) -> Impression:
    session.add(row)
    session.flush()
    return row


def get_impression(*, session: Session, impression_id: int) -> Impression | None:
    return session.get(Impression, impression_id)


def add_feedback(*, session: Session, row: Feedback) -> Feedback:
    session.add(row)
    session.flush()
    return row


def impressions(*, session: Session, session_id: str | None = None, limit: int = 1000
                ) -> list[Impression]:
    statement = select(Impression).order_by(Impression.id.desc()).limit(limit)  # type: ignore[union-attr]
    if session_id is not None:
        statement = statement.where(Impression.session_id == session_id)
    return list(session.exec(statement))


def feedback_for(*, session: Session, impression_ids: list[int]) -> list[Feedback]:
    if not impression_ids:
        return []
    statement = select(Feedback).where(Feedback.impression_id.in_(impression_ids))  # type: ignore[attr-defined]
    return list(session.exec(statement.order_by(Feedback.id)))  # type: ignore[arg-type]


def _in_window(statement, since: datetime | None, until: datetime | None):
    if since is not None:
        statement = statement.where(Impression.created_at >= since)
    if until is not None:
        statement = statement.where(Impression.created_at < until)
    return statement


def count_impressions(*, session: Session, since: datetime | None = None,
                      until: datetime | None = None) -> int:
    """Impressions logged at or after ``since`` and before ``until``."""
    statement = _in_window(select(func.count()).select_from(Impression), since, until)
    return int(session.exec(statement).one())


def impressions_in_window(*, session: Session, since: datetime | None = None,
                          until: datetime | None = None, limit: int | None = None
                          ) -> list[Impression]:
    """Impressions logged at or after ``since`` and before ``until``, oldest first (the newest
    ``limit`` of them)."""
    statement = _in_window(select(Impression), since, until)
    statement = statement.order_by(Impression.id.desc())  # type: ignore[union-attr]
    if limit is not None:
        statement = statement.limit(limit)
    return list(reversed(session.exec(statement).all()))


def feedback_in_window(*, session: Session, since: datetime | None = None,
                       until: datetime | None = None, first_id: int | None = None
                       ) -> list[Feedback]:
    """The feedback on impressions in the window (those from ``first_id`` on), oldest first."""
    statement = _in_window(select(Feedback).join(Impression), since, until)
    if first_id is not None:
        statement = statement.where(Feedback.impression_id >= first_id)
    return list(session.exec(statement.order_by(Feedback.id)))  # type: ignore[arg-type]


def add_promotion(*, session: Session, row: RankerPromotion) -> RankerPromotion:
    session.add(row)
    session.flush()
    return row


def promotions(*, session: Session, limit: int = 20) -> list[RankerPromotion]:
    """The newest promotions first."""
    statement = select(RankerPromotion).order_by(RankerPromotion.id.desc()).limit(limit)  # type: ignore[union-attr]
    return list(session.exec(statement))
