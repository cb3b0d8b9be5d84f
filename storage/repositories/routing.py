"""Routing: versions of the slot lexicon; the preview's impressions and feedback."""

from __future__ import annotations

from sqlmodel import Session, select

from storage.models import Feedback, Impression, LexiconVersion


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
