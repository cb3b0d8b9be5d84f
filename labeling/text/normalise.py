"""De-obfuscating text normalisation that remembers where every character came from.

The safety rules match block and allow word lists against prompts typed into the music app,
and people who want past a filter write ``Ｈａｔｅ``, ``hаte`` (Cyrillic ``а``), ``h4te``,
``h a t e`` or ``haaaate``. ``normalise`` undoes those tricks, giving a canonical lowercase
ASCII form that a plain word list can match. A hit is only explainable if it can be shown in
what the user actually typed, so the result keeps an offset map: each normalised character
knows the ``[start, end)`` slice of the original it stands for, and ``Normalised.span`` turns a
match in the normalised text into a span of the original.

The steps, in order (``NORMALISER_VERSION`` changes whenever they do):

1. NFKC per character (fullwidth ``Ｈ`` -> ``H``, ligature ``ﬁ`` -> ``fi``). ``ftfy`` is not
   used here: it cannot report offsets.
2. Format and control characters are dropped (category ``Cf``: zero-width spaces and joiners,
   bidi controls, word joiners, BOM, soft hyphen; also ``Cc`` controls that are not
   whitespace).
3. Letters of other scripts that look like Latin letters become those letters (Cyrillic
   ``а`` -> ``a``, Greek ``ο`` -> ``o``), from the Unicode confusables table in
   ``confusable_homoglyphs``.
4. Whatever is still not ASCII is transliterated by ``anyascii`` (``é`` -> ``e``, ``ß`` ->
   ``ss``, an emoji -> ``:name:``); characters it maps to nothing are dropped.
5. Lowercase.
6. Whitespace: every run becomes one space; leading and trailing whitespace goes.
7. Then, repeated until nothing changes (each round only shortens the text or turns a leet
   character into a letter, so it ends):

   a. a run of three or more of the same letter becomes one (``haaaate`` -> ``hate``; ``kill``
      and ``good`` keep their pairs);
   b. three or more single characters, each separated from the next by one separator (space
      ``. - _ * + / | ,``), starting and ending with a letter and with more letters than leet
      characters, are joined (``h a t e``, ``h.a.t.e``, ``k-i-l-l``, ``f*u*c*k``). A masking
      character inside a word (``f*ck``) is left alone; no letter is invented. A capital ``I``
      before a lowercase spelled-out word stays a word of its own (``I h a t e it`` ->
      ``i hate it``);
   c. leetspeak: in a token of letters, digits and ``@ $ !`` that holds at least one letter,
      ``0 1 3 4 5 7 8 @ $`` become ``o i e a s t b a s`` and a ``!`` between two such
      characters becomes ``i`` (``h4te``, ``k1ll``, ``sh!t``, ``@ss``). Tokens that read as
      numbers keep their digits: two or more digits at the start or the end (``2000s``,
      ``50cent``, ``top10``) or one digit with an ordinal or unit (``3rd``, ``5pm``, ``4k``).
      A ``!`` ending a word is punctuation (``wow!``).

Everything from step 6 on works on ASCII, so the output of ``normalise`` is a fixed point:
normalising it again changes nothing. Per-character work is cached, since thousands of prompts
a second go through here. ``fold`` gives the text alone (the ML feature preprocessor);
``squeeze`` collapses every doubled letter, for matching ``kil``-style keys on both sides.

Known trade-offs: a lone single letter next to a spelled-out word joins it (``a h a t e`` ->
``ahate``, so rules should match keys inside words, not only whole words); ``mp3`` becomes
``mpe`` and ``III`` becomes ``i``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from anyascii import anyascii
from confusable_homoglyphs import confusables

from labeling.exceptions import LabelingError

NORMALISER_VERSION = "1"
"""Version of the normalisation steps; stored with anything computed from normalised text."""

_DROPPED_CATEGORIES = frozenset({"Cf", "Cc", "Cs"})
_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a",
         "$": "s", "!": "i"}
_SEPARATORS = r" .\-_*+/|,"
_TOKEN_CHARS = r"a-z0-9@$!"
_MEMBER = r"[a-z013-578@$]"
_SPACED_RUN = re.compile(
    rf"(?<![{_TOKEN_CHARS}'])[a-z](?:[{_SEPARATORS}]{_MEMBER})+[{_SEPARATORS}][a-z]"
    rf"(?![{_TOKEN_CHARS}'])"
)
_REPEAT = re.compile(r"([a-z])\1{2,}")
_TOKEN = re.compile(rf"[{_TOKEN_CHARS}]+")
_NUMBERISH = re.compile(
    r"\$?\d{2,}[a-z0-9@$!]*|[a-z0-9@$!]*?\d{2,}|\$?\d(?:st|nd|rd|th|s|am|pm|k|m|x|d)"
)
_WHITESPACE = re.compile(r"^ +| +$| {2,}")
_SQUEEZE = re.compile(r"([^\W\d_])\1+")


class SpanError(LabelingError):
    """A span asked of a ``Normalised`` text is empty or outside it."""


@dataclass(frozen=True)
class Normalised:
    """A normalised text with its map back to the original.

    Attributes
    ----------
    original : str
        The text as given.
    text : str
        The normalised text.
    starts, ends : tuple of int
        One entry per character of ``text``: the slice ``original[starts[k]:ends[k]]`` is what
        ``text[k]`` stands for. ``starts`` never decreases.
    """

    original: str
    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original (start, end) covering normalised text[start:end] (end exclusive, start < end).

        Characters dropped between the first and last normalised character (separators of a
        spelled-out word, zero-width characters) fall inside the span.

        Raises
        ------
        SpanError
            If not ``0 <= start < end <= len(text)``.
        """
        if not 0 <= start < end <= len(self.text):
            raise SpanError(
                f"span ({start}, {end}) is not a non-empty slice of a normalised text of "
                f"{len(self.text)} characters"
            )
        return self.starts[start], self.ends[end - 1]


