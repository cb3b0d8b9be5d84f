"""Exporting a task's labels with their provenance (rater, times, guideline, selection,
consensus) in the formats of ``labeling.dataio.export_formats``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from labeling.dataio.export_formats import check_target, write_rows
from labeling.project import authz
from labeling.project.authz import Actor, Capability, requires
from labeling.project.tasks import get_task
from storage.db import session_scope
from storage.repositories import audit
from storage.repositories import labels as label_repo

COLUMNS = ("task", *label_repo.EXPORT_COLUMNS)


@requires(Capability.manage_tasks)
def label_rows(*, engine: Engine, actor: Actor, task_name: str) -> list[dict[str, Any]]:
    """Every label of the task with its text and provenance (rater names included), oldest
    first."""
    with session_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        rows = label_repo.export_rows(session=session, task_id=task.id)
    for row in rows:
        row["task"] = task.name
    return rows


@requires(Capability.manage_tasks)
def export_task(*, engine: Engine, actor: Actor, task_name: str, fmt: str, out: Path | None
                ) -> int:
    """Write every label of the task as ``fmt`` to ``out`` (standard output where ``None``);
    return how many labels were written. The export is audited (``task.export``) once written."""
    check_target(fmt, out)
    rows = label_rows(engine=engine, actor=actor, task_name=task_name)
    write_rows(rows, fmt=fmt, out=out, columns=COLUMNS)
    with session_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        audit.record(session=session, actor=authz.audit_name(actor), action="task.export",
                     entity="task", entity_id=task.id,
                     after={"format": fmt, "labels": len(rows),
                            "to": "stdout" if out is None else out.name})
    return len(rows)
