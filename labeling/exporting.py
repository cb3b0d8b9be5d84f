"""Exporting a task's labels with their provenance as CSV, JSONL or Parquet."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Any

import pandas as pd
from sqlmodel import Session

from labeling.exceptions import LabelingError
from labeling.label_studio import to_tasks
from labeling.tasks import get_task
from storage.repositories import labels as label_repo

EXPORT_FORMATS = ("csv", "jsonl", "parquet", "label-studio")


def label_rows(*, session: Session, task_name: str) -> list[dict[str, Any]]:
    """Every label of the task with its text and provenance, oldest first."""
    task = get_task(session=session, name=task_name)
    rows = label_repo.export_rows(session=session, task_id=task.id)
    for row in rows:
        row["task"] = task.name
    return rows


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    columns = ("task", *label_repo.EXPORT_COLUMNS)
    frame = pd.DataFrame.from_records(rows, columns=list(columns))
    frame["slots"] = [json.dumps(s, sort_keys=True) for s in frame["slots"]]
    return frame


def _jsonable(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def write_rows(rows: list[dict[str, Any]], *, fmt: str, out: Path | None) -> None:
    """Write ``rows`` as ``fmt`` to ``out`` (standard output where ``None``, not for Parquet)."""
    if fmt not in EXPORT_FORMATS:
        raise LabelingError(f"unknown format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    if fmt == "parquet" and out is None:
        raise LabelingError("Parquet is binary: give --out FILE")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        _frame(rows).to_parquet(out, index=False)
        return
    if fmt == "label-studio":
        payload = json.dumps(to_tasks(rows), indent=1, default=_jsonable)
        if out is None:
            sys.stdout.write(payload + "\n")
        else:
            out.write_text(payload + "\n", encoding="utf-8")
        return
    stream: IO[str] = open(out, "w", encoding="utf-8", newline="") if out else sys.stdout
    try:
        if fmt == "csv":
            _frame(rows).to_csv(stream, index=False)
        else:
            for row in rows:
                stream.write(json.dumps({k: _jsonable(v) for k, v in row.items()}) + "\n")
    finally:
        if out is not None:
            stream.close()
