"""De-obfuscating normalisation: each trick maps to the plain word, innocent text survives, and
the offset map always points back into the original (hypothesis for the map's invariants)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labeling.exceptions import LabelingError
from labeling.text.normalise import (
    NORMALISER_VERSION,
    Normalised,
    SpanError,
    fold,
    normalise,
    squeeze,
)

SETTINGS = settings(max_examples=300, deadline=None)

HATE_FORMS = [
    "Ｈａｔｅ",  # fullwidth
    "h\u0430te",  # Cyrillic a
    "h\u03b1te",  # Greek alpha
    "ha\u200bte",  # zero-width space inside
    "h\u202eate",  # bidi override
    "h\u00e1te",  # precomposed a-acute
    "ha\u0301te",  # a + combining acute
    "h4te",
    "h@te",
    "haaaate",
    "h a t e",
    "h.a.t.e",
    "h-a-t-e",
    "h_a_t_e",
    "h 4 t e",
    "HATE",
]

OTHER_WORDS = {
    "KILL": "kill",
    "k1ll": "kill",
    "kiiiill": "kill",
    "k-i-l-l": "kill",
    "sh!t": "shit",
    "$hit": "shit",
    "@ss": "ass",
    "a$$": "ass",
    "f*u*c*k": "fuck",
    "l33t": "leet",
    "r0ck3t": "rocket",
    "\u0441\u0430\u0440": "cap",  # Cyrillic es, a, er
    "\u039a\u0399\u039b\u039b": "kill",  # Greek capitals kappa, iota, lambda, lambda
    "\ufb01ne": "fine",  # ligature
}

INNOCENT = [
    "play 3 songs from the 2000s",
    "50% off",
    "I am a big fan of ABBA",
    "Scunthorpe",
    "cocktail",
    "Assassin's Creed",
    "songs from the 80s and 90s",
    "the 3rd track at 5pm",
    "wow! that was good!",
    "Bee Gees",
]


# --- each obfuscation maps to the plain word -------------------------------------------------

@pytest.mark.parametrize("form", HATE_FORMS)
def test_obfuscated_forms_give_the_word(form: str) -> None:
    assert re.search(r"\bhate\b", normalise(form).text)
    assert re.search(r"\bhate\b", normalise(f"I {form} it").text)


@pytest.mark.parametrize(("text", "expected"), sorted(OTHER_WORDS.items()))
def test_other_words(text: str, expected: str) -> None:
    assert normalise(text).text == expected


@pytest.mark.parametrize("text", INNOCENT)
def test_innocent_text_is_only_lowercased(text: str) -> None:
    assert normalise(text).text == text.lower()


def test_masked_word_is_left_for_the_rule_engine() -> None:
    assert normalise("f*ck").text == "f*ck"
    assert normalise("f**k").text == "f**k"


def test_normal_words_are_not_joined() -> None:
    assert normalise("I am a big fan").text == "i am a big fan"
    assert normalise("a b c").text == "abc"


def test_pronoun_i_stays_a_word_before_a_spelled_out_word() -> None:
    assert normalise("I h a t e it").text == "i hate it"
    assert normalise("I D I O T").text == "idiot"


def test_trailing_exclamation_is_punctuation() -> None:
    assert normalise("P!nk rocks!").text == "pink rocks!"


def test_numbers_keep_their_digits() -> None:
    assert normalise("top10 2000s 1st 4k").text == "top10 2000s 1st 4k"


def test_repeats_of_two_stay_and_longer_runs_collapse() -> None:
    assert normalise("good kill").text == "good kill"
    assert normalise("sooooo goooood").text == "so god"


def test_whitespace_is_collapsed_and_stripped() -> None:
    n = normalise("  play \t\n  this\u3000now  ")
    assert n.text == "play this now"
    assert n.original[slice(*n.span(4, 5))] == " \t\n  "


def test_format_and_control_characters_are_dropped() -> None:
    hidden = "\u00adh\u200ba\u200ct\u200de\u2060\ufeff\u202a\u2064\x00"
    assert normalise(hidden).text == "hate"


def test_emoji_becomes_a_name() -> None:
    assert normalise("love \U0001f600").text == "love :grinning:"


def test_empty_and_blank_text() -> None:
    for text in ("", "   ", "\u200b\u200b"):
        n = normalise(text)
        assert (n.text, n.starts, n.ends) == ("", (), ())


# --- spans point back at what the user typed --------------------------------------------------

@pytest.mark.parametrize("form", HATE_FORMS)
def test_span_of_the_match_is_the_obfuscated_word(form: str) -> None:
    original = f"I {form} it"
    n = normalise(original)
    match = re.search(r"hate", n.text)
    assert match is not None
    start, end = n.span(*match.span())
    assert original[start:end] == form
    assert normalise(original[start:end]).text == "hate"


def test_collapsed_run_spans_the_whole_run() -> None:
    n = normalise("haaaate")
    assert n.span(1, 2) == (1, 5)


def test_expanded_character_maps_every_piece_to_it() -> None:
    n = normalise("\ufb01ne")
    assert n.text == "fine"
    assert n.span(0, 1) == n.span(1, 2) == n.span(0, 2) == (0, 1)


@pytest.mark.parametrize(("start", "end"), [(0, 0), (2, 1), (-1, 2), (0, 99)])
def test_span_refuses_empty_or_outside_slices(start: int, end: int) -> None:
    with pytest.raises(SpanError):
        normalise("hate").span(start, end)
    assert issubclass(SpanError, LabelingError)


def test_normalise_refuses_non_text() -> None:
    with pytest.raises(TypeError):
        normalise(b"hate")  # type: ignore[arg-type]


# --- squeeze, fold, version --------------------------------------------------------------------

def test_squeeze_collapses_every_doubled_letter() -> None:
    assert squeeze("kill") == squeeze("kiiill") == "kil"
    assert squeeze("good 2000s") == "god 2000s"
    assert squeeze("") == ""


def test_version_is_a_string() -> None:
    assert isinstance(NORMALISER_VERSION, str) and NORMALISER_VERSION


# --- properties ---------------------------------------------------------------------------------

def _chars(first: int, last: int) -> list[str]:
    return [chr(c) for c in range(first, last + 1)]


ALPHABET = (
    list("abcdefhiklostuvxyzABCDEHIKLOST")
    + list("0123456789")
    + list(" \t\n.-_*+/|,!@$%'?&")
    + _chars(0x0430, 0x044F) + list("\u0406\u0456\u0455\u0410\u041d")  # Cyrillic
    + _chars(0x03B1, 0x03C9) + _chars(0x0391, 0x03A9)  # Greek
    + _chars(0xFF01, 0xFF5E)  # fullwidth ASCII
    + _chars(0x0300, 0x0310)  # combining marks
    + list("\u200b\u200c\u200d\u200e\u200f\u202a\u202e\u2060\u2064\ufeff\u00ad")
    + list("\ufb01\u00bd\u00df\u0131\u00e9\U0001f600\u3000")
)
obfuscated_text = st.text(alphabet=st.sampled_from(ALPHABET), max_size=60)
any_text = st.text(max_size=40)


def _check_map(n: Normalised) -> None:
    assert len(n.starts) == len(n.ends) == len(n.text)
    for start, end in zip(n.starts, n.ends, strict=True):
        assert 0 <= start < end <= len(n.original)
    assert list(n.starts) == sorted(n.starts)
    assert list(n.ends) == sorted(n.ends)


@SETTINGS
@given(obfuscated_text)
def test_offset_map_is_well_formed(text: str) -> None:
    _check_map(normalise(text))


@SETTINGS
@given(any_text)
def test_offset_map_is_well_formed_on_any_unicode(text: str) -> None:
    _check_map(normalise(text))


@SETTINGS
@given(obfuscated_text)
def test_normalise_is_idempotent(text: str) -> None:
    once = normalise(text).text
    assert normalise(once).text == once


@SETTINGS
@given(any_text)
def test_normalise_is_idempotent_on_any_unicode(text: str) -> None:
    once = normalise(text).text
    assert normalise(once).text == once


@SETTINGS
@given(obfuscated_text)
def test_fold_is_the_normalised_text(text: str) -> None:
    assert fold(text) == normalise(text).text


@SETTINGS
@given(obfuscated_text)
def test_output_is_lowercase_ascii_without_edge_or_double_spaces(text: str) -> None:
    out = normalise(text).text
    assert out == out.lower()
    assert out.isascii()
    assert out == out.strip() and "  " not in out
    assert not any(c.isspace() and c != " " for c in out)


@SETTINGS
@given(obfuscated_text, st.data())
def test_any_span_is_a_non_empty_slice_of_the_original(text: str, data: st.DataObject) -> None:
    n = normalise(text)
    if not n.text:
        return
    start = data.draw(st.integers(0, len(n.text) - 1))
    end = data.draw(st.integers(start + 1, len(n.text)))
    first, last = n.span(start, end)
    assert 0 <= first < last <= len(text)


@settings(max_examples=300)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=60))
def test_the_ascii_fast_path_folds_like_the_character_loop(text):
    from labeling.text.normalise import _fold_chars, _fold_chars_one_by_one

    fast, slow = _fold_chars(text), _fold_chars_one_by_one(text)
    assert (fast.text, list(fast.starts), list(fast.ends)) == (
        slow.text, list(slow.starts), list(slow.ends))
