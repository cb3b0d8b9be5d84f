"""Tasks: a kind, a label set (a team brings its own), guidelines and queue settings.

Services take the engine and run their own unit of work; they return ``TaskInfo``, plain data.
``add_task`` and ``get_task`` work inside a caller's unit of work (``session=``) for services
that compose several steps.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from labeling.dataio import strict_json
from labeling.exceptions import TaskDefinitionError, UnknownTaskError
from labeling.metrics.aggregation import get_aggregator
from labeling.ml.strategies import get_strategy
from labeling.project import authz
from labeling.project.authz import Actor, Capability, requires
from storage.db import session_scope, write_scope
from storage.models import Task, TaskKind
from storage.repositories import audit
from storage.repositories import tasks as task_repo

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_\-]{0,63}$")
LABEL_PATTERN = re.compile(r"[^\s,\x00-\x1f\x7f][^,\x00-\x1f\x7f]{0,63}")
"""A label (``fullmatch``): 1-64 characters, no comma, no control character, no leading space."""


@dataclass(frozen=True)
class TaskInfo:
    """A task as the pages and the CLI see it: its definition, queue settings and the current
    guideline."""

    id: int
    name: str
    kind: str
    labels: list[str]
    ordered: bool
    slot_schema: dict[str, Any]
    oos_label: str | None
    overlap_k: int
    gold_share: float
    lease_seconds: int
    strategy: str
    batch_size: int
    show_suggestions: bool
    agreement_threshold: float
    confidence_threshold: float
    aggregation: str
    text_features: bool
    safe_label: str | None
    guideline: str | None
    guideline_version: int | None
    collect_preview_prompts: bool = True
    gold_accuracy_threshold: float = 0.8
    min_gold_answers: int = 5
    self_training: bool = False


@dataclass(frozen=True)
class GuidelineInfo:
    version: int
    text: str
    created_at: datetime


def _info(session: Session, task: Task) -> TaskInfo:
    guideline = task_repo.latest_guideline(session=session, task_id=task.id)
    return TaskInfo(
        id=task.id, name=task.name, kind=str(task.kind), labels=list(task.labels),
        ordered=task.ordered, slot_schema=dict(task.slot_schema or {}), oos_label=task.oos_label,
        overlap_k=task.overlap_k, gold_share=task.gold_share, lease_seconds=task.lease_seconds,
        strategy=task.strategy, batch_size=task.batch_size,
        show_suggestions=task.show_suggestions, agreement_threshold=task.agreement_threshold,
        confidence_threshold=task.confidence_threshold, aggregation=task.aggregation,
        text_features=task.text_features, safe_label=task.safe_label,
        guideline=guideline.text if guideline else None,
        guideline_version=guideline.version if guideline else None,
        collect_preview_prompts=task.collect_preview_prompts,
        gold_accuracy_threshold=task.gold_accuracy_threshold,
        min_gold_answers=task.min_gold_answers, self_training=task.self_training,
    )


def parse_labels(spec: str) -> list[str]:
    """Labels from ``a,b,c`` or from a file: one label per line, or a JSON list.

    Raises ``TaskDefinitionError`` for an empty set, duplicates or malformed labels.
    """
    path = Path(spec)
    if "," not in spec and _is_file(path):  # a value with commas is a list
        try:
            raw = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise TaskDefinitionError(f"{spec}: not UTF-8 text ({exc.reason})") from exc
        labels = _json_labels(spec, raw) if raw.lstrip().startswith("[") else raw.splitlines()
    elif "," not in spec and (path.suffix in {".txt", ".json"} or "/" in spec):
        raise TaskDefinitionError(f"label file not found: {spec}")
    else:
        labels = spec.split(",")
    return validate_labels([str(label).strip() for label in labels if str(label).strip()])


def _json_labels(spec: str, raw: str) -> list[object]:
    try:
        return strict_json.loads(raw)
    except json.JSONDecodeError as exc:
        raise TaskDefinitionError(f"{spec}: not a JSON list of labels ({exc})") from None


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name no file can have (too long, say) is not a file
        return False


def validate_labels(labels: list[str]) -> list[str]:
    if not labels:
        raise TaskDefinitionError("a task needs at least one label")
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise TaskDefinitionError(f"duplicate labels: {', '.join(duplicates)}")
    bad = [label for label in labels if not LABEL_PATTERN.fullmatch(label)]
    if bad:
        raise TaskDefinitionError(
            "labels must be 1-64 characters without commas, control characters or leading "
            f"space: {bad[:5]}"
        )
    return labels


def add_task(
    *,
    session: Session,
    name: str,
    kind: str,
    labels: list[str],
    guideline: str | None = None,
    oos_label: str | None = None,
    ordered: bool = False,
    slot_schema: dict[str, Any] | None = None,
    safe_label: str | None = None,
    text_features: bool | None = None,
    actor: Actor,
) -> Task:
    """Create a task with its first guideline version, in the caller's unit of work.

    A safety task needs a safe label (default ``safe`` where the set has it) and reads the
    text's n-grams as well as its embedding unless ``text_features`` is False.
    """
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
    safe_label = _safe_label(task_kind, labels, safe_label)
    task = task_repo.add(session=session, task=Task(
        name=name, kind=task_kind, labels=labels, oos_label=oos_label, ordered=ordered,
        slot_schema=slot_schema or {}, safe_label=safe_label,
        text_features=task_kind == TaskKind.safety if text_features is None else text_features,
    ))
    task_repo.add_guideline(
        session=session, task_id=task.id, text=guideline or f"# {name}\n\nLabels: {labels}"
    )
    audit.record(session=session, actor=authz.audit_name(actor), action="task.create",
                 entity="task", entity_id=task.id,
                 after={"name": name, "kind": kind, "labels": labels})
    return task


def _safe_label(kind: TaskKind, labels: list[str], safe_label: str | None) -> str | None:
    if kind != TaskKind.safety:
        if safe_label is not None:
            raise TaskDefinitionError("only a safety task has a safe label")
        return None
    safe_label = safe_label or ("safe" if "safe" in labels else None)
    if safe_label is None:
        raise TaskDefinitionError("a safety task needs the label that means safe: add 'safe' "
                                  "to the labels or name it with --safe-label")
    if safe_label not in labels:
        raise TaskDefinitionError(f"safe label {safe_label!r} is not in the label set")
    return safe_label


@requires(Capability.manage_tasks)
def create_task(
    *,
    engine: Engine,
    name: str,
    kind: str,
    labels: list[str],
    guideline: str | None = None,
    oos_label: str | None = None,
    ordered: bool = False,
    slot_schema: dict[str, Any] | None = None,
    safe_label: str | None = None,
    text_features: bool | None = None,
    actor: Actor,
) -> TaskInfo:
    """Create a task with its first guideline version.

    Raises ``TaskDefinitionError`` for a bad name, kind, label set or out-of-scope label, or a
    name already taken; nothing is written then.
    """
    with write_scope(engine) as session:
        task = add_task(session=session, name=name, kind=kind, labels=labels,
                        guideline=guideline, oos_label=oos_label, ordered=ordered,
                        slot_schema=slot_schema, safe_label=safe_label,
                        text_features=text_features, actor=actor)
        return _info(session, task)


def get_task(*, session: Session, name: str) -> Task:
    task = task_repo.get_by_name(session=session, name=name)
    if task is None:
        known = ", ".join(t.name for t in task_repo.list_tasks(session=session)) or "none yet"
        raise UnknownTaskError(f"unknown task {name!r}; tasks: {known}")
    return task


@requires(Capability.read_tasks)
def task_info(*, engine: Engine, actor: Actor, name: str) -> TaskInfo:
    """The task called ``name``; ``UnknownTaskError`` lists the tasks otherwise."""
    with session_scope(engine) as session:
        return _info(session, get_task(session=session, name=name))


@requires(Capability.read_tasks)
def list_tasks(*, engine: Engine, actor: Actor, kinds: tuple[str, ...] | None = None
               ) -> list[TaskInfo]:
    """Every task (of ``kinds``, if given), oldest first."""
    with session_scope(engine) as session:
        return [_info(session, task) for task in task_repo.list_tasks(session=session)
                if kinds is None or str(task.kind) in kinds]


def add_labels(*, session: Session, task: Task, new_labels: list[str], actor: Actor) -> None:
    """Extend the task's label set (audited)."""
    before = list(task.labels)
    task.labels = validate_labels(before + [lab for lab in new_labels if lab not in before])
    session.add(task)
    audit.record(session=session, actor=authz.audit_name(actor), action="task.add_labels",
                 entity="task", entity_id=task.id, before={"labels": before},
                 after={"labels": task.labels})


