"""The bundled demo content for the safety task: its definition and its labelled prompts.

The files live in ``safety/demo_data`` and are read as package data. The task's label set must
be the taxonomy's category names in order, and every prompt's label one of them; anything else
raises ``ValueError`` naming the file and line.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from labeling.dataio.tabular import unique_text_records
from labeling.project.demo import DemoTask
from safety.taxonomy import category_names

TASK_FILE = "safety_task.json"
PROMPTS_FILE = "safety_prompts.jsonl"

SAFETY_CONFUSIONS: dict[str, tuple[str, ...]] = {
    "hate": ("harassment",),
    "harassment": ("hate", "violence", "safe"),
    "sexual": ("harassment", "safe"),
    "self_harm": ("safe", "violence"),
    "violence": ("harassment", "safe"),
    "illicit": ("safe", "violence"),
    "privacy_pii": ("harassment", "safe"),
    "jailbreak_injection": ("safe", "illicit"),
    "safe": ("harassment", "violence"),
}
"""Categories raters plausibly confuse, for the demo's simulated disagreement."""
DEMO_LABELED_SHARE = 0.6
"""Share of the safety examples the demo raters have labeled."""

_TASK_KEYS = ("name", "kind", "labels", "guideline")
_PROMPT_KEYS = {"text", "label"}
STYLES = ("lookalike", "twin")
"""Optional ``style`` of an example: ``lookalike``, a safe music request worded like an unsafe
one ("music to kill time"); ``twin``, an unsafe request worded like a look-alike. The safety
bench measures a model trained on public data alone against them."""


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
    """Parse and validate JSON-lines safety examples against ``labels``, as
    ``labeling.dataio.tabular.unique_text_records`` does (``ValueError`` names the line)."""
    return unique_text_records(text, source=source,
                               check=lambda record: _check(record, labels=labels))


def _check(record: dict[str, Any], *, labels: list[str]) -> None:
    if not _PROMPT_KEYS <= set(record) <= _PROMPT_KEYS | {"style"}:
        raise ValueError(f"expected an object with keys {sorted(_PROMPT_KEYS)} (and style)")
    if record.get("style", STYLES[0]) not in STYLES:
        raise ValueError(f"unknown style {record['style']!r}; valid: {', '.join(STYLES)}")
    if not isinstance(record["text"], str) or not record["text"].strip():
        raise ValueError("text must be a non-empty string")
    if record["label"] not in labels:
        raise ValueError(f"unknown label {record['label']!r}; valid: {', '.join(labels)}")


def _read(name: str) -> str:
    return (resources.files("safety") / "demo_data" / name).read_text(encoding="utf-8")


def safety_demo_task() -> DemoTask:
    """The safety task of the demo project, with its examples, ready to seed."""
    return DemoTask(spec=load_safety_task(), examples=load_safety_prompts(),
                    labeled_share=DEMO_LABELED_SHARE, confusions=SAFETY_CONFUSIONS)
