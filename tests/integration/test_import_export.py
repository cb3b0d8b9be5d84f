"""Importing files into a task and exporting labels with provenance."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from labeling.dataio.export_formats import write_rows
from labeling.exceptions import ImportFileError
from labeling.project.exporting import label_rows
from labeling.project.importing import import_file
from storage.db import session_scope
from storage.repositories import labels as label_repo
from storage.repositories import summary
from storage.repositories import tasks as task_repo
from tests.factories import CLI, SAMPLE_ROWS, make_task, snapshot, write_jsonl


def _import(engine, encoder, path, **kwargs):
    return import_file(engine=engine, actor=CLI, task_name="music", path=path, encoder=encoder,
                       **kwargs)


def test_labeled_jsonl_import_stores_items_labels_and_vectors(engine, encoder, tmp_path):
    make_task(engine)
    result = _import(engine, encoder, write_jsonl(tmp_path / "a.jsonl", SAMPLE_ROWS))
    assert (result.rows, result.items_added, result.labels_added, result.vectors_added) == (
        5, 5, 5, 5)
    with session_scope(engine) as session:
        row = summary.per_task(session=session)[0]
    exported = label_rows(engine=engine, actor=CLI, task_name="music")
    assert row["items"] == 5 and row["labels"] == 5
    assert {r["source"] for r in exported} == {"import"}
    assert {r["source_detail"] for r in exported} == {"a.jsonl"}
    assert sorted(r["value"] for r in exported) == sorted(r["label"] for r in SAMPLE_ROWS)


def test_importing_the_same_file_again_adds_nothing(engine, encoder, tmp_path):
    make_task(engine)
    path = write_jsonl(tmp_path / "a.jsonl", SAMPLE_ROWS)
    _import(engine, encoder, path)
    before = snapshot(engine)
    again = _import(engine, encoder, path)
    assert (again.items_added, again.labels_added, again.vectors_added) == (0, 0, 0)
    assert snapshot(engine) == before


def test_duplicate_texts_in_one_file_become_one_item(engine, encoder, tmp_path):
    make_task(engine)
    rows = SAMPLE_ROWS + [{"text": "  gym bangers no cap ", "label": "workout"}]
    result = _import(engine, encoder, write_jsonl(tmp_path / "a.jsonl", rows))
    assert result.items_added == 5 and result.labels_added == 5


def test_csv_with_named_columns_and_unlabeled_rows(engine, encoder, tmp_path):
    make_task(engine)
    path = tmp_path / "prompts.csv"
    pd.DataFrame({"prompt": ["late night drive", "focus music"], "intent": ["mood", ""]}).to_csv(
        path, index=False)
    result = _import(engine, encoder, path, text_col="prompt", label_col="intent")
    assert (result.items_added, result.labels_added) == (2, 1)


def test_parquet_import(engine, encoder, tmp_path):
    make_task(engine)
    path = tmp_path / "prompts.parquet"
    pd.DataFrame(SAMPLE_ROWS).to_parquet(path)
    assert _import(engine, encoder, path).labels_added == 5


def test_labels_outside_the_set_are_refused_unless_added(engine, encoder, tmp_path):
    make_task(engine)
    path = write_jsonl(tmp_path / "a.jsonl", [{"text": "polka please", "label": "genre"}])
    before = snapshot(engine)
    with pytest.raises(ImportFileError, match="--add-labels"):
        _import(engine, encoder, path)
    assert snapshot(engine) == before
    result = _import(engine, encoder, path, allow_new_labels=True)
    assert result.new_labels_in_set == ("genre",)
    with session_scope(engine) as session:
        assert "genre" in task_repo.get_by_name(session=session, name="music").labels


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_round_trips_provenance(engine, encoder, tmp_path, fmt):
    make_task(engine)
    _import(engine, encoder, write_jsonl(tmp_path / "a.jsonl", SAMPLE_ROWS))
    rows = label_rows(engine=engine, actor=CLI, task_name="music")
    out = tmp_path / f"labels.{fmt}"
    write_rows(rows, fmt=fmt, out=out)
    if fmt == "jsonl":
        back = [json.loads(line) for line in out.read_text().splitlines()]
        assert set(label_repo.EXPORT_COLUMNS) <= set(back[0])
    else:
        back = (pd.read_csv(out) if fmt == "csv" else pd.read_parquet(out)).to_dict("records")
    assert len(back) == 5
    assert {r["source"] for r in back} == {"import"}


def test_end_user_ids_are_stored_pseudonymised(engine, encoder, tmp_path):
    make_task(engine)
    rows = [dict(r, user=f"user-{i % 2}@example.com") for i, r in enumerate(SAMPLE_ROWS)]
    _import(engine, encoder, write_jsonl(tmp_path / "a.jsonl", rows), user_col="user",
            pseudonym_key="k1")
    with session_scope(engine) as session:
        from storage.repositories import items as item_repo

        stored = [i.end_user_id for i in item_repo.list_for_task(session=session, task_id=1)]
    assert len(set(stored)) == 2 and all(len(s) == 32 for s in stored)
    assert not any("example.com" in s for s in stored)


def test_label_studio_round_trip(engine, encoder, tmp_path):
    make_task(engine)
    make_task(engine, name="copy")
    _import(engine, encoder, write_jsonl(tmp_path / "a.jsonl", SAMPLE_ROWS))
    rows = label_rows(engine=engine, actor=CLI, task_name="music")
    out = tmp_path / "tasks.json"
    write_rows(rows, fmt="label-studio", out=out)
    tasks = json.loads(out.read_text())
    assert len(tasks) == 5 and tasks[0]["data"]["text"]
    assert tasks[0]["annotations"][0]["result"][0]["value"]["choices"]
    result = import_file(engine=engine, actor=CLI, task_name="copy", path=out, encoder=encoder)
    assert (result.items_added, result.labels_added) == (5, 5)
    copied = label_rows(engine=engine, actor=CLI, task_name="copy")
    assert sorted((r["text"], r["value"]) for r in copied) == sorted(
        (r["text"], r["value"]) for r in rows)


def test_a_label_studio_file_without_text_is_refused(engine, encoder, tmp_path):
    make_task(engine)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"data": {"prompt": "hi"}}]))
    before = snapshot(engine)
    with pytest.raises(ImportFileError, match="task 1 has no data.text"):
        _import(engine, encoder, path)
    assert snapshot(engine) == before
