"""The ranking suite: prompts through the real router path (default lexicon and rules, MiniLM
through PyTorch and as int8 ONNX, hybrid retrieval, the balanced ranker) over the Spotify
catalogue in ``../shared/data``, each checked against the constraint the prompt asks for, on the
top 20.

Every case also checks what holds for every list: no artist more than twice, no song twice (two
versions of it: "Gimme Shelter" and "Gimme Shelter - Mono"), 20 tracks (or the asked-for
length), a reason on every track.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labeling.ml.encoders import make_encoder
from routing.catalogue_index import CatalogueIndex
from routing.default_lexicon import default_entries
from routing.lexicon import Lexicon
from routing.profiles import GENRE_ALIASES
from routing.retrieval import dense_descriptors
from routing.router import Router
from routing.tracks import EXAMPLE_MAPPINGS, read_catalogue
from safety.policy import DEFAULT_SETTINGS, SafetyGate
from safety.rules import default_rule_set

SPOTIFY = Path(__file__).resolve().parents[3] / "shared" / "data" / "spotify_songs" / \
    "spotify_songs.csv"
pytestmark = [pytest.mark.slow(seconds=550),
              pytest.mark.skipif(not SPOTIFY.is_file(),
                                 reason=f"Spotify file not found at {SPOTIFY}")]


@pytest.fixture(scope="module", params=["minilm", "minilm-onnx-int8"])
def router(request, tmp_path_factory) -> Router:
    """The router with each selectable real encoder: the int8 ONNX one must pass every case
    the PyTorch one passes."""
    tracks = read_catalogue(SPOTIFY, EXAMPLE_MAPPINGS / "spotify_songs.json").frame()
    encoder = make_encoder(request.param, cache_dir=tmp_path_factory.mktemp("encoders"))
    vectors = encoder.encode(dense_descriptors(tracks))
    gate = SafetyGate(rules=default_rule_set(), model=None, encoder=None, task=None,
                      policy_version=None, settings=dict(DEFAULT_SETTINGS))
    return Router(encoder=encoder, gate=gate, intent=None, examples=None,
                  lexicon=Lexicon(1, default_entries()),
                  catalogue=CatalogueIndex.build(None, tracks, vectors))


Check = Callable[[pd.DataFrame, pd.DataFrame], bool]


def below(feature: str, sds: float = 1.0) -> Check:
    return lambda top, all_: top[feature].mean() <= all_[feature].mean() - sds * all_[feature].std()


def above(feature: str, sds: float = 1.0) -> Check:
    return lambda top, all_: top[feature].mean() >= all_[feature].mean() + sds * all_[feature].std()


def years(low: int, high: int, share: float = 0.8) -> Check:
    return lambda top, _: top["year"].between(low, high).mean() >= share


def genre(name: str, share: float = 0.8) -> Check:
    words = [f" {w} " for w in GENRE_ALIASES.get(name, (name,))]

    def check(top: pd.DataFrame, _: pd.DataFrame) -> bool:
        text = (" " + top["genre"].str.lower() + " " + top["tags"].str.lower() + " ")
        return text.map(lambda t: any(w in t for w in words)).mean() >= share
    return check


def no_genre(name: str) -> Check:
    any_of = genre(name, share=1e-9)  # true once a single track is of the genre
    return lambda top, all_: not any_of(top, all_)


def none_explicit(top: pd.DataFrame, _: pd.DataFrame) -> bool:
    return not top["explicit"].any()


def minutes(target: float, tolerance: float = 2.0) -> Check:
    return lambda top, _: abs(top["duration_ms"].sum() / 60_000 - target) <= tolerance


def artist_share(name: str, share: float) -> Check:
    return lambda top, _: (top["artist"] == name).mean() <= share


def title_contains(word: str, share: float) -> Check:
    return lambda top, _: top["title"].str.lower().str.contains(word).mean() >= share


def no_title_with(word: str) -> Check:
    return lambda top, _: not top["title"].str.lower().str.contains(word).any()


def no_artist(name: str) -> Check:
    return lambda top, _: not (top["artist"] == name).any()


def popularity(high: bool) -> Check:
    if high:
        return lambda top, all_: top["popularity"].mean() >= all_["popularity"].quantile(0.75)
    return lambda top, all_: top["popularity"].mean() <= all_["popularity"].median()


def each_under(minutes: float, share: float = 0.7) -> Check:
    return lambda top, _: (top["duration_ms"] < minutes * 60_000).mean() >= share


def same_genre_as(artist: str, share: float = 0.6) -> Check:
    def check(top: pd.DataFrame, all_: pd.DataFrame) -> bool:
        home = all_.loc[all_["artist"] == artist, "genre"].mode().iloc[0]
        return (top["genre"] == home).mean() >= share
    return check


CASES: list[tuple[str, list[Check]]] = [
    ("calm piano for sleep", [below("energy")]),
    ("something to fall asleep to", [below("energy")]),
    ("soft music for a nap", [below("energy"), below("loudness")]),
    ("meditation music", [below("energy")]),
    ("relaxing yoga flow", [below("energy", 0.8)]),
    ("90s hip hop", [years(1990, 1999), genre("hip hop")]),
    ("nineties rap classics", [years(1990, 1999), genre("hip hop")]),
    ("80s rock anthems", [years(1980, 1989), genre("rock")]),
    ("70s classic rock", [years(1970, 1979), genre("rock")]),
    ("2000s pop hits", [years(2000, 2009), genre("pop")]),
    ("throwback r&b from the 90s", [years(1990, 1999), genre("r&b")]),
    ("new music from this year", [years(2018, 2020)]),
    ("latin party", [genre("latin"), above("danceability", 0.5)]),
    ("reggaeton para bailar", [genre("reggaeton")]),
    ("progressive house", [genre("house")]),
    ("edm for the gym", [genre("edm"), above("energy", 0.5)]),
    ("hard rock workout", [genre("rock"), above("energy")]),
    ("gym bangers", [above("energy")]),
    ("high energy running mix", [above("energy")]),
    ("180 bpm running playlist", [above("tempo")]),
    ("pump up songs for lifting", [above("energy")]),
    ("happy upbeat songs", [above("valence")]),
    ("feel good summer songs", [above("valence", 0.7)]),
    ("sad songs to cry to", [below("valence")]),
    ("heartbreak ballads", [below("valence", 0.7), below("energy", 0.7)]),
    ("dark and moody", [below("valence")]),
    ("angry songs to scream along to", [above("energy"), below("valence", 0.5)]),
    ("instrumental music for studying", [above("instrumentalness"), below("speechiness", 0.3)]),
    ("focus music, no vocals", [above("instrumentalness")]),
    ("deep work coding session", [above("instrumentalness", 0.7), below("speechiness", 0.3)]),
    ("dance party", [above("danceability")]),
    ("club night dancing", [above("danceability")]),
    ("acoustic chill for a cozy evening", [above("acousticness"), below("energy", 0.7)]),
    ("slow songs", [below("tempo", 0.7)]),
    ("fast songs", [above("tempo", 0.7)]),
    ("no explicit pop for the kids", [none_explicit, genre("pop")]),
    ("clean hip hop for the car", [none_explicit, genre("hip hop")]),
    ("an hour of happy pop", [minutes(60), genre("pop"), above("valence", 0.5)]),
    ("45 minutes of workout music", [minutes(45), above("energy", 0.7)]),
    ("2 hours of chill", [minutes(120), below("energy", 0.7)]),
    ("songs like Daft Punk", [artist_share("Daft Punk", 0.1), same_genre_as("Daft Punk")]),
    ("more like Drake", [artist_share("Drake", 0.1), same_genre_as("Drake")]),
    ("music similar to metallica", [artist_share("Metallica", 0.1),
                                    same_genre_as("Metallica")]),
    ("songs about summer", [title_contains("summer", 0.5)]),
    ("love songs", [title_contains("love", 0.5)]),
    ("chill lofi beats", [below("energy", 0.7)]),
    ("sad 2010s pop", [years(2010, 2019), genre("pop"), below("valence", 0.7)]),
    ("energetic 80s pop", [years(1980, 1989), genre("pop"), above("energy", 0.5)]),
    ("spa relaxation", [below("energy")]),
    ("songs for when I'm feeling down", [below("valence", 0.7)]),
    ("música para dormir", [below("energy", 0.7)]),
    ("rap from 2019", [years(2019, 2019, 0.7), genre("hip hop")]),
    ("songs from 1985", [years(1985, 1985, 0.6)]),
    ("sixties pop", [years(1960, 1969, 0.8)]),
    ("old school r&b", [genre("r&b"), years(1950, 2005, 0.7)]),
    ("instrumental piano", [above("instrumentalness"), above("acousticness", 0.5)]),
    ("party anthems", [above("danceability", 0.5)]),
    ("an hour and a half of study music", [minutes(90), above("instrumentalness", 0.5)]),
    ("hip hop but no Drake", [no_artist("Drake"), genre("hip hop")]),
    ("pop without Taylor Swift", [no_artist("Taylor Swift"), genre("pop")]),
    ("underground hip hop", [popularity(high=False), genre("hip hop")]),
    ("deep cuts, nothing mainstream", [popularity(high=False)]),
    ("the most popular songs right now", [popularity(high=True)]),
    ("songs from before 1980", [years(1950, 1979, 0.9)]),
    ("rock since 2015", [years(2015, 2020, 0.9), genre("rock")]),
    ("songs under 3 minutes", [each_under(3)]),
    ("classic hip hop", [genre("hip hop"), years(1985, 2005, 0.5)]),
    ("loud music", [above("loudness", 0.5)]),
    ("between 120 and 130 bpm", [lambda top, _: top["tempo"].between(115, 135).mean() >= 0.8]),
    ("popular rap songs", [genre("hip hop"), popularity(high=True)]),
    ("feel good 70s music", [years(1970, 1979), above("valence", 0.5)]),
    # negations ask for the opposite, and retrieval does not look for the negated words
    ("not too loud, something mellow", [below("energy")]),
    ("songs that are not sad", [above("valence")]),
    ("not danceable", [below("danceability")]),
    ("rock that isn't too fast", [genre("rock"), below("tempo")]),
    ("I don't want anything upbeat, just some indie", [genre("indie"), below("energy")]),
    ("no slow songs for the gym", [above("energy"), above("tempo")]),
    ("give me 10 songs for running", [lambda top, _: len(top) == 10, above("energy")]),
    ("rainy day music", [below("energy"), above("acousticness")]),
    ("summer vibes", [above("valence")]),
    ("loud and aggressive", [above("energy"), below("valence", 0.5)]),
    ("the saddest songs ever", [below("valence")]),
    # a fifth round of probes (3 December)
    ("songs with dance in the title", [title_contains("dance", 0.8)]),
    ("songs called hello", [title_contains("hello", 0.7)]),  # the file has 15 of them
    ("heavy metal", [above("energy"), above("loudness", 0.5)]),
    ("spoken word", [above("speechiness")]),
    ("spanish pop", [genre("latin")]),
    ("slow jams", [genre("r&b"), below("energy")]),
    ("songs for cleaning the house", [above("energy", 0.5), above("valence", 0.5)]),
    ("wake me up", [above("energy", 0.5)]),
    ("top 40", [popularity(high=True)]),
    ("music for a funeral", [below("valence"), below("energy")]),
    ("low tempo r&b", [genre("r&b"), below("tempo", 0.7)]),
    ("give me some bops", [above("valence")]),
    ("emotional rap", [genre("hip hop"), below("valence", 0.7)]),
    ("grime", [genre("hip hop")]),
    ("music for a long flight", [below("energy", 0.7)]),
    ("hiit workout", [above("energy")]),
    # a sixth round (3 December): a genre to leave out
    ("upbeat songs but no pop", [above("energy"), above("valence"), no_genre("pop")]),
    ("workout music, no rap", [above("energy"), no_genre("hip hop")]),
    ("chill music but not r&b", [below("energy"), no_genre("r&b")]),
    # settings and occasions that ask for a sound
    ("songs for a candlelit bath", [below("energy")]),
    ("sunset on the beach", [below("energy")]),
    ("campfire songs", [above("acousticness")]),
    ("after work drinks", [below("energy")]),
    ("hangover cure", [below("energy")]),
    ("bbq in the backyard", [above("valence")]),
    ("moving on after a breakup", [above("valence", 0.5)]),
    ("friday night out", [above("danceability")]),
    ("spooky songs", [below("valence")]),
    ("remixes of popular songs", [title_contains("remix", 0.8), popularity(high=True)]),
    ("3am thoughts", [below("valence"), below("energy")]),
    ("good morning songs", [above("valence")]),
    ("90's hip-hop", [years(1990, 1999), genre("hip hop")]),
    ("eminem's best songs", [artist_share("Eminem", 0.1), same_genre_as("Eminem")]),
    ("music for fans of Arctic Monkeys", [artist_share("Arctic Monkeys", 0.1),
                                          same_genre_as("Arctic Monkeys")]),
    ("kendrick lamar vibes", [artist_share("Kendrick Lamar", 0.1),
                              same_genre_as("Kendrick Lamar", 0.5)]),
    ("taylor swift hits", [artist_share("Taylor Swift", 0.1), same_genre_as("Taylor Swift"),
                           popularity(high=True)]),
    # seventh round: children as a filter, a genre the file names in its playlists
    ("kids party songs", [none_explicit, above("danceability")]),
    ("songs my children can listen to", [none_explicit]),
    ("dreamy synthwave", [genre("edm")]),
    # eighth round: the file's sub-genres by name, and a place after "by"
    ("new jack swing throwback", [genre("r&b")]),
    ("chill electropop", [genre("pop")]),
    ("tropical house by the pool", [genre("edm")]),
    # ninth round: a filter named twice, anthems
    ("no explicit pop for the kids", [none_explicit, genre("pop"), no_title_with("kid")]),
    ("clean rap for the car with my kids", [none_explicit, genre("hip hop"),
                                            no_title_with("kid"), no_title_with("clean")]),
    ("classic rock anthems", [genre("rock"), above("energy", 0.5)]),
    ("high energy edm with no vocals", [genre("edm"), above("energy"),
                                        above("instrumentalness", 0.5), no_title_with("vocal")]),
]


@pytest.mark.parametrize(("prompt", "checks"), CASES, ids=[c[0] for c in CASES])
def test_ranking_case(router, prompt, checks):
    result = router.route(prompt, use_cache=False)
    frame = router.catalogue.tracks
    top = frame.iloc[[t.row for t in result.playlist.tracks]]
    assert result.decision.fallback is None, result.decision
    assert len(top) >= 10
    assert top["artist"].value_counts().max() <= 2
    song = (top["artist"].str.lower() + "|"
            + top["title"].str.lower().str.split(r" - | \(", regex=True).str[0].str.strip())
    assert song.value_counts().max() == 1, song[song.duplicated()].tolist()  # no song twice
    assert all(t["reason"] for t in result.tracks)
    failed = [i for i, check in enumerate(checks) if not check(top, frame)]
    assert not failed, (prompt, failed, result.decision.slot_values(),
                        top[["artist", "title", "year", "genre", "energy", "valence"]]
                        .head(8).to_string())


def test_the_suite_is_large_enough():
    assert len(CASES) >= 40


def test_stage_times_are_recorded(router):
    result = router.route("upbeat indie for a road trip", use_cache=False)
    timings = result.decision.timings_ms
    assert {"safety", "encode", "intent", "slots", "retrieval", "ranking", "total"} <= set(
        timings)
    assert timings["total"] >= timings["ranking"]
    assert np.isfinite(list(timings.values())).all()
