"""Exporting a task's labels with their provenance (rater, times, guideline, selection,
consensus) in the formats of ``labeling.dataio.export_formats``.

Every format is written as the rows stream from the database, a chunk at a time, so an
export's memory stays bounded whatever the task's size (Label Studio's rows come ordered by
item: a task per item).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from labeling.dataio.export_formats import BY_ITEM, check_target, write_chunks
from labeling.project import authz
from labeling.project.authz import Actor, Capability, requires
from labeling.project.tasks import get_task
from storage.db import session_scope
from storage.repositories import audit
from storage.repositories import labels as label_repo

COLUMNS = ("task", *label_repo.EXPORT_COLUMNS)


def _row_chunks(engine: Engine, task_name: str, *, by_item: bool = False
                ) -> Iterator[list[dict[str, Any]]]:
    """The task's label rows (``COLUMNS``), oldest first (``by_item``: grouped by item), a
    chunk at a time."""
    with session_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        name = task.name
        for chunk in label_repo.iter_export_rows(session=session, task_id=task.id,
                                                 by_item=by_item):
            for row in chunk:
                row["task"] = name
            yield chunk


@requires(Capability.manage_tasks)
def label_rows(*, engine: Engine, actor: Actor, task_name: str) -> list[dict[str, Any]]:
    """Every label of the task with its text and provenance (rater names included), oldest
    first."""
    return [row for chunk in _row_chunks(engine, task_name) for row in chunk]


@requires(Capability.manage_tasks)
def export_task(*, engine: Engine, actor: Actor, task_name: str, fmt: str, out: Path | None
                ) -> int:
    """Write every label of the task as ``fmt`` to ``out`` (standard output where ``None``);
    return how many labels were written. The export is audited (``task.export``) once written."""
    check_target(fmt, out)
    with session_scope(engine) as session:
        get_task(session=session, name=task_name)  # an unknown task writes no file
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
    count = write_chunks(_row_chunks(engine, task_name, by_item=fmt in BY_ITEM), fmt=fmt,
                         out=out, columns=COLUMNS)
    with session_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        audit.record(session=session, actor=authz.audit_name(actor), action="task.export",
                     entity="task", entity_id=task.id,
                     after={"format": fmt, "labels": count,
                            "to": "stdout" if out is None else out.name})
    return count
