"""The title word index: whole words, plurals, phrases, folding, and the same answer as a scan."""

import re

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from labeling.text.normalise import fold
from routing.title_index import MASKS_KEPT, TitleIndex

TITLES = ["Dance Monkey", "Last Dances", "Danceable", "A Love Song", "Song of Love",
          "Love Songs Forever", "Canción de Amor", "Don't Stop Me Now", "Rock 'n' Roll",
          "Rain", "Rainy Days", "Dance Monkey", "愛のうた", "I Love Rock 'n' Roll", "!!!"]


def found(words: str, titles: list[str] = TITLES) -> list[str]:
    mask = TitleIndex(pd.Series(titles)).mask(words)
    return [t for t, hit in zip(titles, mask, strict=True) if hit]


def scan(words: str, titles: list[str]) -> list[str]:
    """What a regular expression over every folded title finds (the index's reference)."""
    key = fold(words)
    pattern = re.compile(rf"(?<![a-z0-9]){re.escape(key)}(?:s|es)?(?![a-z0-9])")
    return [t for t in titles if pattern.search(fold(t))]


def test_a_word_is_found_whole_and_as_a_plural_in_every_track_that_holds_it():
    assert found("dance") == ["Dance Monkey", "Last Dances", "Dance Monkey"]
    assert found("rain") == ["Rain"]  # "Rainy" is another word


def test_a_phrase_is_found_in_order_and_its_last_word_as_a_plural():
    assert found("love song") == ["A Love Song", "Love Songs Forever"]
    assert found("rock 'n' roll") == ["Rock 'n' Roll", "I Love Rock 'n' Roll"]
    assert found("don't stop") == ["Don't Stop Me Now"]


def test_asks_and_titles_are_folded_alike():
    assert found("CANCIÓN") == ["Canción de Amor"]
    assert found("cancion de amor") == ["Canción de Amor"]
    assert found("ainouta") == ["愛のうた"]


def test_an_ask_without_letters_or_digits_scans_the_titles_and_a_missing_word_finds_none():
    assert found("!!!") == ["!!!"]
    assert found("zebra") == [] and found("love zebra") == []
    assert found("dance", []) == []


def test_masks_are_kept_for_a_bounded_number_of_asks():
    index = TitleIndex(pd.Series(TITLES))
    first = index.mask("dance")
    assert index.mask("Dance") is first  # the same folded ask: the kept mask
    for n in range(MASKS_KEPT + 5):
        index.mask(f"word{n}")
    assert len(index._masks) <= MASKS_KEPT
    assert index.mask("dance").tolist() == first.tolist()


WORDS = st.sampled_from(["dance", "love", "song", "rain", "rock", "n", "roll", "s", "don",
                         "t", "de", "amor", "cancion", "day", "me"])


@settings(max_examples=150, deadline=None)
@given(titles=st.lists(st.lists(WORDS | st.sampled_from(["'", "-", "!", "Days", "É"]),
                                min_size=1, max_size=5).map(" ".join), max_size=30),
       ask=st.lists(WORDS, min_size=1, max_size=3).map(" ".join) | WORDS.map(str.upper))
def test_the_index_finds_what_a_scan_of_every_title_finds(titles, ask):
    assert found(ask, titles) == scan(ask, titles)
