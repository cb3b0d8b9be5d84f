"""Model versions of the registry."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import Session, func, select

from storage.models import ModelVersion


def serving(*, session: Session, task_id: int) -> ModelVersion | None:
    statement = select(ModelVersion).where(ModelVersion.task_id == task_id, ModelVersion.serving)
    return session.exec(statement).first()


def list_versions(*, session: Session, task_id: int) -> list[ModelVersion]:
    statement = select(ModelVersion).where(ModelVersion.task_id == task_id).order_by(
        ModelVersion.version
    )
    return list(session.exec(statement))


def get_version(*, session: Session, task_id: int, version: int) -> ModelVersion | None:
    statement = select(ModelVersion).where(
        ModelVersion.task_id == task_id, ModelVersion.version == version
    )
    return session.exec(statement).first()


def next_version(*, session: Session, task_id: int) -> int:
    newest = session.exec(
        select(func.max(ModelVersion.version)).where(ModelVersion.task_id == task_id)
    ).one()
    return (newest or 0) + 1


def add(*, session: Session, model: ModelVersion) -> ModelVersion:
    session.add(model)
    session.flush()
    return model


def set_serving(*, session: Session, task_id: int, model_id: int) -> None:
    """Make ``model_id`` the task's only serving version (in the caller's transaction)."""
    session.execute(
        update(ModelVersion).where(ModelVersion.task_id == task_id, ModelVersion.serving)
        .values(serving=False)
    )
    session.execute(update(ModelVersion).where(ModelVersion.id == model_id).values(serving=True))
