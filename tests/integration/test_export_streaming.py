"""Every export format is written a chunk at a time, and a failed export leaves no half file."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from labeling.dataio import export_formats
from labeling.dataio.export_formats import write_chunks
from labeling.project.exporting import COLUMNS, export_task, label_rows
from labeling.project.importing import import_file
from storage.repositories import labels as label_repo
from tests.factories import CLI, make_task

TEXTS = ["chill songs for a rainy morning", "gym bangers no cap", "help me fall asleep"]


def _two_labels_per_item(engine, encoder, tmp_path):
    """Three items with two annotations each, imported in the order a, b, c, a, b, c, so each
    item's labels are far apart in label order."""
    tasks = [{"data": {"text": text},
              "annotations": [{"result": [{"from_name": "label", "to_name": "text",
                                           "type": "choices", "value": {"choices": [value]}}]}
                              for value in ("mood", "sleep")]} for text in TEXTS]
    path = tmp_path / "two.json"
    path.write_text(json.dumps(tasks), encoding="utf-8")
    make_task(engine)
    import_file(engine=engine, actor=CLI, task_name="music", path=path, encoder=encoder)


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(label_repo, "EXPORT_CHUNK", 2)


def test_label_studio_export_streams_one_task_per_item(engine, encoder, tmp_path, small_chunks):
    _two_labels_per_item(engine, encoder, tmp_path)
    out = tmp_path / "out" / "tasks.json"
    assert export_task(engine=engine, actor=CLI, task_name="music", fmt="label-studio",
                       out=out) == 6
    tasks = json.loads(out.read_text(encoding="utf-8"))
    assert sorted(t["data"]["text"] for t in tasks) == sorted(TEXTS)
    assert [len(t["annotations"]) for t in tasks] == [2, 2, 2]
    assert {tuple(sorted(a["result"][0]["value"]["choices"][0] for a in t["annotations"]))
            for t in tasks} == {("mood", "sleep")}


def test_parquet_export_writes_row_groups_as_rows_come(engine, encoder, tmp_path, small_chunks,
                                                       monkeypatch):
    monkeypatch.setattr(export_formats, "PARQUET_ROWS", 3)  # chunks of 2: groups of 4 and 2
    _two_labels_per_item(engine, encoder, tmp_path)
    out = tmp_path / "labels.parquet"
    assert export_task(engine=engine, actor=CLI, task_name="music", fmt="parquet", out=out) == 6
    parquet = pq.ParquetFile(out)
    assert [parquet.metadata.row_group(g).num_rows for g in range(2)] == [4, 2]
    assert parquet.metadata.num_row_groups == 2
    back = parquet.read().to_pylist()
    rows = label_rows(engine=engine, actor=CLI, task_name="music")
    assert [r["label_id"] for r in back] == [r["label_id"] for r in rows]
    assert [r["text"] for r in back] == [r["text"] for r in rows]
    assert parquet.schema_arrow.names == list(COLUMNS)


def _row(item: int, label: int, **extra) -> dict:
    return {"label_id": label, "item_id": item, "text": f"prompt {item}", "value": "mood",
            "slots": {}, "unsure": False, "superseded": False, "rater": "ana", "source": "rater",
            "seconds": 1.0, "submitted_at": None, "guideline_version": 1, "strategy": None,
            **extra}


def test_an_item_split_across_chunks_is_one_label_studio_task(tmp_path):
    out = tmp_path / "tasks.json"
    chunks = [[_row(1, 1), _row(1, 2)], [_row(1, 3), _row(2, 4)], [_row(2, 5)]]
    assert write_chunks(iter(chunks), fmt="label-studio", out=out, columns=[]) == 5
    tasks = json.loads(out.read_text(encoding="utf-8"))
    assert [(t["id"], [a["id"] for a in t["annotations"]]) for t in tasks] == [
        (1, [1, 2, 3]), (2, [4, 5])]


def test_a_column_empty_in_the_first_chunk_keeps_its_type_later(tmp_path):
    out = tmp_path / "labels.parquet"
    columns = ["label_id", "item_id", "text", "slots", "consensus_confidence", "batch_id"]
    chunks = [[_row(1, 1, consensus_confidence=None, batch_id=None)],
              [_row(2, 2, consensus_confidence=0.75, batch_id="b-7")]]
    write_chunks(iter(chunks), fmt="parquet", out=out, columns=columns)
    back = pq.read_table(out).to_pylist()
    assert [(r["consensus_confidence"], r["batch_id"]) for r in back] == [
        (None, None), (0.75, "b-7")]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet", "label-studio"])
def test_an_export_that_fails_half_way_leaves_the_old_file_and_no_partial(tmp_path, fmt):
    out = tmp_path / f"labels.{fmt}"
    out.write_bytes(b"the export of yesterday")

    def chunks():
        yield [_row(1, 1)]
        raise ConnectionError("database went away")

    with pytest.raises(ConnectionError):
        write_chunks(chunks(), fmt=fmt, out=out, columns=["label_id", "item_id", "text",
                                                           "slots"])
    assert out.read_bytes() == b"the export of yesterday"
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]
