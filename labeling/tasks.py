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


SETTINGS_RULES: dict[str, tuple[type, float, float]] = {
    "overlap_k": (int, 1, 20),
    "gold_share": (float, 0.0, 0.5),
    "lease_seconds": (int, 30, 7 * 24 * 3600),
    "batch_size": (int, 1, 1000),
    "agreement_threshold": (float, -1.0, 1.0),
    "confidence_threshold": (float, 0.0, 1.0),
}


def _checked_setting(name: str, value: Any) -> Any:
    if name == "show_suggestions":
        return bool(value)
    if name == "strategy":
        from labeling.active_learning import get_strategy

        get_strategy(str(value))  # ValueError lists the valid names
        return str(value)
    if name == "aggregation":
        from labeling.aggregation import get_aggregator

        get_aggregator(str(value))  # ValueError lists the valid names
        return str(value)
    if name not in SETTINGS_RULES:
        valid = ", ".join([*SETTINGS_RULES, "strategy", "aggregation", "show_suggestions"])
        raise TaskDefinitionError(f"unknown setting {name!r}; settings: {valid}")
    kind, low, high = SETTINGS_RULES[name]
    try:
        converted = kind(value)
    except (TypeError, ValueError):
        raise TaskDefinitionError(f"{name} must be a number") from None
    if not low <= converted <= high:
        raise TaskDefinitionError(f"{name} must be between {low:g} and {high:g}")
    return converted


def update_settings(
    *, session: Session, task_name: str, changes: dict[str, Any], actor: str
) -> Task:
    """Change queue settings of a task (all or none), audited with before and after."""
    task = get_task(session=session, name=task_name)
    checked = {name: _checked_setting(name, value) for name, value in changes.items()}
    before = {name: getattr(task, name) for name in checked}
    for name, value in checked.items():
        setattr(task, name, value)
    session.add(task)
    audit.record(session=session, actor=actor, action="task.settings", entity="task",
                 entity_id=task.id, before=before, after=checked)
    return task


def save_guideline(
    *, session: Session, task_name: str, text: str, actor: str, actor_id: int | None = None
) -> int:
    """Store ``text`` as the task's next guideline version; return the version number."""
    if not text.strip():
        raise TaskDefinitionError("a guideline cannot be empty")
    task = get_task(session=session, name=task_name)
    latest = task_repo.latest_guideline(session=session, task_id=task.id)
    if latest is not None and latest.text == text:
        return latest.version
    guideline = task_repo.add_guideline(session=session, task_id=task.id, text=text,
                                        created_by=actor_id)
    audit.record(session=session, actor=actor, action="task.guideline", entity="task",
                 entity_id=task.id, after={"version": guideline.version})
    return guideline.version


def mark_gold(
    *, session: Session, task_name: str, item_id: int, answer: str | None, actor: str
) -> None:
    """Make an item gold with ``answer`` as its known label (``None`` unmarks it)."""
    from storage.models import Item

    task = get_task(session=session, name=task_name)
    item = session.get(Item, item_id)
    if item is None or item.task_id != task.id:
        raise TaskDefinitionError(f"no item {item_id} in task {task_name!r}")
    if answer is not None and answer not in task.labels:
        raise TaskDefinitionError(f"{answer!r} is not a label of task {task_name!r}")
    before = item.gold_label
    item.gold_label = answer
    session.add(item)
    audit.record(session=session, actor=actor, action="item.gold", entity="item",
                 entity_id=item_id, before={"gold_label": before}, after={"gold_label": answer})