@dataclass(frozen=True)
class _Mapped:
    """Working state: text plus, per character, its original slice."""

    text: str
    starts: list[int]
    ends: list[int]


_Edit = tuple[int, int, list[tuple[str, int, int]]]
"""Replace ``text[start:end]`` by characters, each with the first and last index (inclusive)
of the current text it stands for."""


def normalise(text: str) -> Normalised:
    """Normalise ``text`` for word-list matching, keeping the offset map (see the module doc).

    Raises
    ------
    TypeError
        If ``text`` is not a ``str``.
    """
    if not isinstance(text, str):
        raise TypeError(f"normalise expects a str, got {type(text).__name__}")
    if len(text) <= CACHED_CHARS:
        return _normalise_cached(text)
    return _normalise(text)


CACHED_CHARS = 1_200
"""Texts up to this long keep their result in a small cache: one prompt is normalised by the
safety rules, the tone features, the n-gram analysers, the slot lexicon and the retriever, and
a lexicon's phrases again at each match. ``Normalised`` is immutable, so sharing it is safe.
A result holds two offset tuples as long as the text (about 70 bytes a character), so the
cache is bounded to 256 texts of this length: about 20 MB at worst."""


def _normalise(text: str) -> Normalised:
    state = _settle(_collapse_whitespace(_fold_chars(text)), text)
    return Normalised(original=text, text=state.text, starts=tuple(state.starts),
                      ends=tuple(state.ends))


_normalise_cached = lru_cache(maxsize=256)(_normalise)


def fold(text: str) -> str:
    """The normalised text alone: ``normalise(text).text``."""
    return normalise(text).text


def squeeze(text: str) -> str:
    """Collapse every run of two or more identical letters to one (``kill`` -> ``kil``).

    Applied to both the normalised text and the word list, it lets ``kil`` match ``kiiill``
    and ``kill`` alike. Case-sensitive; digits and other characters are left alone.
    """
    return _SQUEEZE.sub(r"\1", text)


# --- per-character steps (1-5) ---------------------------------------------------------------

@lru_cache(maxsize=1 << 16)
def _fold_char(ch: str) -> str:
    """Steps 1-5 for one original character; whitespace becomes a single space."""
    if ch.isascii():
        return _fold_ascii(ch)
    return "".join(_fold_nfkc_char(c) for c in unicodedata.normalize("NFKC", ch))


def _fold_ascii(ch: str) -> str:
    if ch.isspace():
        return " "
    if unicodedata.category(ch) == "Cc":
        return ""
    return ch.lower()


def _fold_nfkc_char(ch: str) -> str:
    if ch.isascii() or ch.isspace():
        return _fold_ascii(ch)
    category = unicodedata.category(ch)
    if category in _DROPPED_CATEGORIES:
        return ""
    latin = _latin_homoglyph(ch) if category.startswith("L") else None
    return "".join(_fold_ascii(c) for c in latin or anyascii(ch)).casefold()


@lru_cache(maxsize=1 << 14)
def _latin_homoglyph(ch: str) -> str | None:
    """The ASCII letter a non-Latin letter is confusable with, keeping its case if possible.

    The confusables table maps capital I-like letters (Cyrillic ``І``, Greek ``Ι``) to ``l``,
    the skeleton of ``I``; for those the lowercase letter's homoglyph (``i``) is used instead.
    """
    found = _ascii_homoglyphs(ch)
    same_case = [c for c in found if c.isupper() == ch.isupper()]
    if same_case:
        return same_case[0]
    other = ch.lower() if ch.isupper() else ch.upper()
    if len(other) == 1 and other != ch:
        matching = [c for c in _ascii_homoglyphs(other) if c.isupper() == other.isupper()]
        if matching:
            return matching[0]
    return found[0] if found else None


