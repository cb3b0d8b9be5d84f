"""Slot extraction from the default lexicon: values, spans, negation, parsed slots, artists."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labeling.dataio.demo_content import load_intent_task
from routing.default_lexicon import BLOCKED, RANKER_SLOTS, default_entries
from routing.lexicon import (
    OPPOSITES,
    ArtistIndex,
    Lexicon,
    carries_negation,
    duration_minutes,
    duration_value,
    inflections,
)
from routing.profiles import PROFILES

LEXICON = Lexicon(1, default_entries())
ARTISTS = ArtistIndex(["Daft Punk", "The Weeknd", "Ludovico Einaudi", "Tycho"])


def slots(text: str) -> dict[str, str]:
    return {m.slot: m.value for m in LEXICON.match(text, artists=ARTISTS)}


@pytest.mark.parametrize(("prompt", "expected"), [
    ("lofi beats for coding", {"genre": "lo-fi", "activity": "coding"}),
    ("something mellow and chill", {"mood": "calm", "energy": "low"}),
    ("nineties hip-hop", {"era": "90s", "genre": "hip hop"}),
    ("90s rap", {"era": "90s", "genre": "hip hop"}),
    ("piano, no vocals", {"vocals": "instrumental", "acoustic": "more"}),
    ("study music, 45 minutes", {"activity": "studying", "duration": "45 min"}),
    ("an hour of jazz", {"duration": "1 hour", "genre": "jazz"}),
    ("1.5 hours of running music", {"duration": "90 min", "activity": "running"}),
    ("180 bpm running playlist", {"tempo": "fast", "bpm": "180", "activity": "running"}),
    ("take me back to 2008", {"era": "2000s", "year": "2008"}),
    ("rap from 2019", {"genre": "hip hop", "era": "2010s", "year": "2019"}),
    ("an hour and a half of study music", {"duration": "90 min", "activity": "studying"}),
    ("1 hour 30 minutes of rock", {"duration": "90 min", "genre": "rock"}),
    ("two and a half hours, 1h30 later", {"duration": "150 min"}),
    ("songs for when i'm feeling down", {"mood": "sad"}),
    ("spa relaxation", {"mood": "calm"}),
    ("party anthems", {"occasion": "party", "energy": "high"}),
    ("music for a dinner party", {"activity": "dinner"}),
    ("tropical house", {"genre": "edm"}),
    ("dreamy synthwave", {"mood": "dreamy", "genre": "edm"}),
    ("kids party songs", {"occasion": "party", "explicit": "avoid"}),
    ("music my children can listen to", {"explicit": "avoid"}),
    ("old school r&b", {"mood": "nostalgic", "genre": "r&b"}),
    ("unplugged", {"acoustic": "more"}),
    ("música para dormir", {"activity": "sleeping"}),
    ("musique triste pour danser", {"mood": "sad", "activity": "dancing"}),
    ("songs from before 1980", {"years": "-1979"}),
    ("music after 2015, nothing mainstream", {"years": "2016-", "popularity": "low"}),
    ("rock since 2015", {"genre": "rock", "years": "2015-"}),
    ("hits between 1990 and 1995", {"years": "1990-1995", "era": "90s",
                                    "popularity": "high"}),
    ("from 2010 onwards", {"years": "2010-"}),
    ("songs from 1985 on the radio", {"era": "80s", "year": "1985"}),
    ("pop, nothing explicit", {"genre": "pop", "explicit": "avoid"}),
    ("between 120 and 130 bpm", {"bpm": "125", "tempo": "fast"}),
    ("songs under 3 minutes", {"length": "short"}),
    ("an hour of songs under 4 minutes", {"duration": "1 hour", "length": "short"}),
    ("deep cuts", {"popularity": "low"}),
    ("classic hip hop", {"mood": "nostalgic", "genre": "hip hop"}),
    ("clean songs for the kids", {"explicit": "avoid"}),
    ("gym bangers", {"activity": "working_out", "mood": "energetic", "energy": "high"}),
    ("rainy day music", {"mood": "cozy"}),
    ("summer vibes", {"mood": "happy"}),
    ("loud and aggressive", {"energy": "high", "mood": "angry"}),
    ("songs for a candlelit bath", {"mood": "calm"}),  # the longer phrase: not romantic
    ("music for a candlelit dinner", {"mood": "romantic", "activity": "dinner"}),
    ("slow songs to unwind after work", {"tempo": "slow", "mood": "calm"}),  # no work
    ("after work drinks", {"mood": "chill"}),
    ("campfire songs", {"acoustic": "more"}),
    ("friday night out", {"occasion": "party"}),
    ("moving on after a breakup", {"mood": "hopeful"}),  # the first mood named
    ("empowering anthems", {"mood": "confident", "energy": "high"}),
    ("remixes of popular songs", {"title": "remix", "popularity": "high"}),
    ("make a remix of this song", {}),  # asks to make one: no music request
    ("fewer remixes please", {}),
    ("live versions of 90s rock", {"title": "live", "era": "90s", "genre": "rock"}),
    ("3am thoughts", {"mood": "melancholic"}),
    ("good morning songs", {"activity": "waking_up"}),
    ("fewer sad songs", {"mood": "happy"}),
    ("90's hip-hop", {"era": "90s", "genre": "hip hop"}),  # a decade with an apostrophe
    ("the 1990's", {"era": "90s"}),  # the decade, not the year 1990
    ("1985's best songs", {"era": "80s", "year": "1985"}),
    ("00's pop", {"era": "2000s", "genre": "pop"}),
    ("3 hours of background music", {"duration": "3 hours", "mood": "chill"}),
])
def test_default_lexicon_reads_values(prompt, expected):
    assert slots(prompt) == expected


def test_a_negated_phrase_asks_for_its_opposite_or_for_nothing():
    assert slots("not sad songs") == {"mood": "happy"}
    assert slots("happy, not sad")["mood"] == "happy"  # the first value named still wins
    assert slots("not jazz") == {"avoid_genre": "jazz"}  # a genre has no opposite: left out


@pytest.mark.parametrize(("prompt", "expected"), [
    ("upbeat songs but no pop", {"energy": "high", "mood": "happy", "avoid_genre": "pop"}),
    ("no rap, just rock", {"avoid_genre": "hip hop", "genre": "rock"}),
    ("rock, not pop", {"genre": "rock", "avoid_genre": "pop"}),
    ("no pop punk", {"avoid_genre": "punk"}),  # the negation holds all of "pop punk"
    ("hip hop but not trap", {"genre": "hip hop"}),  # trap is hip hop: the ask wins
    ("songs for cleaning the house, no house music",
     {"activity": "cleaning", "avoid_genre": "house"}),
    ("not sad pop songs", {"mood": "happy", "genre": "pop"}),  # "sad" is negated, not "pop"
])
def test_a_negated_genre_is_one_to_leave_out(prompt, expected):
    assert slots(prompt) == expected


@pytest.mark.parametrize(("prompt", "expected"), [
    ("not too loud, something mellow", {"energy": "low", "mood": "calm"}),
    ("nothing too upbeat", {"energy": "low"}),  # upbeat's mood (happy) has no opposite
    ("I don't want anything sad", {"mood": "happy"}),
    ("anything but sad", {"mood": "happy"}),
    ("songs that aren't energetic", {"mood": "calm"}),
    ("not instrumental", {"vocals": "vocals"}),
    ("fast songs, not slow", {"tempo": "fast"}),
    ("hip hop but nothing too fast", {"genre": "hip hop", "tempo": "slow"}),
    ("not danceable", {"danceability": "low"}),
    ("avoid explicit songs", {"explicit": "avoid"}),
    ("songs that are not for kids", {}),  # a negated ask for clean songs sets nothing
    # not negations: "nothing but" means only; a full stop or comma ends the negation
    ("nothing but chill", {"mood": "chill"}),
    ("no. sad songs please", {"mood": "sad"}),
    ("no, sad songs please", {"mood": "sad"}),
    # too far from the negation, or other words between
    ("not a fan of the radio, give me sad songs", {"mood": "sad"}),
    ("no vocals, happy piano", {"vocals": "instrumental", "mood": "happy", "acoustic": "more"}),
])
def test_negations_reach_past_a_few_small_words(prompt, expected):
    assert slots(prompt) == expected


def test_the_negated_spans_are_returned_in_the_prompt_s_own_characters():
    prompt = "Hip-Hop, but NOTHING too FAST!"
    matches, negated = LEXICON.parse(prompt)
    assert [prompt[s:e] for s, e in negated] == ["NOTHING too FAST"]
    tempo = next(m for m in matches if m.slot == "tempo")
    assert (tempo.value, tempo.text) == ("slow", "NOTHING too FAST")
    assert tempo.source.startswith("not:")
    assert LEXICON.parse("no vocals please")[1] == []  # a phrase that is its own negation


@pytest.mark.parametrize(("prompt", "expected"), [
    ("give me 10 songs for running", {"count": "10", "activity": "running"}),
    ("a 30-track playlist", {"count": "30"}),
    ("five tunes please", {"count": "5"}),
    ("a dozen jams", {"count": "12"}),
    ("500 songs", {}),  # more than a list holds: not a count
    ("0 songs", {}),
    ("90s songs", {"era": "90s"}),
    ("1 hour of 80s hits", {"duration": "1 hour", "era": "80s", "popularity": "high"}),
    ("2 hours of songs", {"duration": "2 hours"}),
    ("5 chill rock songs", {"count": "5", "mood": "chill", "genre": "rock"}),
])
def test_a_number_of_songs_is_the_list_s_length(prompt, expected):
    assert slots(prompt) == expected


def test_a_number_that_ends_an_artist_s_name_is_not_a_count():
    artists = ArtistIndex(["Maroon 5", "Sum 41", "3 Doors Down"])
    read = lambda text: {m.slot: m.value for m in LEXICON.match(text, artists=artists)}  # noqa: E731
    assert "count" not in read("maroon 5 songs")
    assert "count" not in read("Sum 41 songs please")
    assert read("10 songs like maroon 5") == {"count": "10", "artist": "Maroon 5"}
    assert read("5 songs") == {"count": "5"}


@pytest.mark.parametrize(("prompt", "expected"), [
    ("the saddest songs ever", {"mood": "sad"}),
    ("something calmer", {"mood": "calm"}),
    ("the happiest songs you have", {"mood": "happy"}),
    ("not the loudest", {"energy": "low"}),
    ("litter box", {}),  # "lit" is slang, not an adjective to compare
    ("a rager", {}),
])
def test_comparatives_and_superlatives_of_mood_words(prompt, expected):
    assert slots(prompt) == expected


def test_inflections():
    assert inflections("sad") == ("sadder", "saddest")
    assert inflections("happy") == ("happier", "happiest")
    assert inflections("gentle") == ("gentler", "gentlest")
    assert inflections("loud") == ("louder", "loudest")
    assert inflections("lo-fi") == () and inflections("lit") == ()


def test_every_opposite_is_a_value_someone_reads():
    schema = load_intent_task()["slots"]
    for slot, value in OPPOSITES.values():
        if slot in RANKER_SLOTS:
            assert value in PROFILES[slot], (slot, value)
        else:
            assert value in schema[slot]["values"], (slot, value)


def test_longer_phrase_wins_and_blockers_stop_shorter_ones():
    assert slots("deep house")["genre"] == "house"
    # "house party" is a gathering, not the genre house; the genre named next still counts
    assert "genre" not in slots("music for a house party")
    assert slots("90s hip hop for a house party")["genre"] == "hip hop"


def test_a_home_is_not_the_genre_house_nor_cleaning_it_a_clean_version():
    assert slots("songs for cleaning the house") == {"activity": "cleaning"}
    assert slots("songs to clean the house to") == {"activity": "cleaning"}
    assert slots("clean rap to clean up to") == {"explicit": "avoid", "genre": "hip hop",
                                                 "activity": "cleaning"}
    assert slots("chill music around my house") == {"mood": "chill"}
    assert slots("play the house music from ibiza")["genre"] == "house"


@pytest.mark.parametrize(("prompt", "expected"), [
    ("songs with dance in the title", {"title": "dance"}),
    ("tracks with the word 'rain' in their names", {"title": "rain"}),
    ("90s songs with love in the title", {"era": "90s", "title": "love"}),
    ("titles containing night", {"title": "night"}),
    ("songs called hello by the weeknd", {"title": "hello", "artist": "The Weeknd"}),
    ("a track titled \"love story\" please", {"title": "love story"}),
    ("songs named after cities", {}),
])
def test_words_asked_for_in_the_titles_own_their_span(prompt, expected):
    assert slots(prompt) == expected


@pytest.mark.parametrize(("prompt", "expected"), [
    ("songs for a long flight", {"activity": "flying"}),
    ("HIIT workout songs", {"activity": "hiit"}),
    ("background music for writing my thesis", {"activity": "writing", "mood": "chill"}),
    ("music while writing code", {"activity": "coding"}),
    ("playlist for gardening", {"activity": "gardening"}),
    ("music for sketching", {"activity": "painting"}),
])
def test_every_activity_raters_choose_has_phrases(prompt, expected):
    assert slots(prompt) == expected


def test_first_value_of_a_slot_wins():
    assert slots("70s and 80s rock")["era"] == "70s"
    assert slots("sad love songs")["mood"] == "sad"


def test_a_slots_later_phrases_are_kept_as_its_other_spans():
    text = "No explicit pop for the KIDS, clean please"
    matches, _ = LEXICON.parse(text)
    explicit = next(m for m in matches if m.slot == "explicit")
    assert explicit.text == "No explicit"
    assert [text[s:e] for s, e in explicit.also] == ["KIDS", "clean"]
    genre = next(m for m in matches if m.slot == "genre")
    assert genre.also == () and "also" not in genre.as_dict()
    # in the JSON too, so that the Preview can mark them: [start, end] pairs
    assert [text[s:e] for s, e in explicit.as_dict()["also"]] == ["KIDS", "clean"]


def test_a_phrase_can_carry_its_own_negation():
    assert all(carries_negation(p) for p in ("no vocals", "Without lyrics", "not mainstream",
                                               "less energy", "non mainstream"))
    assert not any(carries_negation(p) for p in ("nostalgic", "notorious", "lesson", "vocals"))


def test_anthems_are_high_energy():
    assert slots("classic rock anthems")["energy"] == "high"
    assert slots("an edm anthem")["energy"] == "high"


def test_artist_is_matched_fuzzily_and_owns_its_span():
    found = {m.slot: m for m in LEXICON.match("something like daft pnk please", artists=ARTISTS)}
    assert found["artist"].value == "Daft Punk"
    assert found["artist"].text == "daft pnk"
    assert "genre" not in found  # "punk" inside the artist's name is not a genre
    assert "artist" not in slots("songs like nobody knows")


def test_spans_point_into_the_original_text():
    text = "ＣＨＩＬＬ   vibes for CODING, about 45 minutes"
    for match in LEXICON.match(text, artists=ARTISTS):
        assert text[match.start:match.end] == match.text
    found = {m.slot: m.text for m in LEXICON.match(text)}
    assert found == {"mood": "ＣＨＩＬＬ", "activity": "CODING", "duration": "45 minutes"}


def test_durations_round_trip():
    assert duration_value(45) == "45 min"
    assert duration_value(120) == "2 hours"
    assert duration_minutes("2 hours") == 120
    assert duration_minutes("45 min") == 45
    assert duration_minutes("") is None


def test_every_default_value_is_in_the_intent_task_vocabulary():
    schema = load_intent_task()["slots"]
    for entry in default_entries():
        if entry["value"] == BLOCKED:
            continue
        if entry["slot"] == "title":  # words the ranker finds in titles: any word will do
            assert entry["slot"] not in schema and entry["value"] == entry["value"].lower()
            continue
        if entry["slot"] in RANKER_SLOTS:  # not asked of raters: the ranker must read it
            assert entry["slot"] not in schema and entry["value"] in PROFILES[entry["slot"]]
            continue
        values = schema[entry["slot"]]["values"]
        assert entry["value"] in values, entry


def test_lexicon_measured_on_the_demo_labels():
    """Precision and recall of the default lexicon against the demo's slot answers."""
    from labeling.dataio.demo_content import load_intent_prompts
    from routing.lexicon import slot_scores

    pairs = [(p["text"], p.get("slots") or {}) for p in load_intent_prompts()]
    scores = {row["slot"]: row for row in slot_scores(LEXICON, pairs)}
    for slot in ("genre", "era", "duration", "vocals"):
        assert scores[slot]["precision"] >= 0.85, scores[slot]
        assert scores[slot]["recall"] >= 0.8, scores[slot]
    assert json.dumps(scores)  # plain JSON values, for the Models page


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gives_valid_spans(text):
    for match in LEXICON.match(text, artists=ARTISTS):
        assert 0 <= match.start <= match.end <= len(text)
        assert text[match.start:match.end] == match.text


