"""Counts for the project overview: items, labels and models per task."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import distinct
from sqlmodel import Session, func, select

from storage.models import Item, Label, ModelVersion, Task


def per_task(*, session: Session) -> list[dict[str, Any]]:
    """One row per task: items, labeled items, labels, raters, gold items, model versions."""
    items = dict(session.exec(select(Item.task_id, func.count()).group_by(Item.task_id)).all())
    gold = dict(session.exec(
        select(Item.task_id, func.count()).where(Item.gold_label.is_not(None))  # type: ignore[union-attr]
        .group_by(Item.task_id)
    ).all())
    labels = dict(session.exec(select(Label.task_id, func.count()).group_by(Label.task_id)).all())
    labeled = dict(session.exec(
        select(Label.task_id, func.count(distinct(Label.item_id))).group_by(Label.task_id)
    ).all())
    raters = dict(session.exec(
        select(Label.task_id, func.count(distinct(Label.rater_id))).group_by(Label.task_id)
    ).all())
    models = dict(session.exec(
        select(ModelVersion.task_id, func.count()).group_by(ModelVersion.task_id)
    ).all())
    serving = dict(session.exec(
        select(ModelVersion.task_id, ModelVersion.version).where(ModelVersion.serving)
    ).all())
    rows = []
    for task in session.exec(select(Task).order_by(Task.id)):
        rows.append({
            "task": task.name, "kind": str(task.kind), "labels_in_set": len(task.labels),
            "items": items.get(task.id, 0), "labeled_items": labeled.get(task.id, 0),
            "labels": labels.get(task.id, 0), "raters": raters.get(task.id, 0),
            "gold_items": gold.get(task.id, 0), "model_versions": models.get(task.id, 0),
            "serving_version": serving.get(task.id),
        })
    return rows


def labels_per_day(*, session: Session, since: datetime | None = None) -> list[dict[str, Any]]:
    """(task, day, source, count) for the labels submitted since ``since``."""
    statement = select(Task.name, Label.submitted_at, Label.source).join(
        Task, Task.id == Label.task_id
    )
    if since is not None:
        statement = statement.where(Label.submitted_at >= since)
    counts: dict[tuple[str, str, str], int] = {}
    for name, submitted, source in session.exec(statement):
        key = (name, submitted.date().isoformat(), str(source))
        counts[key] = counts.get(key, 0) + 1
    return [
        {"task": t, "day": d, "source": s, "labels": n} for (t, d, s), n in sorted(counts.items())
    ]