@lru_cache(maxsize=1 << 14)
def _ascii_homoglyphs(ch: str) -> tuple[str, ...]:
    hits = confusables.is_confusable(ch, preferred_aliases=["latin"], greedy=True) or []
    return tuple(
        glyph["c"]
        for hit in hits
        for glyph in hit["homoglyphs"]
        if len(glyph["c"]) == 1 and glyph["c"].isascii() and glyph["c"].isalpha()
    )


_ASCII_SPACES = str.maketrans({chr(c): " " for c in range(128) if chr(c).isspace()})
_ASCII_DROPPED = re.compile(r"[\x00-\x08\x0e-\x1b\x7f]")
"""ASCII control characters that are not white space (``_fold_ascii`` drops them)."""


def _fold_chars(original: str) -> _Mapped:
    if original.isascii() and not _ASCII_DROPPED.search(original):
        # What the loop below does for such text, at C speed: one character each, lowercase,
        # white space as a space (most catalogue and prompt text takes this path).
        return _Mapped(original.lower().translate(_ASCII_SPACES), list(range(len(original))),
                       list(range(1, len(original) + 1)))
    return _fold_chars_one_by_one(original)


def _fold_chars_one_by_one(original: str) -> _Mapped:
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for i, ch in enumerate(original):
        folded = _fold_char(ch)
        if folded:
            parts.append(folded)
            starts.extend([i] * len(folded))
            ends.extend([i + 1] * len(folded))
    return _Mapped("".join(parts), starts, ends)


# --- editing with the offset map -------------------------------------------------------------

def _apply(state: _Mapped, edits: list[_Edit]) -> _Mapped:
    """Apply non-overlapping edits, given in text order, carrying the offset map along."""
    if not edits:
        return state
    text, starts, ends = state.text, state.starts, state.ends
    parts: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    pos = 0
    for start, end, chars in edits:
        parts.append(text[pos:start])
        new_starts.extend(starts[pos:start])
        new_ends.extend(ends[pos:start])
        for ch, first, last in chars:
            parts.append(ch)
            new_starts.append(starts[first])
            new_ends.append(ends[last])
        pos = end
    parts.append(text[pos:])
    new_starts.extend(starts[pos:])
    new_ends.extend(ends[pos:])
    return _Mapped("".join(parts), new_starts, new_ends)


def _collapse_whitespace(state: _Mapped) -> _Mapped:
    edits: list[_Edit] = []
    for m in _WHITESPACE.finditer(state.text):
        at_edge = m.start() == 0 or m.end() == len(state.text)
        edits.append((m.start(), m.end(), [] if at_edge else [(" ", m.start(), m.end() - 1)]))
    return _apply(state, edits)


# --- token steps (7), repeated to a fixed point ----------------------------------------------

def _settle(state: _Mapped, original: str) -> _Mapped:
    """Collapse repeats, join spelled-out words and undo leetspeak until nothing changes.

    Every edit either shortens the text or turns a leet character into a letter (and none adds
    leet characters), so the loop ends; its result is a fixed point, which is what makes
    ``normalise`` idempotent.
    """
    while True:
        settled = _leet(_join_spaced(_collapse_repeats(state), original))
        if settled.text == state.text:
            return settled
        state = settled


def _collapse_repeats(state: _Mapped) -> _Mapped:
    edits: list[_Edit] = [
        (m.start(), m.end(), [(m[1], m.start(), m.end() - 1)])
        for m in _REPEAT.finditer(state.text)
    ]
    return _apply(state, edits)


def _join_spaced(state: _Mapped, original: str) -> _Mapped:
    edits: list[_Edit] = []
    for m in _SPACED_RUN.finditer(state.text):
        members = list(range(m.start(), m.end(), 2))
        letters = sum(state.text[k].isalpha() for k in members)
        if letters <= len(members) - letters:
            continue
        if _is_pronoun_i(state, original, members):
            members = members[1:]
        edits.append((members[0], m.end(), [(state.text[k], k, k) for k in members]))
    return _apply(state, edits)


def _is_pronoun_i(state: _Mapped, original: str, members: list[int]) -> bool:
    """Whether a spelled-out run starts with the word ``I``: a capital I, then lowercase."""
    if len(members) < 4 or state.text[members[0]] != "i":
        return False
    first, second = (original[state.starts[k]:state.ends[k]] for k in members[:2])
    return first.isupper() and second.islower()


def _leet(state: _Mapped) -> _Mapped:
    edits: list[_Edit] = []
    for m in _TOKEN.finditer(state.text):
        token = m[0]
        if token.isalpha() or not any(c.isalpha() for c in token):
            continue
        if _NUMBERISH.fullmatch(token):
            continue
        edits.extend(_leet_edits(token, m.start()))
    return _apply(state, edits)


def _leet_edits(token: str, offset: int) -> Iterator[_Edit]:
    plain = [k for k, c in enumerate(token) if c != "!"]
    for k, c in enumerate(token):
        if c not in _LEET or (c == "!" and not plain[0] < k < plain[-1]):
            continue
        yield offset + k, offset + k + 1, [(_LEET[c], offset + k, offset + k)]
