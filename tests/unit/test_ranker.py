"""The ranker over the generated demo catalogue: constraints, filters, diversity, duration,
session signals and configurations (pure functions, no database, no encoder)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from routing.catalogue import generate_demo_catalogue
from routing.context import Context
from routing.ranker import (
    CONFIGS,
    CatalogueArrays,
    RankerConfig,
    constraint_terms,
    rank,
    rescore,
    song_codes,
    with_changes,
)
from routing.retrieval import HybridIndex, descriptors, reciprocal_rank_fusion

TRACKS = pd.DataFrame(generate_demo_catalogue(3200))
TRACKS["tags"] = ""
ARRAYS = CatalogueArrays(TRACKS)
NONE = np.zeros(len(TRACKS))


def top(slots, **kwargs):
    playlist = rank(ARRAYS, slots=slots, relevance=kwargs.pop("relevance", NONE), **kwargs)
    return playlist, TRACKS.iloc[[t.row for t in playlist.tracks]]


def test_calm_lowers_energy_by_more_than_a_standard_deviation():
    _, chosen = top({"mood": "calm", "activity": "sleeping"})
    assert len(chosen) == 20
    assert chosen["energy"].mean() <= TRACKS["energy"].mean() - TRACKS["energy"].std()


def test_workout_raises_energy_and_tempo():
    _, chosen = top({"activity": "running"})
    assert chosen["energy"].mean() >= TRACKS["energy"].mean() + TRACKS["energy"].std()
    assert chosen["tempo"].mean() > TRACKS["tempo"].mean()


def test_focus_wants_instrumental_tracks_without_speech():
    _, chosen = top({"activity": "studying"})
    assert chosen["instrumentalness"].mean() > 0.6
    assert chosen["speechiness"].mean() < TRACKS["speechiness"].mean()


def test_genre_and_era_filter():
    playlist, chosen = top({"genre": "hip hop", "era": "90s"})
    assert playlist.relaxed == []
    assert (chosen["genre"] == "hip hop").all()
    assert chosen["year"].between(1990, 1999).all()


def test_a_genre_to_leave_out_is_left_out():
    _, with_pop = top({"mood": "happy"})
    assert (with_pop["genre"] == "pop").any()  # the same ask otherwise picks pop
    playlist, chosen = top({"mood": "happy", "avoid_genre": "pop"})
    assert playlist.relaxed == [] and len(chosen) == 20
    assert not (chosen["genre"] == "pop").any()


def test_a_word_asked_for_in_the_titles_filters_whole_words_and_plurals():
    titles = TRACKS.copy()
    titles.loc[range(0, 3000, 50), "title"] = [f"Dance {i}" if i % 2 else f"Last Dances {i}"
                                               for i in range(60)]
    titles.loc[range(1, 2001, 50), "title"] = [f"Danceable {i}" for i in range(40)]  # no
    arrays = CatalogueArrays(titles)
    playlist = rank(arrays, slots={"title": "dance"}, relevance=NONE)
    chosen = titles.iloc[[t.row for t in playlist.tracks]]
    assert playlist.relaxed == [] and len(chosen) == 20
    assert chosen["title"].str.contains(r"^(?:Dance|Last Dances) ").all()
    assert all("title: dance" in t.reason for t in playlist.tracks)
    assert arrays.title_mask("dance").sum() == 60


def test_a_filter_too_few_tracks_pass_becomes_a_preference():
    playlist, chosen = top({"genre": "techno", "era": "60s"})  # techno began in 1988
    assert playlist.relaxed == ["era=60s"]
    assert (chosen["genre"] == "techno").all()
    assert len(chosen) == 20


def test_where_two_filters_cannot_both_hold_the_rarer_one_is_kept():
    # 88 tracks from the 1970s, 356 pop tracks, 35 both: "70s pop" keeps the seventies and
    # prefers pop, rather than pop with a few seventies tracks
    playlist, chosen = top({"genre": "pop", "era": "70s"})
    assert playlist.relaxed == ["genre=pop"]
    assert chosen["year"].between(1970, 1979).all()
    assert (chosen["genre"] == "pop").mean() >= 0.6  # the preference (diversity takes some)
    before = top({"genre": "pop", "era": "70s"}, config=with_changes(CONFIGS["balanced"],
                                                                     min_pool=20))
    assert before[0].relaxed == []  # 35 pass both, enough for a pool of 20


def test_a_year_keeps_that_years_tracks_and_says_so():
    playlist, chosen = top({"era": "2020s", "year": "2024"})
    assert playlist.relaxed == [] and (chosen["year"] == 2024).all()
    assert all("2024 asked: 2024" in t.reason for t in playlist.tracks)
    playlist, chosen = top({"year": "1968"})  # six such tracks: a preference
    assert playlist.relaxed == ["year=1968"] and len(chosen) == 20
    assert (chosen["year"] == 1968).sum() >= 4


def test_a_year_range_keeps_the_years_in_it():
    playlist, before = top({"years": "-1989"})
    assert before["year"].max() <= 1989 and "years=-1989" not in playlist.relaxed
    assert all("up to 1989 asked:" in t.reason for t in playlist.tracks)
    _, since = top({"years": "2021-"})
    assert since["year"].min() >= 2021
    _, between = top({"years": "1990-1995"})
    assert between["year"].between(1990, 1995).all()
    assert top({"years": "soon"})[0].relaxed == []  # not a range: ignored


def test_popularity_and_track_length_are_ranked_by_percentile():
    _, popular = top({"popularity": "high"})
    _, deep = top({"popularity": "low"})
    assert popular["popularity"].mean() > TRACKS["popularity"].quantile(0.8)
    assert deep["popularity"].mean() < TRACKS["popularity"].quantile(0.2)
    playlist, short = top({"length": "short"})
    _, long = top({"length": "long"})
    assert short["duration_ms"].max() < long["duration_ms"].min()
    assert any("short: " in t.reason and ":" in t.reason.split("short: ")[1]
               for t in playlist.tracks)  # "short: 2:31"


def test_nostalgic_prefers_the_catalogues_older_tracks():
    playlist, chosen = top({"mood": "nostalgic"})
    assert chosen["year"].mean() < TRACKS["year"].quantile(0.25)
    assert any("nostalgic: year" in t.reason for t in playlist.tracks)


def test_no_explicit_removes_explicit_tracks_always():
    _, chosen = top({"genre": "hip hop", "explicit": "avoid"})
    assert TRACKS.loc[TRACKS["genre"] == "hip hop", "explicit"].any()
    assert not chosen["explicit"].any()
    _, chosen = top({"genre": "hip hop"}, avoid_explicit=True)
    assert not chosen["explicit"].any()


@pytest.mark.parametrize("slots", [{}, {"genre": "edm"}, {"mood": "happy"},
                                   {"activity": "studying", "genre": "lo-fi"}])
def test_no_artist_more_than_twice(slots):
    _, chosen = top(slots)
    assert chosen["artist"].value_counts().max() <= 2


def test_duration_is_fitted():
    playlist, chosen = top({"mood": "happy"}, target_minutes=60)
    assert abs(chosen["duration_ms"].sum() / 60_000 - 60) <= 1.5
    assert playlist.total_ms == int(chosen["duration_ms"].sum())
    _, long = top({"mood": "happy"}, target_minutes=180)
    assert abs(long["duration_ms"].sum() / 60_000 - 180) <= 1.5


def test_every_track_has_a_reason_naming_its_constraint():
    playlist, chosen = top({"mood": "calm"})
    for track, energy in zip(playlist.tracks, chosen["energy"], strict=True):
        assert track.reason.startswith("calm: ")
        assert f"energy {energy:.2f}" in track.reason or "acousticness" in track.reason \
            or "dB" in track.reason


def test_relevance_moves_matching_tracks_up():
    index = HybridIndex(descriptors(TRACKS), np.eye(len(TRACKS), 8, dtype=np.float32))
    title = TRACKS.loc[1000, "title"]
    sparse = index.sparse(title, 50)
    assert 1000 in sparse.tolist()
    relevance = reciprocal_rank_fusion([sparse], len(TRACKS))
    playlist, _ = top({}, relevance=relevance)
    assert 1000 in [t.row for t in playlist.tracks[:5]]


def test_reciprocal_rank_fusion_rewards_agreement():
    fused = reciprocal_rank_fusion([np.array([3, 1, 2]), np.array([1, 3, 0])], 4)
    assert fused[1] == pytest.approx(1 / 62 + 1 / 61)
    assert fused[1] == fused[3]
    assert fused[1] > fused[2] and fused[1] > fused[0]


def test_skipped_artists_sink_and_saved_tracks_neighbours_rise():
    playlist, chosen = top({"genre": "edm"})
    skipped = chosen["artist"].iloc[0]
    _, after = top({"genre": "edm"}, context=Context(skipped_artists=(skipped,)))
    assert skipped not in after["artist"].head(10).tolist()

    saved = TRACKS.loc[TRACKS["genre"] == "edm"].sort_values("energy").iloc[0]
    _, liked = top({"genre": "edm"}, context=Context(saved_tracks=(saved["track_id"],)))
    assert saved["track_id"] not in liked["track_id"].tolist()
    assert liked["energy"].mean() < chosen["energy"].mean()


def test_time_of_day_shifts_the_ranking():
    _, night = top({}, context=Context(time_of_day="night"))
    _, morning = top({}, context=Context(time_of_day="morning"))
    assert night["energy"].mean() < morning["energy"].mean()
    assert morning["valence"].mean() > night["valence"].mean()


def test_same_request_same_list_and_configurations_differ():
    first, _ = top({"mood": "happy"})
    again, _ = top({"mood": "happy"})
    assert [t.row for t in first.tracks] == [t.row for t in again.tracks]
    _, discovery = top({"mood": "happy"}, config=CONFIGS["discovery"])
    _, balanced = top({"mood": "happy"})
    assert discovery["popularity"].mean() < balanced["popularity"].mean()
    assert discovery["artist"].value_counts().max() == 1


def test_configurations_are_named_and_versioned():
    changed = with_changes(CONFIGS["balanced"], popularity=0.0)
    assert (changed.name, changed.version) == ("balanced", 2)
    assert changed.label == "balanced v2"
    assert RankerConfig().as_dict()["max_per_artist"] == 2


def test_excluded_and_seed_tracks():
    playlist, chosen = top({"mood": "happy"})
    gone = playlist.tracks[0].row
    again, _ = top({"mood": "happy"}, exclude_rows=[gone])
    assert gone not in [t.row for t in again.tracks]
    acoustic = int(TRACKS["acousticness"].idxmax())
    _, seeded = top({"mood": "happy"}, seed_rows=[acoustic])
    assert seeded["acousticness"].mean() > chosen["acousticness"].mean()


def test_an_empty_catalogue_gives_an_empty_list():
    empty = CatalogueArrays(TRACKS.head(0))
    assert rank(empty, slots={"mood": "calm"}, relevance=np.zeros(0)).tracks == []


def test_a_bpm_keeps_tracks_near_that_tempo_and_says_so():
    playlist, chosen = top({"tempo": "fast", "bpm": "150"})
    assert (abs(chosen["tempo"] - 150) <= 12).all()
    assert all("150 BPM asked" in t.reason for t in playlist.tracks)


def test_a_bpm_outranks_the_tempo_range_it_came_with():
    # "between 120 and 130 bpm" reads as tempo=fast (130 BPM and up) and bpm=125
    playlist, chosen = top({"tempo": "fast", "bpm": "125"})
    assert chosen["tempo"].between(115, 135).all() and (chosen["tempo"] < 130).any()
    assert playlist.relaxed == []


def test_a_genre_with_a_sound_of_its_own_asks_for_it_too():
    assert ("metal", ("energy", "high", 1.0)) in constraint_terms({"genre": "metal"})
    without_metal = TRACKS[TRACKS["genre"] != "metal"].reset_index(drop=True)
    playlist = rank(CatalogueArrays(without_metal), slots={"genre": "metal"},
                    relevance=np.zeros(len(without_metal)))
    chosen = without_metal.iloc[[t.row for t in playlist.tracks]]
    assert playlist.relaxed == ["genre=metal"]
    assert chosen["energy"].mean() > without_metal["energy"].quantile(0.75)


def test_fast_and_slow_are_tempo_ranges():
    _, fast = top({"tempo": "fast"})
    _, slow = top({"tempo": "slow"})
    assert fast["tempo"].min() >= 130 and slow["tempo"].max() <= 95


def test_an_unusable_bpm_is_ignored():
    playlist, _ = top({"bpm": "fast"})
    assert len(playlist.tracks) == 20 and playlist.relaxed == []


def test_a_seed_artists_genres_rise_most_typical_first():
    artist = TRACKS["artist"].value_counts().index[0]
    prior = ARRAYS.artist_genre_prior(artist)
    home = TRACKS.loc[TRACKS["artist"] == artist, "genre"].mode().iloc[0]
    assert prior[(TRACKS["genre"] == home).to_numpy()].min() == 1.0
    assert ARRAYS.artist_genre_prior("nobody at all") is None
    _, chosen = top({}, prior=prior)
    assert (chosen["genre"] == home).mean() >= 0.8


def test_without_exploration_every_position_has_probability_one():
    playlist, _ = top({"mood": "happy"})
    assert playlist.propensities == [1.0] * len(playlist.tracks)


def test_exploration_samples_positions_and_logs_their_probabilities():
    explore = with_changes(CONFIGS["balanced"], exploration=0.05)
    first = rank(ARRAYS, slots={"mood": "happy"}, relevance=NONE, config=explore,
                 rng=np.random.default_rng(7))
    again = rank(ARRAYS, slots={"mood": "happy"}, relevance=NONE, config=explore,
                 rng=np.random.default_rng(7))
    other = rank(ARRAYS, slots={"mood": "happy"}, relevance=NONE, config=explore,
                 rng=np.random.default_rng(8))
    assert [t.row for t in first.tracks] == [t.row for t in again.tracks]
    assert [t.row for t in first.tracks] != [t.row for t in other.tracks]
    assert len(first.propensities) == len(first.tracks) == 20
    assert all(0.0 < p < 1.0 for p in first.propensities)
    counts = TRACKS.iloc[[t.row for t in first.tracks]]["artist"].value_counts()
    assert counts.max() <= 2  # the artist cap holds while sampling


def test_the_log_keeps_twice_the_pool_and_the_list_comes_from_its_first_half():
    explore = with_changes(CONFIGS["balanced"], exploration=0.5)
    playlist = rank(ARRAYS, slots={"mood": "happy"}, relevance=NONE, config=explore,
                    rng=np.random.default_rng(3))
    rows = playlist.candidate_rows
    assert len(rows) == 2 * explore.pool == len(set(rows.tolist()))
    assert list(playlist.candidate_scores) == sorted(playlist.candidate_scores, reverse=True)
    assert {t.row for t in playlist.tracks} <= set(rows[:explore.pool].tolist())
    # every candidate's parts give back its score under the configuration that ranked it
    np.testing.assert_allclose(rescore(playlist.candidate_parts, explore),
                               playlist.candidate_scores)


def test_a_song_shows_once_whatever_versions_the_catalogue_holds():
    # the demo catalogue with each of its best calm tracks copied twice as other versions
    best = top({"mood": "calm"})[0].tracks
    rows = [t.row for t in best[:5]]
    copies = TRACKS.iloc[rows * 2].copy()
    copies["track_id"] = [f"copy-{i}" for i in range(len(copies))]
    copies["title"] = ([f"{t} - Remastered 2011" for t in copies["title"][:5]]
                       + [f"{t} (Live)".upper() for t in copies["title"][5:]])
    arrays = CatalogueArrays(pd.concat([TRACKS, copies], ignore_index=True))
    assert len(set(arrays.song_codes.tolist())) == len(TRACKS)
    playlist = rank(arrays, slots={"mood": "calm"}, relevance=np.zeros(arrays.size))
    shown = [arrays.song_codes[t.row] for t in playlist.tracks]
    assert len(shown) == len(set(shown)) == 20
    logged = arrays.song_codes[playlist.candidate_rows]
    assert len(logged) == len(set(logged.tolist()))  # no second version among the candidates
    # the versions score alike: the one kept is the best-scored, here one of the copies or
    # the original, never two of them
    assert {arrays.song_codes[r] for r in rows} <= set(shown)


def test_song_codes_tell_versions_from_other_songs():
    tracks = pd.DataFrame({
        "artist": ["The Rolling Stones"] * 4 + ["Someone Else", "BTS", "BTS"],
        "title": ["Gimme Shelter", "Gimme Shelter - Mono", "GIMME SHELTER (2019 Remaster)",
                  "Angie", "Gimme Shelter", "작은 것들을 위한 시", "피 땀 눈물"]})
    codes = song_codes(tracks).tolist()
    assert codes[0] == codes[1] == codes[2]
    assert len({codes[0], codes[3], codes[4], codes[5], codes[6]}) == 5