@pytest.mark.parametrize("prompt, artist", [
    ("something like daft pnk please", "Daft Punk"),
    ("songs by the weekend", "The Weeknd"),
    ("music like einaudi ludovico for studying", "Ludovico Einaudi"),
    ("tracks by tycho", "Tycho"),
    ("songs like nobody knows", None),
    ("something like " + "very long words that go on " * 20, None),
])
def test_artists_are_found_through_typos_reordering_and_extra_words(prompt, artist):
    assert {m.slot: m.value for m in LEXICON.match(prompt, artists=ARTISTS)}.get("artist") \
        == artist


@pytest.mark.parametrize("prompt, artist", [
    ("songs like rene ablaze remix", "Rene Ablaze"),  # not "REMI" inside "remix"
    ("music like arhutra", None),  # not "RH" inside it
    ("something like indyah remix", "Indyah"),
])
def test_a_short_artist_name_does_not_match_inside_a_longer_word(prompt, artist):
    index = ArtistIndex(["REMI", "RH", "DY", "Rene Ablaze", "Indyah", "Daft Punk"])
    assert {m.slot: m.value for m in LEXICON.match(prompt, artists=index)}.get("artist") \
        == artist


def test_an_artist_after_a_negation_is_avoided_not_sought():
    artists = ArtistIndex(["Drake", "Taylor Swift", "Daft Punk", "Future", "Sad", "Vocals"])

    def read(text):
        return {m.slot: m.value for m in LEXICON.match(text, artists=artists)}

    assert read("hip hop but no Drake") == {"genre": "hip hop", "avoid_artist": "Drake"}
    assert read("pop without taylor swfit") == {"genre": "pop", "avoid_artist": "Taylor Swift"}
    assert read("nothing by drake please") == {"avoid_artist": "Drake"}  # not "by Drake"
    assert read("songs like Drake but not Future") == {"artist": "Drake",
                                                       "avoid_artist": "Future"}
    assert read("no daft punk") == {"avoid_artist": "Daft Punk"}  # the name whole: not punk
    # words the lexicon reads are never artists, even where an artist has that name
    assert read("no vocals") == {"vocals": "instrumental"}
    assert read("not sad") == {"mood": "happy"}  # the lexicon's negation, not "no Sad"


