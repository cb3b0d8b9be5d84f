"""Records of file imports."""

from __future__ import annotations

from sqlmodel import Session

from storage.models import ImportRecord


def add(*, session: Session, record: ImportRecord) -> ImportRecord:
    session.add(record)
    session.flush()
    return record