SETTINGS_RULES: dict[str, tuple[type, float, float]] = {
    "overlap_k": (int, 1, 20),
    "gold_share": (float, 0.0, 0.5),
    "lease_seconds": (int, 30, 7 * 24 * 3600),
    "batch_size": (int, 1, 1000),
    "agreement_threshold": (float, -1.0, 1.0),
    "confidence_threshold": (float, 0.0, 1.0),
    "gold_accuracy_threshold": (float, 0.0, 1.0),
    "min_gold_answers": (int, 1, 10_000),
}


def _checked_setting(name: str, value: Any) -> Any:
    if name in {"show_suggestions", "text_features", "collect_preview_prompts", "self_training"}:
        return bool(value)
    if name == "strategy":
        get_strategy(str(value))  # ValueError lists the valid names
        return str(value)
    if name == "aggregation":
        get_aggregator(str(value))  # ValueError lists the valid names
        return str(value)
    if name not in SETTINGS_RULES:
        valid = ", ".join([*SETTINGS_RULES, "strategy", "aggregation", "show_suggestions",
                           "text_features", "collect_preview_prompts", "self_training"])
        raise TaskDefinitionError(f"unknown setting {name!r}; settings: {valid}")
    kind, low, high = SETTINGS_RULES[name]
    try:
        converted = kind(value)
    except (TypeError, ValueError):
        raise TaskDefinitionError(f"{name} must be a number") from None
    if kind is int and converted != float(value):  # int(2.5) would quietly give 2
        raise TaskDefinitionError(f"{name} must be a whole number")
    if not low <= converted <= high:
        raise TaskDefinitionError(f"{name} must be between {low:g} and {high:g}")
    return converted


