"""Label Studio's JSON task format, both ways, for intent and safety tasks.

Export: one task per item, ``data.text`` the prompt (plus our item id and consensus), one
annotation per live label, whose result is a ``choices`` region for the label (``from_name``
"label") and one per filled slot. Import: the ``choices`` of each annotation's ``label`` control
(or of its first ``choices`` region) become labels; several annotations give several labels.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from labeling.dataio import strict_json
from labeling.exceptions import ImportFileError

LABEL_CONTROL = "label"
TEXT_OBJECT = "text"


def _choice(name: str, value: str) -> dict[str, Any]:
    return {"from_name": name, "to_name": TEXT_OBJECT, "type": "choices",
            "value": {"choices": [value]}}


def task_for(labels: list[dict[str, Any]]) -> dict[str, Any]:
    """One item's export rows (``labeling.project.exporting.label_rows``, all of one item) as a
    Label Studio task: one annotation per live label."""
    first = labels[0]
    annotations = []
    for row in labels:
        if row["superseded"] or row["unsure"]:
            continue
        result = [_choice(LABEL_CONTROL, row["value"])]
        result += [_choice(slot, str(v)) for slot, v in sorted((row["slots"] or {}).items())]
        submitted = row["submitted_at"]
        annotations.append({
            "id": row["label_id"], "completed_by": row["rater"] or row["source"],
            "result": result, "lead_time": row["seconds"],
            "created_at": submitted.isoformat() if submitted else None,
            "meta": {"source": row["source"], "guideline_version":
                     row["guideline_version"], "strategy": row["strategy"]},
        })
    return {
        "id": first["item_id"],
        "data": {TEXT_OBJECT: first["text"], "item_id": first["item_id"],
                 "consensus": first.get("consensus"),
                 "consensus_confidence": first.get("consensus_confidence")},
        "annotations": annotations,
    }


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _choices(region: dict[str, Any]) -> list[str]:
    value = region.get("value")
    choices = value.get("choices") if isinstance(value, dict) else None
    return [str(c) for c in _list(choices)]


def _labels_of(annotation: Any) -> list[str]:
    """The label choices of one annotation; anything not shaped as Label Studio writes it
    (a result that is no list, a region that is no object) holds none."""
    if not isinstance(annotation, dict) or annotation.get("was_cancelled"):
        return []
    regions = [r for r in _list(annotation.get("result"))
               if isinstance(r, dict) and r.get("type") == "choices"]
    named = [r for r in regions if r.get("from_name") == LABEL_CONTROL] or regions[:1]
    return [c for r in named for c in _choices(r)]


def read_tasks(path: Path, text: str) -> tuple[list[str], list[str | None]]:
    """(texts, labels) from a Label Studio JSON export; a text repeats once per label."""
    try:
        tasks = strict_json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list):
        raise ImportFileError(f"{path}: expected a list of Label Studio tasks")
    texts: list[str] = []
    labels: list[str | None] = []
    for number, task in enumerate(tasks, start=1):
        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get(TEXT_OBJECT), str):
            raise ImportFileError(f"{path}: task {number} has no data.{TEXT_OBJECT} string")
        found = [lab for ann in _list(task.get("annotations")) for lab in _labels_of(ann)]
        for label in found or [None]:
            texts.append(data[TEXT_OBJECT])
            labels.append(label)
    return texts, labels
