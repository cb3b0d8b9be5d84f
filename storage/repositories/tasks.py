"""Tasks and their guideline versions."""

from __future__ import annotations

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