@requires(Capability.manage_tasks)
def update_settings(
    *, engine: Engine, task_name: str, changes: dict[str, Any], actor: Actor
) -> TaskInfo:
    """Change queue settings of a task (all or none), audited with before and after."""
    checked = {name: _checked_setting(name, value) for name, value in changes.items()}
    with write_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        before = {name: getattr(task, name) for name in checked}
        for name, value in checked.items():
            setattr(task, name, value)
        session.add(task)
        audit.record(session=session, actor=authz.audit_name(actor), action="task.settings",
                     entity="task", entity_id=task.id, before=before, after=checked)
        return _info(session, task)


@requires(Capability.manage_tasks)
def save_guideline(*, engine: Engine, task_name: str, text: str, actor: Actor) -> int:
    """Store ``text`` as the task's next guideline version; return the version number (the
    current one when the text is unchanged)."""
    if not text.strip():
        raise TaskDefinitionError("a guideline cannot be empty")
    with write_scope(engine) as session:
        who = authz.principal(session, actor)
        task = get_task(session=session, name=task_name)
        latest = task_repo.latest_guideline(session=session, task_id=task.id)
        if latest is not None and latest.text == text:
            return latest.version
        guideline = task_repo.add_guideline(session=session, task_id=task.id, text=text,
                                            created_by=who.account_id)
        audit.record(session=session, actor=who.audit_name, action="task.guideline",
                     entity="task", entity_id=task.id, after={"version": guideline.version})
        return guideline.version


@requires(Capability.read_tasks)
def guideline_versions(*, engine: Engine, actor: Actor, task_name: str) -> list[GuidelineInfo]:
    """Every guideline version of the task, newest first."""
    with session_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        return [GuidelineInfo(version=g.version, text=g.text, created_at=g.created_at)
                for g in task_repo.guidelines(session=session, task_id=task.id)]
