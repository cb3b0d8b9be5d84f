"""Hostile files and text against the pure readers and the CSV neutraliser (hypothesis).

Every reader either reads a file or refuses it with its own error class and a message, whatever
the bytes: invalid UTF-8, empty, NUL and other control characters, right-to-left marks, lone
surrogates, SQL- and HTML-looking text, spreadsheet formulas, 1 MB cells. Texts that are read
come back exactly (stripped of surrounding white space); a CSV cell never starts a formula, and
an exported CSV reads back to the same texts.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labeling.dataio.export_formats import write_rows
from labeling.dataio.ratings_io import read_ratings
from labeling.dataio.spreadsheet import (
    FORMULA_START,
    needs_quote,
    safe_cell,
    safe_frame,
    unquote_cell,
)
from labeling.dataio.tabular import read_texts
from labeling.exceptions import ImportFileError, TaskDefinitionError
from labeling.project.tasks import parse_labels
from routing.tracks import (
    EXAMPLE_MAPPINGS,
    TEXT_LIMITS,
    CatalogueError,
    read_catalogue,
    read_mapping,
)

SETTINGS = settings(max_examples=30, deadline=None)
MAX_CHARS = 10_000
MEGABYTE = "x" * 1_000_000
HOSTILE = [
    "", " ", "\x00", "a\x00b", "\u202eevil\u202c", "\u200fmark", "'); DROP TABLE item;--",
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[x](javascript:alert(1))",
    '=HYPERLINK("http://evil.example","click")', "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1",
    "\r=1", " =1", "'=1", "''-1", "\ud800", "a\udfffb", "a\r\nb", '"quoted, comma"',
    "\x1b[31mred", "x\u2028y", "x\x85y", "\ufeffbom", ":material/flag: $x^2$", "\x1c", MEGABYTE,
]
FRAGMENTS = st.sampled_from(HOSTILE[:-1]) | st.text(max_size=12)
TEXTS = st.one_of(
    st.sampled_from(HOSTILE), st.text(max_size=40),
    st.lists(FRAGMENTS, min_size=1, max_size=4).map("".join),
)
FORMATS = st.sampled_from([".csv", ".jsonl", ".json", ".parquet"])


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _written(suffix: str, data: bytes):
    folder = tempfile.TemporaryDirectory()
    path = Path(folder.name) / f"input{suffix}"
    path.write_bytes(data)
    return folder, path


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate becomes invalid UTF-8


def _csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return _encode(out.getvalue())


def _jsonl_bytes(records: list[dict], ascii_only: bool) -> bytes:
    return _encode("".join(json.dumps(r, ensure_ascii=ascii_only) + "\n" for r in records))


# --- the neutraliser ---------------------------------------------------------------------------

@SETTINGS
@given(TEXTS)
def test_a_safe_cell_never_starts_a_formula_and_unquotes_to_itself(text):
    cell = safe_cell(text)
    assert unquote_cell(cell) == text
    assert cell[:1] not in FORMULA_START
    assert cell.lstrip()[:1] not in FORMULA_START
    assert cell == text or cell == "'" + text
    assert (cell != text) == needs_quote(text)


@pytest.mark.parametrize("text", [
    '=HYPERLINK("http://evil.example","x")', "+1", "-1", "@A1", "\t=1", "\r=1", " =1", "'=1",
])
def test_formulas_get_a_quote(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["a=b", "hello", "'quoted'", "1-2", "", "\u202e=1"])
def test_other_text_is_left_alone(text):
    assert safe_cell(text) == text and unquote_cell(text) == text


def test_a_frame_keeps_its_numbers_and_quotes_its_text():
    frame = pd.DataFrame({"n": [-1, 2], "x": [-1.5, None], "text": ["=1", None],
                          "=header": ["ok", "@x"]})
    safe = safe_frame(frame)
    assert list(safe.columns) == ["n", "x", "text", "'=header"]
    assert safe["n"].tolist() == [-1, 2] and safe["x"].iloc[0] == -1.5
    assert safe["text"].iloc[0] == "'=1" and pd.isna(safe["text"].iloc[1])
    assert safe["'=header"].tolist() == ["ok", "'@x"]


# --- reading any bytes -------------------------------------------------------------------------

@SETTINGS
@given(suffix=FORMATS, data=st.binary(max_size=400))
def test_any_bytes_are_read_or_refused_with_an_import_error(suffix, data):
    folder, path = _written(suffix, data)
    with folder:
        try:
            table = read_texts(path)
        except ImportFileError as exc:
            assert str(exc).startswith(str(path))
            return
        assert table.texts and all(t == t.strip() and _storable(t) for t in table.texts)


@SETTINGS
@given(rows=st.lists(st.tuples(TEXTS, TEXTS), min_size=1, max_size=5),
       fmt=st.sampled_from(["csv", "jsonl", "jsonl-ascii"]))
def test_texts_are_read_exactly_or_the_file_is_refused(rows, fmt):
    if fmt == "csv":
        data = _csv_bytes([["text", "label"], *[list(r) for r in rows]])
        expected = [str(unquote_cell(t)).strip() for t, _ in rows]
    else:
        data = _jsonl_bytes([{"text": t, "label": lab} for t, lab in rows], fmt == "jsonl-ascii")
        expected = [t.strip() for t, _ in rows]
    labels = [str(unquote_cell(lab)).strip() if fmt == "csv" else lab.strip() for _, lab in rows]
    folder, path = _written(".csv" if fmt == "csv" else ".jsonl", data)
    bad = [t for t in expected + labels if not _storable(t)]
    bad += [t for t in expected if not t or len(t) > MAX_CHARS]
    with folder:
        if bad:
            with pytest.raises(ImportFileError, match=str(path)):
                read_texts(path, max_chars=MAX_CHARS)
            return
        table = read_texts(path, max_chars=MAX_CHARS)
    assert table.texts == expected
    assert table.labels == [lab or None for lab in labels]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXTS.filter(lambda t: len(t) < 100),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["data", "text", "annotations", "result", "value", "choices", "type",
                         "from_name", "was_cancelled", "label"]), inner, max_size=4),
    max_leaves=12,
)


@SETTINGS
@given(tasks=JSON)
def test_any_label_studio_json_is_read_or_refused(tasks):
    folder, path = _written(".json", _encode(json.dumps(tasks)))
    with folder:
        try:
            table = read_texts(path)
        except ImportFileError as exc:
            assert str(exc).startswith(str(path))
            return
    assert all(t == t.strip() and _storable(t) for t in table.texts)


@SETTINGS
@given(texts=st.lists(TEXTS.filter(_storable), min_size=1, max_size=4))
def test_parquet_texts_are_read_exactly_or_refused(texts):
    folder = tempfile.TemporaryDirectory()
    path = Path(folder.name) / "input.parquet"
    with folder:
        pd.DataFrame({"text": texts}).to_parquet(path)
        expected = [t.strip() for t in texts]
        if any(not t or len(t) > MAX_CHARS for t in expected):
            with pytest.raises(ImportFileError):
                read_texts(path, max_chars=MAX_CHARS)
            return
        assert read_texts(path, max_chars=MAX_CHARS).texts == expected


# --- an export reads back --------------------------------------------------------------------

STORED = TEXTS.map(str.strip).filter(lambda t: t and _storable(t) and len(t) <= MAX_CHARS)


@SETTINGS
@given(texts=st.lists(STORED, min_size=1, max_size=5), fmt=st.sampled_from(["csv", "jsonl",
                                                                             "parquet"]))
def test_an_export_reads_back_to_the_same_texts(texts, fmt):
    rows = [{"item_id": i, "text": t, "value": t[:64], "rater": t, "slots": {"mood": t}}
            for i, t in enumerate(texts)]
    folder = tempfile.TemporaryDirectory()
    path = Path(folder.name) / f"export.{fmt}"
    with folder:
        write_rows(rows, fmt=fmt, out=path)
        table = read_texts(path, label_col="value", max_chars=MAX_CHARS)
        raw = path.read_text(encoding="utf-8") if fmt == "csv" else ""
    assert table.texts == texts
    assert table.labels == [t[:64].strip() for t in texts]
    cells = [cell for row in csv.reader(io.StringIO(raw)) for cell in row]
    assert all(cell[:1] not in FORMULA_START and not needs_quote(cell) or cell[:1] == "'"
               for cell in cells)


@pytest.mark.parametrize(("suffix", "content", "texts"), [
    (".jsonl", '{"text": "a\u2028b"}\n{"text": "c\x85d"}\n', ["a\u2028b", "c\x85d"]),
    (".jsonl", '{"text": "crlf"}\r\n{"text": "cr"}\r{"text": "lf"}\n', ["crlf", "cr", "lf"]),
    (".json", '[{"data": {"text": "hi"}, "annotations": 5}, {"data": {"text": "yo"}, '
              '"annotations": ["x", {"result": "r"}, {"result": [1, {"type": "choices", '
              '"value": []}]}]}]', ["hi", "yo"]),
    (".csv", "text\n'=1+1\n''-2\n'plain\n", ["=1+1", "'-2", "'plain"]),
])
def test_unusual_but_valid_files_are_read_exactly(tmp_path, suffix, content, texts):
    path = tmp_path / f"input{suffix}"
    path.write_bytes(content.encode("utf-8"))
    assert read_texts(path).texts == texts


@pytest.mark.parametrize(("suffix", "content"), [
    (".jsonl", '{"text": "\\ud800"}\n'), (".json", '[{"data": {"text": "a\\udc00"}}]'),
    (".jsonl", '{"text": NaN}\n'), (".csv", "text\nnul\x00here\n"),
    (".csv", "text,label\nok,bad\x00label\n"),
])
def test_text_no_database_can_store_is_refused(tmp_path, suffix, content):
    path = tmp_path / f"input{suffix}"
    path.write_bytes(content.encode("utf-8"))
    with pytest.raises(ImportFileError, match=str(path)):
        read_texts(path)


@pytest.mark.parametrize("text", ["line\rbreak", "a\r\nb", "=1\r=2", "\u202e<b>x</b>"])
def test_a_text_with_line_breaks_is_one_csv_cell(tmp_path, text):
    write_rows([{"item_id": 1, "text": text, "value": "mood", "slots": {}}], fmt="csv",
               out=tmp_path / "a.csv")
    assert read_texts(tmp_path / "a.csv").texts == [text]


def test_a_formula_is_exported_quoted_to_csv_and_as_is_to_jsonl(tmp_path):
    rows = [{"item_id": 1, "text": '=HYPERLINK("http://evil.example","x")', "value": "@a",
             "slots": {}}]
    write_rows(rows, fmt="csv", out=tmp_path / "a.csv")
    write_rows(rows, fmt="jsonl", out=tmp_path / "a.jsonl")
    [record] = list(csv.DictReader((tmp_path / "a.csv").open(encoding="utf-8")))
    assert record["text"] == "'" + rows[0]["text"] and record["value"] == "'@a"
    assert json.loads((tmp_path / "a.jsonl").read_text())["text"] == rows[0]["text"]


# --- ratings, catalogues, label files ----------------------------------------------------------

@SETTINGS
@given(suffix=st.sampled_from([".csv", ".jsonl"]), data=st.binary(max_size=300) | st.lists(
    st.tuples(TEXTS, TEXTS, TEXTS), min_size=1, max_size=4).map(
        lambda rows: _csv_bytes([["item", "rater", "label"], *map(list, rows)])))
def test_any_ratings_file_is_read_or_refused(suffix, data):
    folder, path = _written(suffix, data)
    with folder:
        try:
            ratings = read_ratings(path, item_col="item", rater_col="rater")
        except ImportFileError as exc:
            assert str(exc)
            return
    assert list(ratings.columns) == ["item", "rater", "label"]


TRACK_COLUMNS = ["track_id", "track_name", "track_artist", "track_album_release_date",
                 "playlist_genre", "playlist_subgenre", "playlist_name", "energy", "valence",
                 "danceability", "acousticness", "instrumentalness", "speechiness", "tempo",
                 "loudness", "duration_ms", "track_popularity"]
GOOD_TRACK = ["a", "Song", "Band", "1994-05-01", "rap", "gangster rap", "90s", "0.7", "0.5",
              "0.8", "0.1", "0", "0.3", "92.5", "-6", "215000", "55"]


@st.composite
def _track_rows(draw) -> list[list[str]]:
    rows = []
    for _ in range(draw(st.integers(1, 3))):
        row = list(GOOD_TRACK)
        for position in draw(st.lists(st.integers(0, len(row) - 1), max_size=4)):
            row[position] = draw(TEXTS)
        rows.append(row)
    return rows


@SETTINGS
@given(data=st.binary(max_size=300) | _track_rows().map(
    lambda rows: _csv_bytes([TRACK_COLUMNS, *rows])))
def test_any_catalogue_file_is_read_or_refused(data):
    folder, path = _written(".csv", data)
    with folder:
        try:
            checked = read_catalogue(path, EXAMPLE_MAPPINGS / "spotify_songs.json")
        except CatalogueError as exc:
            assert str(exc).startswith(str(path))
            return
    assert checked.rows and all(_storable(str(v)) for row in checked.rows for v in row.values())
    assert all(len(row[name]) <= limit for row in checked.rows for name, limit in
               TEXT_LIMITS.items())


@pytest.mark.parametrize(("column", "value", "message"), [
    (1, "a\x00b", "NUL character or invalid Unicode in title"),
    (1, "x" * 257, "title longer than 256"),
    (0, "t" * 65, "track_id longer than 64"), (1, "x" * 1_000_000, "title longer"),
])
def test_a_catalogue_the_tracks_table_cannot_hold_is_refused(tmp_path, column, value, message):
    row = list(GOOD_TRACK)
    row[column] = value
    path = tmp_path / "tracks.csv"
    path.write_bytes(_csv_bytes([TRACK_COLUMNS, GOOD_TRACK, row]))
    with pytest.raises(CatalogueError, match=f"{message}.* in row\\(s\\) 2"):
        read_catalogue(path, EXAMPLE_MAPPINGS / "spotify_songs.json")


MAPPING_SPECS = st.one_of(
    st.sampled_from(TRACK_COLUMNS), JSON,
    st.fixed_dictionaries({"column": st.sampled_from(TRACK_COLUMNS) | JSON}, optional={
        "slice": JSON | st.tuples(st.integers(-5, 5), st.integers(-5, 5)).map(list)}),
    st.fixed_dictionaries({"columns": JSON | st.lists(st.sampled_from(TRACK_COLUMNS))}),
    st.fixed_dictionaries({"value": JSON}),
)


@SETTINGS
@given(fields=st.dictionaries(st.sampled_from(
    ["track_id", "title", "artist", "genre", "year", "energy", "tags", "explicit"]),
    MAPPING_SPECS, max_size=8), wrap=st.sampled_from(["fields", "flat", "junk"]))
def test_any_mapping_is_read_or_refused(fields, wrap):
    spotify = json.loads((EXAMPLE_MAPPINGS / "spotify_songs.json").read_text())["fields"]
    mapping = {"fields": {**spotify, **fields}} if wrap == "fields" else {**spotify, **fields}
    if wrap == "junk":
        mapping = {"fields": list(fields) or fields}
    folder, path = _written(".json", _encode(json.dumps(mapping)))
    tracks = Path(folder.name) / "tracks.csv"
    tracks.write_bytes(_csv_bytes([TRACK_COLUMNS, GOOD_TRACK]))
    with folder:
        try:
            read_mapping(path)
            checked = read_catalogue(tracks, path)
        except CatalogueError as exc:
            assert str(exc).startswith(str(Path(folder.name)))
            return
    assert len(checked.rows) == 1


@pytest.mark.parametrize("spec", [
    {"column": []}, {"column": "track_album_release_date", "slice": 5},
    {"column": "track_album_release_date", "slice": ["a", "b"]}, {"columns": 5}, [1],
    {"columns": []},  # found by hypothesis: tags from no column at all
])
def test_a_mapping_of_an_unknown_shape_is_refused(tmp_path, spec):
    mapping = json.loads((EXAMPLE_MAPPINGS / "spotify_songs.json").read_text())
    mapping["fields"]["tags" if "columns" in spec else "year"] = spec
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps(mapping))
    with pytest.raises(CatalogueError, match="unknown form"):
        read_mapping(path)


@pytest.mark.parametrize(("field", "source"), [
    ("year", '{"value": NaN}'), ("title", '"\\ud800"'), ("tags", '{"columns": [Infinity]}'),
])
def test_a_mapping_that_is_not_plain_json_is_refused(tmp_path, field, source):
    mapping = json.loads((EXAMPLE_MAPPINGS / "spotify_songs.json").read_text())
    mapping["fields"][field] = "PLACEHOLDER"
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps(mapping).replace('"PLACEHOLDER"', source))
    with pytest.raises(CatalogueError, match="not a JSON mapping"):
        read_mapping(path)


def test_fields_that_are_not_an_object_are_refused(tmp_path):
    path = tmp_path / "mapping.json"
    fields = json.loads((EXAMPLE_MAPPINGS / "spotify_songs.json").read_text())["fields"]
    path.write_text(json.dumps({"fields": " ".join(fields)}))
    with pytest.raises(CatalogueError, match="fields"):
        read_mapping(path)


@pytest.mark.parametrize("spec", ["a\x00b,c", "ok,new\x1bline", "x" * 65 + ",y"])
def test_labels_no_database_can_store_are_refused(spec):
    with pytest.raises(TaskDefinitionError, match="control characters"):
        parse_labels(spec)


@SETTINGS
@given(data=st.binary(max_size=200) | st.lists(TEXTS, max_size=5).map(
    lambda labels: _encode("\n".join(labels))) | JSON.map(lambda v: _encode(json.dumps(v))))
def test_any_label_file_is_read_or_refused(data):
    folder, path = _written(".txt", data)
    with folder:
        try:
            labels = parse_labels(str(path))
        except TaskDefinitionError as exc:
            assert str(exc)
            return
    assert labels and all(_storable(label) and "\n" not in label for label in labels)
