"""Tasks: a kind, a label set (a team brings its own), guidelines and queue settings."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sqlmodel import Session

from labeling.exceptions import TaskDefinitionError, UnknownTaskError
from storage.models import Task, TaskKind
from storage.repositories import audit
from storage.repositories import tasks as task_repo

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_\-]{0,63}$")
LABEL_PATTERN = re.compile(r"^[^\s,][^,]{0,63}$")


def parse_labels(spec: str) -> list[str]:
    """Labels from ``a,b,c`` or from a file: one label per line, or a JSON list.

    Raises ``TaskDefinitionError`` for an empty set, duplicates or malformed labels.
    """
    path = Path(spec)
    if path.is_file():
        try:
            raw = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise TaskDefinitionError(f"{spec}: not UTF-8 text ({exc.reason})") from exc
        labels = json.loads(raw) if raw.lstrip().startswith("[") else raw.splitlines()
    elif path.suffix in {".txt", ".json"} or "/" in spec:
        raise TaskDefinitionError(f"label file not found: {spec}")
    else:
        labels = spec.split(",")
    return validate_labels([str(label).strip() for label in labels if str(label).strip()])


def validate_labels(labels: list[str]) -> list[str]:
    if not labels:
        raise TaskDefinitionError("a task needs at least one label")
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise TaskDefinitionError(f"duplicate labels: {', '.join(duplicates)}")
    bad = [label for label in labels if not LABEL_PATTERN.match(label)]
    if bad:
        raise TaskDefinitionError(
            f"labels must be 1-64 characters without commas or leading space: {bad[:5]}"
        )
    return labels


def create_task(
    *,
    session: Session,
    name: str,
    kind: str,
    labels: list[str],
    guideline: str | None = None,
    oos_label: str | None = None,
    ordered: bool = False,
    slot_schema: dict[str, Any] | None = None,
    actor: str = "system",
) -> Task:
    """Create a task with its first guideline version."""
    if not NAME_PATTERN.match(name):
        raise TaskDefinitionError(
            f"task name {name!r} must start with a letter and use a-z, 0-9, '_' or '-'"
        )
    try:
        task_kind = TaskKind(kind)
    except ValueError:
        valid = ", ".join(k.value for k in TaskKind)
        raise TaskDefinitionError(f"unknown kind {kind!r}; valid kinds: {valid}") from None
    labels = validate_labels(list(labels))
    if oos_label is not None and oos_label not in labels:
        raise TaskDefinitionError(f"out-of-scope label {oos_label!r} is not in the label set")
    if task_repo.get_by_name(session=session, name=name) is not None:
        raise TaskDefinitionError(f"a task named {name!r} exists already")
    task = task_repo.add(session=session, task=Task(
        name=name, kind=task_kind, labels=labels, oos_label=oos_label, ordered=ordered,
        slot_schema=slot_schema or {},
    ))
    task_repo.add_guideline(
        session=session, task_id=task.id, text=guideline or f"# {name}\n\nLabels: {labels}"
    )
    audit.record(session=session, actor=actor, action="task.create", entity="task",
                 entity_id=task.id, after={"name": name, "kind": kind, "labels": labels})
    return task


def get_task(*, session: Session, name: str) -> Task:
    task = task_repo.get_by_name(session=session, name=name)
    if task is None:
        known = ", ".join(t.name for t in task_repo.list_tasks(session=session)) or "none yet"
        raise UnknownTaskError(f"unknown task {name!r}; tasks: {known}")
    return task


def add_labels(*, session: Session, task: Task, new_labels: list[str], actor: str) -> None:
    """Extend the task's label set (audited)."""
    before = list(task.labels)
    task.labels = validate_labels(before + [lab for lab in new_labels if lab not in before])
    session.add(task)
    audit.record(session=session, actor=actor, action="task.add_labels", entity="task",
                 entity_id=task.id, before={"labels": before}, after={"labels": task.labels})
