"""The bundled demo content for the safety task: its definition and its labelled prompts.

The files live in ``safety/demo_data`` and are read as package data. The task's label set must
be the taxonomy's category names in order, and every prompt's label one of them; anything else
raises ``ValueError`` naming the file and line.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from safety.taxonomy import category_names

TASK_FILE = "safety_task.json"
PROMPTS_FILE = "safety_prompts.jsonl"

_TASK_KEYS = ("name", "kind", "labels", "guideline")
_PROMPT_KEYS = {"text", "label"}


def load_safety_task() -> dict[str, Any]:
    """The demo safety task: name, kind, labels (the taxonomy's categories) and guideline.

    Raises
    ------
    ValueError
        If the bundled task file is malformed or its labels differ from the taxonomy.
    """
    task = json.loads(_read(TASK_FILE))
    missing = [key for key in _TASK_KEYS if key not in task]
    if missing:
        raise ValueError(f"{TASK_FILE}: missing keys {missing}")
    if task["labels"] != category_names():
        raise ValueError(
            f"{TASK_FILE}: labels must be the taxonomy's categories in order: "
            f"{', '.join(category_names())}"
        )
    return task


def load_safety_prompts() -> list[dict[str, Any]]:
    """The demo safety examples, each ``{"text", "label"}``, in file order.

    Raises
    ------
    ValueError
        If a line is malformed; the message names the line.
    """
    return parse_safety_prompts(_read(PROMPTS_FILE), labels=load_safety_task()["labels"])


def parse_safety_prompts(
    text: str, *, labels: list[str], source: str = PROMPTS_FILE
) -> list[dict[str, Any]]:
    """Parse and validate JSON-lines safety examples against ``labels``.

    Blank lines are skipped. Texts must be unique ignoring case and repeated white space.

    Raises
    ------
    ValueError
        ``"<source> line <n>: <problem>"`` for the first bad line.
    """
    prompts: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{source} line {number}: not valid JSON ({exc.msg})") from None
        problem = _problem(record, labels=labels)
        if problem is None:
            key = " ".join(record["text"].casefold().split())
            problem = f"duplicate of line {seen[key]}" if key in seen else None
            seen.setdefault(key, number)
        if problem is not None:
            raise ValueError(f"{source} line {number}: {problem}")
        prompts.append(record)
    return prompts


def _problem(record: Any, *, labels: list[str]) -> str | None:
    if not isinstance(record, dict) or set(record) != _PROMPT_KEYS:
        return f"expected an object with keys {sorted(_PROMPT_KEYS)}"
    if not isinstance(record["text"], str) or not record["text"].strip():
        return "text must be a non-empty string"
    if record["label"] not in labels:
        return f"unknown label {record['label']!r}; valid: {', '.join(labels)}"
    return None


def _read(name: str) -> str:
    return (resources.files("safety") / "demo_data" / name).read_text(encoding="utf-8")
