"""Tasks and their guideline versions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, update
from sqlmodel import Session, func, select

from storage.models import GuidelineVersion, Task


def get_by_name(*, session: Session, name: str) -> Task | None:
    return session.exec(select(Task).where(Task.name == name)).first()


def list_tasks(*, session: Session) -> list[Task]:
    return list(session.exec(select(Task).order_by(Task.id)))


def add(*, session: Session, task: Task) -> Task:
    session.add(task)
    session.flush()
    return task


def latest_guideline(*, session: Session, task_id: int) -> GuidelineVersion | None:
    statement = (
        select(GuidelineVersion)
        .where(GuidelineVersion.task_id == task_id)
        .order_by(GuidelineVersion.version.desc())  # type: ignore[attr-defined]
    )
    return session.exec(statement).first()


def add_guideline(
    *, session: Session, task_id: int, text: str, created_by: int | None = None
) -> GuidelineVersion:
    """Store ``text`` as the task's next guideline version."""
    newest = session.exec(
        select(func.max(GuidelineVersion.version)).where(GuidelineVersion.task_id == task_id)
    ).one()
    guideline = GuidelineVersion(
        task_id=task_id, version=(newest or 0) + 1, text=text, created_by=created_by
    )
    session.add(guideline)
    session.flush()
    return guideline


def guidelines(*, session: Session, task_id: int) -> list[GuidelineVersion]:
    """Every guideline version of the task, newest first."""
    statement = (
        select(GuidelineVersion)
        .where(GuidelineVersion.task_id == task_id)
        .order_by(GuidelineVersion.version.desc())  # type: ignore[attr-defined]
    )
    return list(session.exec(statement))


def lock(*, session: Session, task_id: int) -> None:
    """Hold the task's row lock until the caller's transaction ends, so decisions about the
    task's shared state (its next model version, which version serves, its consensus, a new
    batch) are taken one at a time.

    On PostgreSQL ``SELECT ... FOR NO KEY UPDATE``: lockers wait for each other, but raters'
    inserts (whose foreign keys take ``KEY SHARE`` on the task row) never wait for it, which
    plain ``FOR UPDATE`` made them do, and which deadlocked with the batch being stored. On
    SQLite the caller's ``BEGIN IMMEDIATE`` already holds the database's write lock."""
    if session.get_bind().dialect.name == "postgresql":
        session.exec(select(Task.id).where(Task.id == task_id)
                     .with_for_update(key_share=True)).one()  # FOR NO KEY UPDATE


def claim_selection(*, session: Session, task_id: int, now: datetime, until: datetime) -> bool:
    """Claim the task's batch selection until ``until`` unless another claim is still live;
    whether it was claimed (one conditional update: two claimants never both win)."""
    result = session.execute(
        update(Task).where(Task.id == task_id,
                           or_(Task.selecting_until.is_(None), Task.selecting_until < now))  # type: ignore[union-attr]
        .values(selecting_until=until)
    )
    return (result.rowcount or 0) == 1


def release_selection(*, session: Session, task_id: int) -> None:
    session.execute(update(Task).where(Task.id == task_id).values(selecting_until=None))

