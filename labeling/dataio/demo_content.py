"""The bundled demo content for the intent task: its definition and its labelled prompts.

The files live in ``labeling/dataio/demo_data`` and are read as package data, so they work from a
source checkout and from an installed wheel alike. Everything is validated on load: a bad
label, style or slot value raises ``ValueError`` naming the file and line.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from labeling.dataio.tabular import unique_text_records

TASK_FILE = "intent_task.json"
PROMPTS_FILE = "intent_prompts.jsonl"

PROMPT_STYLES: tuple[str, ...] = (
    "plain",
    "paraphrase",
    "slang",
    "typo",
    "multi_intent",
    "out_of_scope",
    "ambiguous",
)
"""How a demo prompt is phrased; used to slice agreement and model errors in the demo."""

INTENT_CONFUSIONS: dict[str, tuple[str, ...]] = {
    "mood": ("sleep_relax", "focus_study", "party"),
    "activity": ("workout", "focus_study", "commute_travel", "party"),
    "focus_study": ("mood", "activity"),
    "workout": ("activity", "party"),
    "sleep_relax": ("mood", "focus_study"),
    "party": ("mood", "workout"),
    "genre_exploration": ("discovery", "era_nostalgia"),
    "similar_to_artist": ("similar_to_track", "discovery"),
    "similar_to_track": ("similar_to_artist",),
    "era_nostalgia": ("genre_exploration", "mood"),
    "discovery": ("genre_exploration", "similar_to_artist"),
    "refine_playlist": ("discovery", "mood"),
    "romance": ("mood", "party"),
    "commute_travel": ("activity", "mood"),
}
"""Intents raters plausibly confuse, for the demo's simulated disagreement."""

_TASK_KEYS = ("name", "kind", "labels", "oos_label", "slots", "guideline")
_PROMPT_KEYS = {"text", "intent", "slots", "style"}


def load_intent_task() -> dict[str, Any]:
    """The demo intent task: name, kind, labels, out-of-scope label, slot schema, guideline.

    Raises
    ------
    ValueError
        If the bundled task file is malformed.
    """
    task = json.loads(_read(TASK_FILE))
    validate_intent_task(task)
    return task


def load_intent_prompts() -> list[dict[str, Any]]:
    """The demo prompts, each ``{"text", "intent", "slots", "style"}``, in file order.

    Raises
    ------
    ValueError
        If a line is malformed; the message names the line.
    """
    return parse_intent_prompts(_read(PROMPTS_FILE), task=load_intent_task())


def validate_intent_task(task: dict[str, Any]) -> None:
    """Check an intent task definition.

    The labels must be unique strings with the out-of-scope label last, and every slot must
    have ``values``: a list of strings, or ``None`` for free text.

    Raises
    ------
    ValueError
        Describing the first problem found.
    """
    missing = [key for key in _TASK_KEYS if key not in task]
    if missing:
        raise ValueError(f"{TASK_FILE}: missing keys {missing}")
    labels = task["labels"]
    if not labels or not all(isinstance(label, str) and label for label in labels):
        raise ValueError(f"{TASK_FILE}: labels must be a non-empty list of strings")
    if len(set(labels)) != len(labels):
        raise ValueError(f"{TASK_FILE}: duplicate labels")
    if labels[-1] != task["oos_label"]:
        raise ValueError(f"{TASK_FILE}: the out-of-scope label must be the last label")
    if not isinstance(task["slots"], dict):
        raise ValueError(f"{TASK_FILE}: slots must be an object")
    for slot, spec in task["slots"].items():
        values = spec.get("values", "missing") if isinstance(spec, dict) else "missing"
        if values is not None and not (
            isinstance(values, list) and values and all(isinstance(v, str) for v in values)
        ):
            raise ValueError(f"{TASK_FILE}: slot {slot!r} needs a list of values or null")


def parse_intent_prompts(
    text: str, *, task: dict[str, Any], source: str = PROMPTS_FILE
) -> list[dict[str, Any]]:
    """Parse and validate JSON-lines prompts against ``task``.

    Blank lines are skipped. Texts must be unique ignoring case and repeated white space.

    Raises
    ------
    ValueError
        ``"<source> line <n>: <problem>"`` for the first bad line.
    """
    return unique_text_records(text, source=source,
                               check=lambda record: _check_prompt(record, task=task))


def _check_prompt(record: Any, *, task: dict[str, Any]) -> None:
    if not isinstance(record, dict) or set(record) != _PROMPT_KEYS:
        raise ValueError(f"expected an object with keys {sorted(_PROMPT_KEYS)}")
    if not isinstance(record["text"], str) or not record["text"].strip():
        raise ValueError("text must be a non-empty string")
    if record["intent"] not in task["labels"]:
        raise ValueError(f"unknown intent {record['intent']!r}")
    if record["style"] not in PROMPT_STYLES:
        raise ValueError(f"unknown style {record['style']!r}; valid: {', '.join(PROMPT_STYLES)}")
    if not isinstance(record["slots"], dict):
        raise ValueError("slots must be an object")
    for slot, value in record["slots"].items():
        _check_slot(slot, value, slots=task["slots"])


def _check_slot(slot: str, value: Any, *, slots: dict[str, Any]) -> None:
    if slot not in slots:
        raise ValueError(f"unknown slot {slot!r}; valid: {', '.join(slots)}")
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"slot {slot!r} needs a non-empty string value")
    vocabulary = slots[slot]["values"]
    if vocabulary is not None and value not in vocabulary:
        raise ValueError(f"slot {slot!r}: {value!r} is not in its vocabulary")


def _read(name: str) -> str:
    return (resources.files("labeling.dataio") / "demo_data" / name).read_text(encoding="utf-8")
