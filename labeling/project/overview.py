"""The project at a glance: per-task counts and labels per day, for the home page and
``workbench task list``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from labeling.project.authz import Actor, Capability, requires
from storage.db import session_scope
from storage.models import utcnow
from storage.repositories import summary


@requires(Capability.read_tasks)
def task_summaries(*, engine: Engine, actor: Actor) -> list[dict[str, Any]]:
    """One row per task: kind, label-set size, items, labeled items, labels, raters, gold items,
    model versions and the serving version (``None`` before the first model)."""
    with session_scope(engine) as session:
        return summary.per_task(session=session)


@requires(Capability.read_tasks)
def labels_per_day(*, engine: Engine, actor: Actor, days: int = 30,
                   now: datetime | None = None) -> list[dict[str, Any]]:
    """(task, day, source, labels) rows for the labels submitted in the last ``days`` days."""
    since = (now or utcnow()) - timedelta(days=days)
    with session_scope(engine) as session:
        return summary.labels_per_day(session=session, since=since)