def test_an_artist_named_with_a_possessive_or_for_fans_of_is_sought():
    artists = ArtistIndex(["Eminem", "Queen", "Kendrick Lamar", "Arctic Monkeys", "Today", "80",
                           "Focus", "Sad"])

    def read(text):
        return {m.slot: m.value for m in LEXICON.match(text, artists=artists)}

    assert read("eminem's best songs") == {"artist": "Eminem"}
    assert read("play some of kendrick lamar's hits")["artist"] == "Kendrick Lamar"
    assert read("Queen’s greatest hits") == {"artist": "Queen", "popularity": "high"}
    assert read("music for fans of arctic monkees") == {"artist": "Arctic Monkeys"}  # a typo
    assert read("songs inspired by queen") == {"artist": "Queen"}
    # a possessive must name the artist exactly, and never a common or a lexicon word
    assert "artist" not in read("eminen's best songs")
    assert read("today's hits") == {"popularity": "high"}
    assert read("80's rock") == {"era": "80s", "genre": "rock"}
    assert read("sad's the mood") == {"mood": "sad"}


def test_an_artist_of_two_words_or_more_typed_exactly_before_hits_or_vibes_is_sought():
    artists = ArtistIndex(["Kendrick Lamar", "Taylor Swift", "The Weeknd", "Deep Sleep", "Rain",
                           "Queen"])

    def read(text):
        return {m.slot: m.value for m in LEXICON.match(text, artists=artists)}

    assert read("kendrick lamar vibes") == {"artist": "Kendrick Lamar"}
    assert read("taylor swift hits") == {"artist": "Taylor Swift", "popularity": "high"}
    assert read("the weeknd songs") == {"artist": "The Weeknd"}
    assert "artist" not in read("kendrik lamar vibes")  # no cue word: exact names only
    assert read("deep sleep songs") == {"activity": "sleeping"}  # lexicon words, not a name
    assert read("rain songs") == {} and read("queen greatest hits") == {"popularity": "high"}


