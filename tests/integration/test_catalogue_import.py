"""Catalogue import: any CSV through a column mapping, as a new version, whole or not at all."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from app.cli import app
from routing.tracks import (
    EXAMPLE_MAPPINGS,
    CatalogueError,
    add_demo_catalogue,
    current_catalogue,
    import_catalogue,
    load_catalogue,
)
from tests.factories import CLI, snapshot

SPOTIFY = Path(__file__).resolve().parents[3] / "shared" / "data" / "spotify_songs" / \
    "spotify_songs.csv"
MAPPING = EXAMPLE_MAPPINGS / "spotify_songs.json"
runner = CliRunner()


def _row(track_id: str, **changes) -> dict:
    row = {"track_id": track_id, "track_name": f"Song {track_id}", "track_artist": "Band",
           "track_album_release_date": "1994-05-01", "playlist_genre": "rap",
           "playlist_subgenre": "gangster rap", "playlist_name": "90s Rap", "energy": "0.7",
           "valence": "0.5", "danceability": "0.8", "acousticness": "0.1",
           "instrumentalness": "0", "speechiness": "0.3", "tempo": "92.5", "loudness": "-6",
           "duration_ms": "215000", "track_popularity": "55"}
    row.update(changes)
    return row


def _csv(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "tracks.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_an_import_is_a_new_version_with_duplicates_merged(engine, tmp_path):
    add_demo_catalogue(engine=engine, actor=CLI)
    rows = [_row("a"), _row("b", track_name="NA", track_artist="NA"),
            _row("a", playlist_subgenre="hip hop", playlist_genre="pop"), _row("c")]
    result = import_catalogue(engine=engine, path=_csv(tmp_path, rows), mapping_path=MAPPING,
                              actor=CLI)
    assert (result.version, result.tracks, result.duplicates, result.skipped) == (2, 2, 1, 1)
    info, frame = load_catalogue(engine=engine, actor=CLI)
    assert info.version == 2 and info.n_tracks == 2 and list(frame["track_id"]) == ["a", "c"]
    first = frame.iloc[0]
    assert (first["genre"], first["year"], first["explicit"]) == ("rap", 1994, False)
    assert "gangster" in first["tags"] and "hip" in first["tags"]


@pytest.mark.parametrize(("change", "message"), [
    ({"energy": "1.4"}, "energy outside 0..1 in row(s) 2"),
    ({"tempo": "fast"}, "tempo is not a number in row(s) 2"),
    ({"track_album_release_date": "19x"}, "year is not a number"),
    ({"track_popularity": "101"}, "popularity outside"),
])
def test_a_bad_value_is_reported_and_nothing_changes(engine, tmp_path, change, message):
    add_demo_catalogue(engine=engine, actor=CLI)
    before = snapshot(engine)
    path = _csv(tmp_path, [_row("a"), _row("b", **change)])
    with pytest.raises(CatalogueError, match=re.escape(message)):
        import_catalogue(engine=engine, path=path, mapping_path=MAPPING, actor=CLI)
    assert snapshot(engine) == before


def test_bad_mappings_and_files_are_refused(engine, tmp_path):
    path = _csv(tmp_path, [_row("a")])
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"track_id": "track_id"}))
    with pytest.raises(CatalogueError, match="misses title"):
        import_catalogue(engine=engine, path=path, mapping_path=partial, actor=CLI)
    fields = json.loads(MAPPING.read_text())
    fields["fields"]["energy"] = "nrg"
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(fields))
    with pytest.raises(CatalogueError, match="no column 'nrg'"):
        import_catalogue(engine=engine, path=path, mapping_path=wrong, actor=CLI)
    strict = dict(json.loads(MAPPING.read_text()), skip_incomplete=False)
    (tmp_path / "strict.json").write_text(json.dumps(strict))
    with pytest.raises(CatalogueError, match="empty id, title"):
        import_catalogue(engine=engine, path=_csv(tmp_path, [_row("a", track_name="")]),
                         mapping_path=tmp_path / "strict.json", actor=CLI)
    assert current_catalogue(engine=engine, actor=CLI) is None


@pytest.mark.skipif(not SPOTIFY.is_file(), reason=f"Spotify file not found at {SPOTIFY}")
def test_the_spotify_file_imports_with_the_shipped_mapping(engine):
    result = import_catalogue(engine=engine, path=SPOTIFY, mapping_path=MAPPING, actor=CLI)
    assert result.tracks == 28352 and result.skipped == 5
    _, frame = load_catalogue(engine=engine, actor=CLI)
    assert set(frame["genre"]) == {"pop", "rap", "rock", "latin", "r&b", "edm"}
    assert frame["year"].between(1957, 2020).all()


def test_cli_import_and_show(workbench_env, tmp_path):
    assert runner.invoke(app, ["init"]).exit_code == 0
    empty = runner.invoke(app, ["catalogue", "show"])
    assert "no catalogue yet" in empty.output
    done = runner.invoke(app, ["catalogue", "import", str(_csv(tmp_path, [_row("a")])),
                               "--mapping", str(MAPPING)])
    assert done.exit_code == 0 and "catalogue version 1: 1 tracks" in done.output
    bad = runner.invoke(app, ["catalogue", "import", str(tmp_path / "none.csv"), "--mapping",
                              str(MAPPING)])
    assert bad.exit_code == 1 and "no such file" in bad.output
