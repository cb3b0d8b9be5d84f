"""Hostile files through every import into a real database (SQLite and PostgreSQL): an import
lands whole with its texts stored exactly (after PII redaction), or it is refused with the
module's own error and a message and changes nothing; what was stored exports to a CSV whose
cells start no formula and which imports back to the same texts."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select
from typer.testing import CliRunner

from app.cli import app
from labeling.dataio.spreadsheet import FORMULA_START, needs_quote, unquote_cell
from labeling.dataio.tabular import read_texts
from labeling.exceptions import ImportFileError, LabelingError
from labeling.ml.encoders import normalise_text
from labeling.project.exporting import export_task
from labeling.project.importing import import_file
from labeling.text.pii import redact_many
from routing.tracks import EXAMPLE_MAPPINGS, CatalogueError, import_catalogue, load_catalogue
from storage.db import make_engine
from storage.models import Item, Task
from tests.factories import CLI, make_task, snapshot
from tests.unit.test_hostile_input import (
    GOOD_TRACK,
    HOSTILE,
    TEXTS,
    TRACK_COLUMNS,
    _csv_bytes,
    _encode,
    _jsonl_bytes,
    _track_rows,
)

SETTINGS = settings(max_examples=15, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
LABELS = st.sampled_from(["mood", "sleep", "", "=HYPERLINK(1)", "<b>new</b>", "a\x00b"])
runner = CliRunner()


@st.composite
def _files(draw) -> tuple[str, bytes, list[str] | None]:
    """(suffix, content, the texts it holds when they can be known, else ``None``)."""
    kind = draw(st.sampled_from(["csv", "jsonl", "json", "bytes"]))
    rows = draw(st.lists(st.tuples(TEXTS, LABELS), min_size=1, max_size=4))
    if kind == "csv":
        data = _csv_bytes([["text", "label"], *map(list, rows)])
        return ".csv", data, [str(unquote_cell(t)).strip() for t, _ in rows]
    if kind == "jsonl":
        data = _jsonl_bytes([{"text": t, "label": lab} for t, lab in rows], draw(st.booleans()))
        return ".jsonl", data, [t.strip() for t, _ in rows]
    if kind == "json":
        tasks = [{"data": {"text": t}, "annotations": [{"result": [
            {"type": "choices", "from_name": "label", "value": {"choices": [lab]}}]}]}
            for t, lab in rows]
        return ".json", _encode(json.dumps(tasks, ensure_ascii=draw(st.booleans()))), \
            [t.strip() for t, _ in rows]
    return draw(st.sampled_from([".csv", ".jsonl", ".json", ".parquet"])), \
        draw(st.binary(max_size=300)), None


def _stored_texts(engine, task: str = "music") -> set[str]:
    with Session(engine) as session:
        return set(session.exec(select(Item.text).join(Task, Task.id == Item.task_id)
                                .where(Task.name == task)).all())


def test_any_file_imports_whole_or_changes_nothing(engine, encoder):
    make_task(engine)

    @SETTINGS
    @given(file=_files(), add_labels=st.booleans())
    def check(file, add_labels):
        suffix, data, texts = file
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"hostile{suffix}"
            path.write_bytes(data)
            before = snapshot(engine)
            try:
                import_file(engine=engine, actor=CLI, task_name="music", path=path,
                            encoder=encoder, allow_new_labels=add_labels)
            except LabelingError as exc:
                assert str(path) in str(exc) or "label" in str(exc)
                assert snapshot(engine) == before
                return
        if texts is not None:
            # items are stored normalised (NFKC: a compatibility ideograph becomes its unified one)
            assert ({normalise_text(r.text) for r in redact_many(texts)}
                    <= _stored_texts(engine))

    check()


def test_stored_texts_export_to_a_csv_that_starts_no_formula_and_reads_back(engine, encoder,
                                                                           tmp_path):
    make_task(engine)
    rows = [{"text": t, "label": "mood"} for t in HOSTILE if t.strip() and "\x00" not in t
            and len(t) < 10_000 and "\ud800" not in t and "\udfff" not in t]
    source = tmp_path / "hostile.jsonl"
    source.write_bytes(_jsonl_bytes(rows, ascii_only=False))
    import_file(engine=engine, actor=CLI, task_name="music", path=source, encoder=encoder)
    stored = _stored_texts(engine)
    assert {r.text for r in redact_many([r["text"].strip() for r in rows])} == stored
    for fmt in ("csv", "jsonl", "parquet"):
        out = tmp_path / f"export.{fmt}"
        export_task(engine=engine, actor=CLI, task_name="music", fmt=fmt, out=out)
        assert set(read_texts(out, label_col="value").texts) == stored, fmt
    raw = (tmp_path / "export.csv").read_text(encoding="utf-8")
    cells = [cell for row in csv.reader(io.StringIO(raw)) for cell in row]
    assert [c for c in cells if c[:1] in FORMULA_START or c.lstrip()[:1] in FORMULA_START] == []
    assert all(c.startswith("'") for c in cells if needs_quote(c))
    assert any(c.startswith("'=HYPERLINK(") for c in cells)
    jsonl = (tmp_path / "export.jsonl").read_text(encoding="utf-8")
    assert any(json.loads(line)["text"].startswith("=HYPERLINK(") for line in jsonl.splitlines())
    # the exported CSV imports again into a fresh task to the very same texts
    make_task(engine, name="again")
    import_file(engine=engine, actor=CLI, task_name="again", path=tmp_path / "export.csv",
                encoder=encoder)
    assert _stored_texts(engine, "again") == stored


def test_any_catalogue_imports_whole_or_changes_nothing(engine, tmp_path):
    mapping = EXAMPLE_MAPPINGS / "spotify_songs.json"

    @SETTINGS
    @given(rows=_track_rows() | st.binary(max_size=200))
    def check(rows):
        path = tmp_path / "tracks.csv"
        path.write_bytes(rows if isinstance(rows, bytes) else _csv_bytes([TRACK_COLUMNS, *rows]))
        before = snapshot(engine)
        try:
            import_catalogue(engine=engine, path=path, mapping_path=mapping, actor=CLI)
        except CatalogueError as exc:
            assert str(path) in str(exc)
            assert snapshot(engine) == before
            return
        _, frame = load_catalogue(engine=engine, actor=CLI)
        expected = pd.read_csv(path, dtype=str, keep_default_na=False)["track_name"].str.strip()
        assert set(frame["title"]) <= set(expected)

    check()


@pytest.mark.parametrize(("suffix", "content"), [
    (".jsonl", b'{"text": "\\ud800"}\n'), (".csv", b"text\nnul\x00inside\n"),
    (".csv", b"text\n\xff\xfe not utf-8\n"), (".json", b'[{"data": {"text": "a"}, '
                                               b'"annotations": 5}, {"data": 3}]'),
])
def test_the_cli_refuses_a_hostile_file_in_one_line(workbench_env, tmp_path, suffix, content):
    assert runner.invoke(app, ["init"]).exit_code == 0
    assert runner.invoke(app, ["task", "create", "music", "--kind", "intent",
                               "--labels", "mood,sleep"]).exit_code == 0
    path = tmp_path / f"hostile{suffix}"
    path.write_bytes(content)
    engine = make_engine(workbench_env)
    before = snapshot(engine)
    result = runner.invoke(app, ["import", str(path), "--task", "music"])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}"), lines
    assert "Traceback" not in result.output
    assert snapshot(engine) == before
    engine.dispose()


def test_a_catalogue_title_too_long_for_its_column_is_refused(engine, tmp_path):
    row = list(GOOD_TRACK)
    row[1] = "x" * 300
    path = tmp_path / "tracks.csv"
    path.write_bytes(_csv_bytes([TRACK_COLUMNS, row]))
    before = snapshot(engine)
    with pytest.raises(CatalogueError, match="title longer than 256"):
        import_catalogue(engine=engine, path=path, mapping_path=EXAMPLE_MAPPINGS /
                         "spotify_songs.json", actor=CLI)
    assert snapshot(engine) == before


def test_a_text_with_a_nul_is_refused_on_every_database(engine, encoder, tmp_path):
    make_task(engine)
    path = tmp_path / "nul.jsonl"
    path.write_text(json.dumps({"text": "before\x00after", "label": "mood"}) + "\n")
    before = snapshot(engine)
    with pytest.raises(ImportFileError, match="NUL"):
        import_file(engine=engine, actor=CLI, task_name="music", path=path, encoder=encoder)
    assert snapshot(engine) == before
