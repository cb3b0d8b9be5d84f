"""The synthetic demo catalogue: determinism, shape, ranges and genre-plausible features."""

from __future__ import annotations

from collections import Counter, defaultdict
from statistics import mean

import pytest

from routing.catalogue import CATALOGUE_FIELDS, GENRES, generate_demo_catalogue

UNIT_FEATURES = (
    "energy", "valence", "danceability", "acousticness", "instrumentalness", "speechiness",
)


@pytest.fixture(scope="module")
def catalogue() -> list[dict]:
    return generate_demo_catalogue()


@pytest.fixture(scope="module")
def by_genre(catalogue) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for track in catalogue:
        groups[track["genre"]].append(track)
    return groups


def _mean(tracks: list[dict], field: str) -> float:
    return mean(float(track[field]) for track in tracks)


def test_same_seed_same_catalogue(catalogue):
    assert generate_demo_catalogue() == catalogue
    assert generate_demo_catalogue(500, seed=3) == generate_demo_catalogue(500, seed=3)


def test_different_seed_differs(catalogue):
    assert generate_demo_catalogue(seed=8) != catalogue


def test_size_fields_and_ids(catalogue):
    assert len(catalogue) == 3200
    assert CATALOGUE_FIELDS[0] == "track_id"
    for track in catalogue:
        assert tuple(track) == CATALOGUE_FIELDS
    ids = [track["track_id"] for track in catalogue]
    assert ids[0] == "demo-00001" and ids[-1] == "demo-03200"
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 11, 100])
def test_requested_size_is_honoured(n):
    tracks = generate_demo_catalogue(n, seed=1)
    assert len(tracks) == n
    if n >= 3:
        assert min(Counter(t["artist"] for t in tracks).values()) >= 3


def test_negative_size_is_rejected():
    with pytest.raises(ValueError, match="n must be"):
        generate_demo_catalogue(-1)


def test_value_types_and_ranges(catalogue):
    for track in catalogue:
        for field in UNIT_FEATURES:
            assert isinstance(track[field], float) and 0.0 <= track[field] <= 1.0
        assert isinstance(track["year"], int) and 1960 <= track["year"] <= 2025
        assert isinstance(track["tempo"], float) and 55.0 <= track["tempo"] <= 200.0
        assert isinstance(track["loudness"], float) and -30.0 <= track["loudness"] <= -2.0
        assert isinstance(track["duration_ms"], int) and 60_000 <= track["duration_ms"] <= 900_000
        assert isinstance(track["explicit"], bool)
        assert isinstance(track["popularity"], int) and 0 <= track["popularity"] <= 100
        assert track["genre"] in GENRES
        assert track["title"].strip() and track["artist"].strip()


def test_titles_and_artists(catalogue):
    pairs = [(track["title"], track["artist"]) for track in catalogue]
    assert len(set(pairs)) == len(pairs)
    per_artist = Counter(track["artist"] for track in catalogue)
    assert 400 <= len(per_artist) <= 700
    assert min(per_artist.values()) >= 3 and max(per_artist.values()) <= 10
    home = defaultdict(set)
    for track in catalogue:
        home[track["artist"]].add(track["genre"])
    assert all(len(genres) == 1 for genres in home.values())


def test_every_genre_present(by_genre):
    assert set(by_genre) == set(GENRES)
    assert min(len(tracks) for tracks in by_genre.values()) >= 20


def test_years_skew_recent(catalogue):
    years = [track["year"] for track in catalogue]
    recent = sum(year >= 2000 for year in years)
    assert recent > 0.6 * len(years)
    assert any(year < 1980 for year in years)


def test_quiet_genres_are_quiet_and_acoustic(by_genre):
    for quiet in ("ambient", "classical"):
        assert _mean(by_genre[quiet], "energy") < 0.3
        assert _mean(by_genre[quiet], "acousticness") > 0.75
        assert _mean(by_genre[quiet], "instrumentalness") > 0.75
        assert _mean(by_genre[quiet], "loudness") < _mean(by_genre["pop"], "loudness") - 8
    assert _mean(by_genre["edm"], "energy") > _mean(by_genre["ambient"], "energy") + 0.4


def test_dance_genres(by_genre):
    for genre in ("edm", "house"):
        tempo = _mean(by_genre[genre], "tempo")
        assert 122 <= tempo <= 131
        assert _mean(by_genre[genre], "danceability") > _mean(by_genre["classical"], "danceability")
        assert _mean(by_genre[genre], "energy") > 0.7


def test_metal_is_loud_and_energetic(by_genre):
    others = [t for genre, tracks in by_genre.items() if genre != "metal" for t in tracks]
    assert _mean(by_genre["metal"], "energy") > 0.8
    assert _mean(by_genre["metal"], "loudness") > _mean(others, "loudness")


def test_hip_hop_is_wordy_and_more_often_explicit(by_genre, catalogue):
    hip_hop = by_genre["hip hop"]
    assert _mean(hip_hop, "speechiness") > _mean(by_genre["pop"], "speechiness") + 0.1
    assert _mean(hip_hop, "explicit") > 2 * _mean(catalogue, "explicit")
    assert not any(t["explicit"] for t in by_genre["classical"])


def test_lofi_is_instrumental_and_slow(by_genre):
    lofi = by_genre["lo-fi"]
    assert _mean(lofi, "instrumentalness") > 0.7
    assert all(70 <= t["tempo"] <= 90 for t in lofi)


def test_jazz_sits_between(by_genre):
    edm, jazz, classical = (
        _mean(by_genre[genre], "acousticness") for genre in ("edm", "jazz", "classical")
    )
    assert edm < jazz < classical


def test_index_records_are_plain_values_with_nan_for_gaps():
    import numpy as np
    import pandas as pd

    from routing.catalogue_index import CatalogueIndex

    tracks = pd.DataFrame(generate_demo_catalogue(120))
    tracks["tags"] = pd.Series(["warm tape"] * 120, dtype="str").where(tracks.index != 3)
    vectors = np.random.default_rng(0).standard_normal((120, 8)).astype(np.float32)
    index = CatalogueIndex.build(None, tracks, vectors / np.linalg.norm(vectors, axis=1,
                                                                         keepdims=True))
    fields = ["track_id", "title", "tags", "year", "energy", "explicit"]
    got = index.records([3, 0, 3], fields)
    for record, row in zip(got, [3, 0, 3], strict=True):
        for f in fields[:2] + fields[3:]:
            assert record[f] == tracks.iloc[row][f] and type(record[f]) in (str, int, float, bool)
    assert [type(r["tags"]) for r in got] == [float, str, float]
    assert np.isnan(got[0]["tags"]) and got[1]["tags"] == "warm tape"