@pytest.mark.parametrize(("prompt", "artist"), [
    ("tropical house by the pool", None),  # not "The The": "the" alone is no evidence
    ("acoustic songs by the fire", None),
    ("something by daft pnk", "Daft Punk"),  # a typo after a bare "by" is still found
    ("songs by the the", "The The"),
    ("music like einaudi ludovico", "Ludovico Einaudi"),  # reordered after a firm cue
    ("something by einaudi ludovico", None),  # ... but not after a bare "by"
])
def test_a_bare_by_names_an_artist_only_when_typed_closely(prompt, artist):
    index = ArtistIndex(["The The", "Arcade Fire", "Daft Punk", "Ludovico Einaudi", "Pool"])
    found = {m.slot: m.value for m in LEXICON.match(prompt, artists=index)}
    assert found.get("artist") == artist


@pytest.mark.parametrize(("prompt", "genre"), [
    ("new jack swing throwback", "r&b"),
    ("chill electropop", "pop"),
    ("electro pop for the gym", "pop"),
])
def test_sub_genres_named_in_the_catalogue_map_to_their_genre(prompt, genre):
    found = slots(prompt)
    assert found["genre"] == genre
    assert "era" not in found  # the "new" of new jack swing is not a recent era


@pytest.mark.parametrize(("prompt", "era"), [
    ("new wave classics", "80s"),
    ("new york hip hop", None),
    ("new age for meditation", None),
    ("new music friday", "recent"),
])
def test_new_is_a_recent_era_only_on_its_own(prompt, era):
    assert slots(prompt).get("era") == era
