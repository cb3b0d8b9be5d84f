"""Slots from a versioned lexicon: words and slang mapped to slot values, with their spans.

A prompt is normalised (``labeling.text.normalise``), then every lexicon phrase is matched on
whole words; one phrase may set several slots ("bangers": mood=energetic and energy=high);
within a slot the longest match wins where two overlap and the earliest value is kept; a
phrase after a negation ("not", "no", "without", "less", "nothing", "don't", "anything but",
with up to three words such as "too", "very" or "want" between) is turned into its opposite
where the slot has one ("not too loud": energy=low; "no sad songs": mood=happy; "not
instrumental": vocals=vocals; ``OPPOSITES``), a negated genre is one to leave out ("no pop":
avoid_genre=pop), other negated values are dropped ("not for studying"), and the router
leaves the negated words out of retrieval's query. Durations are parsed ("45 minutes", "an
hour and a half" -> ``duration``), a BPM gives the tempo (and ``bpm``) and a year its decade
(and ``year``); a seed artist is read after "like", "similar to", "by", "in the style of" and
matched fuzzily against the catalogue's artists with ``rapidfuzz`` ("like daft pnk" -> Daft
Punk), and its name is then no other slot's ("daft punk" is not the genre punk). Every slot
keeps the span of the prompt it came from.

The lexicon is data: each change (``add_phrase``, ``remove_phrase``) stores a new version of
the whole list and an audit event; the first use stores ``routing.default_lexicon`` as
version 1.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy.engine import Engine
from sqlmodel import Session

from labeling.exceptions import LabelingError
from labeling.project import authz
from labeling.project.authz import Actor, Capability, requires
from labeling.project.exporting import label_rows
from labeling.project.tasks import task_info
from labeling.text.normalise import Normalised, normalise
from routing.default_lexicon import BLOCKED, default_entries
from storage.db import session_scope, write_scope
from storage.models import LexiconVersion
from storage.repositories import audit
from storage.repositories import routing as routing_repo

NEGATIONS = frozenset({"not", "no", "without", "less", "fewer", "never", "dont", "don't", "nothing",
                       "none", "isn't", "isnt", "aren't", "arent", "avoid", "hate", "zero"})
NEGATION_PAIRS = frozenset({("anything", "but"), ("do", "not"), ("other", "than")})
"""Two-word negations ("anything but sad")."""
NEGATION_GAP = frozenset({"too", "very", "so", "that", "overly", "really", "super", "at", "all",
                          "particularly", "any", "anything", "much", "more", "want", "need",
                          "like", "something", "stuff", "the", "a", "for", "be", "it",
                          "songs", "music", "tracks", "of", "kinda", "sort"})
"""Words that may stand between a negation and what it negates ("not too loud", "I don't want
anything sad"); at most ``NEGATION_REACH`` of them."""
NEGATION_REACH = 3
NEGATED_PHRASES_OK = ("no ", "without ", "not ", "nothing ", "non ", "less ")
"""Phrases that carry their own negation ("no vocals", "less energy") are not negated again,
and what they name is not wanted (``carries_negation``)."""
OPPOSITES: dict[tuple[str, str], tuple[str, str]] = {
    ("energy", "high"): ("energy", "low"), ("energy", "low"): ("energy", "high"),
    ("tempo", "fast"): ("tempo", "slow"), ("tempo", "slow"): ("tempo", "fast"),
    ("mood", "sad"): ("mood", "happy"), ("mood", "melancholic"): ("mood", "happy"),
    ("mood", "dark"): ("mood", "happy"), ("mood", "lonely"): ("mood", "happy"),
    ("mood", "angry"): ("mood", "calm"), ("mood", "anxious"): ("mood", "calm"),
    ("mood", "energetic"): ("mood", "calm"), ("mood", "calm"): ("mood", "energetic"),
    ("mood", "chill"): ("mood", "energetic"),
    ("vocals", "instrumental"): ("vocals", "vocals"),
    ("vocals", "vocals"): ("vocals", "instrumental"),
    ("popularity", "high"): ("popularity", "low"), ("popularity", "low"): ("popularity", "high"),
    ("length", "long"): ("length", "short"), ("length", "short"): ("length", "long"),
    ("explicit", "allow"): ("explicit", "avoid"),
    ("activity", "dancing"): ("danceability", "low"),
    ("occasion", "party"): ("danceability", "low"),
}
"""What a negated phrase asks for, where its slot has an opposite: "not too loud" is quiet,
"nothing sad" is cheerful, "not energetic" is calm. A negated genre is one to leave out
("upbeat but no pop": ``avoid_genre``). Another negated value ("not for studying", "not happy":
sad or only calm?) sets nothing."""
PARSED_SLOTS = ("duration", "count", "artist", "avoid_artist", "title")
ARTIST_SCORE = 88
ARTIST_WORDS = 6
"""The longest artist name looked up after a cue word, in words ("like" in a long prompt is
followed by the rest of the sentence; a fuzzy search with all of it costs milliseconds)."""
ARTIST_CUES = re.compile(r"(?:(?<![a-z0-9])(?P<cue>sounds? like|similar to|in the style of|"
                         r"songs by|music by|tracks by|more from|fans of|a fan of|inspired by|"
                         r"influenced by|like|by))\s+(?P<name>[^,.;!?]+)")
LOOSE_CUES = frozenset({"by"})
"""Cues that often name no one ("by the pool", "by the fire"): the name after them must be
typed exactly or with a typo, never matched by a shared word alone."""
POSSESSIVE = re.compile(r"(?<![a-z0-9'])(?P<name>[a-z0-9][a-z0-9 &.$!-]*?)'s(?![a-z0-9])")
"""An artist named with a possessive ("eminem's best songs", "queen's greatest hits"): looked up
exactly (no typos), the last one to ``ARTIST_WORDS`` words before it, longest first."""
NAME_BEFORE = re.compile(r"(?<![a-z0-9])(?:greatest hits|hits|songs|tracks|vibes|type beat|"
                         r"classics|essentials|deep cuts|playlist|radio)(?![a-z0-9])")
"""Words after an artist typed with no cue ("kendrick lamar vibes", "taylor swift hits"): the
name before them is an artist where it is exact and two words or more (one word would catch
the artists named like ordinary words: "rain songs", "focus music")."""
NOT_POSSESSORS = frozenset({
    "today", "tonight", "yesterday", "tomorrow", "week", "weekend", "month", "year", "night",
    "summer", "winter", "spring", "autumn", "world", "everyone", "everybody", "nobody", "mom",
    "dad", "mum", "mother", "father", "valentine", "let", "that", "what", "there", "here", "he",
    "she", "who", "where", "how", "why", "when", "one", "life", "love", "party", "girl", "boy"})
"""Words before "'s" that are contractions or time and people words ("today's hits", "that's
sad", "mom's favourites"), never an artist one word long."""
AVOID_CUES = re.compile(r"(?:(?<![a-z0-9])(?:nothing by|nothing from|no songs by|not by|no more|"
                        r"anything but|other than|except|excluding|without|minus|no|not))"
                        r"\s+(?P<name>[^,.;!?]+)")
"""Cue words before an artist the listener does not want ("hip hop but no Drake")."""
COMMON_WORDS = frozenset({"the", "a", "an", "of", "and", "my", "me", "you", "your", "i", "it",
                          "to", "in", "on", "is", "be", "this", "that", "more", "any", "one"})
"""Words too common to narrow a typo search ("the" is in thousands of artists' names)."""
ARTIST_STOP = re.compile(r"\s+(?:but|for|with|and|or|to|while|when|at|in|on|from|that|"
                         r"playlist|songs?|music|vibes?|please)(?![a-z0-9]).*$")
DURATION = re.compile(
    r"(?<![a-z0-9.])(?P<number>\d+(?:\.\d+)?|an?|one|two|three|half an?)\s*-?\s*"
    r"(?P<unit>hours?|hrs?|h|minutes?|mins?|m)(?![a-z0-9])")
_HOURS = r"(?P<hours>\d+|an?|one|two|three)"
COMPOUND_DURATION = re.compile(
    rf"(?<![a-z0-9.])(?:{_HOURS}\s*-?\s*(?:hours?|hrs?|h)\s*(?:and\s+)?"
    r"(?:(?P<half>a half)|(?P<minutes>\d{1,2})\s*(?:minutes?|mins?|m)(?![a-z0-9]))"
    r"|(?P<compact_hours>\d)h(?P<compact_minutes>[0-5]\d)(?![a-z0-9])"
    r"|(?P<whole>\d+|one|two|three)\s+and\s+a\s+half\s+(?:hours?|hrs?)(?![a-z0-9]))")
"""Two-part durations: "an hour and a half", "1 hour 30 minutes", "1h30", "two and a half
hours"."""
TRACK_LENGTH = re.compile(
    r"(?<![a-z0-9])(?:(?P<short>under|less than|shorter than|below|max|at most)|"
    r"(?P<long>over|more than|longer than|at least))\s+(?P<minutes>\d{1,2})"
    r"\s*(?:minutes?|mins?|m)(?![a-z0-9])")
"""A length for each track, not the playlist: "songs under 3 minutes", "tracks over 6 minutes"
(up to ``MAX_TRACK_MINUTES``)."""
MAX_TRACK_MINUTES = 10
WORD_NUMBERS = {"a": 1.0, "an": 1.0, "one": 1.0, "two": 2.0, "three": 3.0, "half a": 0.5,
                "half an": 0.5}
MAX_PHRASE = 80
ARTIST_SLOTS = ("artist", "avoid_artist")
OWNING_SLOTS = (*ARTIST_SLOTS, "title")
"""Slots whose span is no other slot's: an artist's name ("daft punk" is not the genre punk)
and a word asked for in the titles ("dance in the title" is not the activity dancing)."""
_QUOTE = "[\"'\u2018\u2019\u201c\u201d]?"
TITLE_WORD = re.compile(
    r"(?<![a-z0-9])(?:with|having|containing|contain|contains|has|have)\s+"
    rf"(?:the\s+words?\s+|a\s+)?{_QUOTE}(?P<word>[a-z0-9][a-z0-9' -]{{0,30}}?){_QUOTE}\s+"
    r"in\s+(?:the|their|its|the song'?s|the track'?s)?\s*(?:titles?|names?)(?![a-z0-9])"
    r"|(?<![a-z0-9])(?:titles?|names?)\s+(?:with|containing|that contains?|including|"
    rf"that (?:has|have))\s+(?:the\s+words?\s+)?{_QUOTE}(?P<after>[a-z0-9][a-z0-9'-]{{0,30}})")
"""A word asked for in the titles: "songs with dance in the title", "tracks with the word
'rain' in their names", "titles containing love"."""
TITLE_NAMED = re.compile(
    r"(?<![a-z0-9])(?:songs?|tracks?|music|anything|something)\s+(?:called|titled|named)\s+"
    rf"{_QUOTE}(?P<name>[^,.;!?\"\u201c\u201d]{{1,60}})")
"""A title asked for by name: "songs called hello", "a track titled 'love story'"."""
TITLE_STOP = re.compile(r"(?:['\u2019\u201d]\s*$)|\s+(?:but|for|with|and|or|to|while|when|at|"
                        r"in|on|from|that|by|playlist|songs?|music|vibes?|please)(?![a-z0-9]).*$")
TITLE_WORDS = 4
TITLE_CUE_WORDS = ("title", "name", "called")
"""A word one of which every title ask holds ("titled" and "named" contain two of them)."""
NOT_TITLES = frozenset({"after", "for", "like", "by", "from", "in", "on", "as"})
"""Words that start no asked-for title ("songs named after cities")."""


class LexiconError(LabelingError):
    """A lexicon change that cannot be made as asked."""


@dataclass(frozen=True)
class SlotMatch:
    """One slot read from a prompt: its value and where in the prompt it came from."""

    slot: str
    value: str
    start: int
    end: int
    text: str
    source: str
    """The lexicon entry id, ``duration`` or ``artist``."""
    also: tuple[tuple[int, int], ...] = field(default=(), compare=False)
    """Where later phrases of the same slot sit in the prompt (the earliest value counts:
    "no explicit pop for the kids" reads explicit from "no explicit", and "kids" is here), so
    that a filter's every phrase can be left out of what is searched."""

    def as_dict(self) -> dict[str, Any]:
        """The slot as JSON; ``also`` (``[[start, end], ...]``) only where the prompt names the
        slot again."""
        out = {"slot": self.slot, "value": self.value, "start": self.start, "end": self.end,
               "text": self.text, "source": self.source}
        if self.also:
            out["also"] = [[start, end] for start, end in self.also]
        return out


def _pattern(phrase: str) -> re.Pattern[str]:
    words = normalise(phrase).text.split()
    body = r"[^a-z0-9]*".join(re.escape(w) for w in words)
    return re.compile(rf"(?<![a-z0-9]){body}(?![a-z0-9])")


INFLECTED_SLOTS = ("mood", "energy", "tempo")
"""Slots whose one-word phrases also match as comparatives and superlatives ("saddest",
"calmer", "chillest", "happiest"): adjectives, unlike an activity's "runner"."""


NOT_ADJECTIVES = frozenset({"lit", "rage", "cry", "boss", "zen", "spa", "hype", "relax",
                            "unwind", "grief", "tears", "breakup", "banger", "bangers"})
"""One-word mood and energy phrases that are nouns or verbs ("a rager", "litter")."""


def inflections(word: str) -> tuple[str, ...]:
    """A one-word adjective's comparative and superlative ("sad": "sadder", "saddest";
    "happy": "happier", "happiest"; "gentle": "gentler", "gentlest")."""
    if len(word) < 3 or not word.isalpha() or word in NOT_ADJECTIVES:
        return ()
    if word.endswith("e"):
        return word + "r", word + "st"
    if word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ier", word[:-1] + "iest"
    if word[-1] not in "aeiouwxy" and word[-2] in "aeiou" and word[-3] not in "aeiou":
        return word + word[-1] + "er", word + word[-1] + "est"  # sad, hot, mad
    return word + "er", word + "est"


class Lexicon:
    """One version of the lexicon, compiled."""

    def __init__(self, version: int, entries: list[dict[str, Any]]) -> None:
        self.version = version
        self.entries = entries
        # by first word (a match holds it): a prompt's phrases are found by ~one substring test
        # per distinct first word instead of a regular-expression scan per entry
        self._by_first: dict[str, list[tuple[int, dict, re.Pattern[str], tuple[str, ...], bool]]]
        self._by_first = {}
        listed = {normalise(e["phrase"]).text for e in entries}
        for number, entry in enumerate(entries):
            words = tuple(normalise(entry["phrase"]).text.split())
            if not words:
                continue
            negatable = not carries_negation(entry["phrase"])
            forms = [words[0]]
            if len(words) == 1 and entry["slot"] in INFLECTED_SLOTS:
                forms += [form for form in inflections(words[0]) if form not in listed]
            for form in forms:  # whether a negation before it drops it
                self._by_first.setdefault(form, []).append(
                    (number, entry, _pattern(form if form != words[0] else entry["phrase"]),
                     words[1:], negatable))
        # words never an artist's whole name: fixed per version, not built per prompt
        self._first_words = frozenset(self._by_first)
        self._not_artists = self._first_words | COMMON_WORDS
        self._not_possessors = self._not_artists | NOT_POSSESSORS

    @staticmethod
    def _negation_start(text: str, start: int) -> int | None:
        """Where the negation of the phrase at ``start`` begins (``None``: not negated)."""
        words = list(re.finditer(r"\S+", text[:start]))
        for gap in range(min(NEGATION_REACH, len(words)) + 1):
            if gap and words[-gap].group().strip(",.;!?") not in NEGATION_GAP:
                return None
            if len(words) <= gap:
                return None
            cue = words[-gap - 1]
            if cue.group().strip(",.;!?") in NEGATIONS and not cue.group().endswith((",", ".")):
                return cue.start()
            if len(words) > gap + 1 and (words[-gap - 2].group(), cue.group()) in NEGATION_PAIRS:
                return words[-gap - 2].start()
        return None

    def _phrase_matches(self, normalised: Normalised
                        ) -> tuple[list[tuple[int, int, dict]], list[tuple[int, int, dict]]]:
        """The phrases found, in the lexicon's order, and the negated ones with the span from
        their negation."""
        text, found, negated = normalised.text, [], []
        for first, compiled in self._by_first.items():
            if first not in text:
                continue
            for number, entry, pattern, rest, negatable in compiled:
                if not all(word in text for word in rest):
                    continue
                for match in pattern.finditer(text):
                    cue = self._negation_start(text, match.start()) if negatable else None
                    if cue is None:
                        found.append((number, match.start(), match.end(), entry))
                    else:
                        negated.append((number, cue, match.end(), entry))
        found.sort(key=lambda f: f[0])  # in the lexicon's order, as before the index
        negated.sort(key=lambda f: f[0])
        return ([(start, end, entry) for _, start, end, entry in found],
                [(start, end, entry) for _, start, end, entry in negated])

    def match(self, text: str, *, artists: ArtistIndex | None = None) -> list[SlotMatch]:
        """The slots of ``text``: one value per slot (the first the prompt names)."""
        return self.parse(text, artists=artists)[0]

    def parse(self, text: str, *, artists: ArtistIndex | None = None
              ) -> tuple[list[SlotMatch], list[tuple[int, int]]]:
        """The slots of ``text`` and the spans of ``text`` that negate a phrase ("not too
        loud"), whether or not the negation set a slot (what retrieval should not look for)."""
        normalised = normalise(text)
        found, negated = self._phrase_matches(normalised)
        candidates = [(s, e, entry["slot"], entry["value"], entry["id"])
                      for s, e, entry in _outside_negations(found, negated)]
        candidates += [(s, e, *OPPOSITES[(entry["slot"], entry["value"])], f"not:{entry['id']}")
                       for s, e, entry in negated
                       if (entry["slot"], entry["value"]) in OPPOSITES]
        candidates += _avoided_genres(negated)
        candidates += [(s, e, "duration", v, "duration") for s, e, v in _durations(normalised)]
        candidates += [(s, e, slot, v, slot) for s, e, slot, v in _numbers(normalised)
                       if not (slot == "count" and artists is not None
                               and artists.named_before(normalised.text, s))]
        candidates += [(s, e, "title", v, "title") for s, e, v in _titles(normalised.text)]
        if artists is not None:
            avoided = artists.find_avoided(normalised, not_names=self._first_words)
            found_artists = [*artists.find(normalised),
                             *artists.find_possessive(normalised, not_names=self._not_possessors),
                             *artists.find_before(normalised, not_names=self._not_artists)]
            candidates += [(s, e, "artist", v, "artist") for s, e, v in found_artists
                           if not any(s < a_end and a_start < e for a_start, a_end, _ in avoided)]
            candidates += [(s, e, "avoid_artist", v, "avoid_artist") for s, e, v in avoided]
        # An artist's name or a title word is taken whole first ("daft punk" is not the genre
        # punk); then within each slot the longest phrase wins an overlap; then the earliest
        # value counts.
        owned = [(c[0], c[1]) for c in candidates if c[2] in OWNING_SLOTS]
        taken: dict[str, list[tuple[int, int]]] = {}
        kept = []
        for start, end, slot, value, source in sorted(candidates,
                                                      key=lambda c: (c[0] - c[1], c[0])):
            spans = taken.setdefault(slot, [])
            blocked = spans if slot in OWNING_SLOTS else [*spans, *owned]
            if any(start < e and s < end for s, e in blocked):
                continue
            spans.append((start, end))
            if value != BLOCKED:
                kept.append((start, end, slot, value, source))
        chosen: dict[str, SlotMatch] = {}
        later: dict[str, list[tuple[int, int]]] = {}
        for start, end, slot, value, source in sorted(kept):
            o_start, o_end = normalised.span(start, end)
            if slot in chosen:
                later.setdefault(slot, []).append((o_start, o_end))
            else:
                chosen[slot] = SlotMatch(slot, value, o_start, o_end, text[o_start:o_end],
                                         source)
        chosen = {slot: replace(match, also=tuple(later.get(slot, ())))
                  for slot, match in chosen.items()}
        asked, avoided = chosen.get("genre"), chosen.get("avoid_genre")
        if asked and avoided and asked.value == avoided.value:  # "hip hop but not trap":
            del chosen["avoid_genre"]                           # trap is hip hop; the ask wins
        spans = sorted({normalised.span(s, e) for s, e, _ in negated})
        return sorted(chosen.values(), key=lambda m: m.start), spans


def carries_negation(phrase: str) -> bool:
    """Whether ``phrase`` names what is not wanted by its own first word ("no vocals", "not
    mainstream", "less energy")."""
    return normalise(phrase).text.startswith(NEGATED_PHRASES_OK)


def _outside_negations(found: list, negated: list) -> list:
    """The phrases found that no negated phrase of their slot holds ("no pop punk" is not the
    genre punk)."""
    return [(start, end, entry) for start, end, entry in found
            if not any(n_start <= start and end <= n_end and other["slot"] == entry["slot"]
                       for n_start, n_end, other in negated)]


def _avoided_genres(negated: list) -> list[tuple[int, int, str, str, str]]:
    """Negated genres, as ones to leave out ("upbeat but no pop")."""
    return [(start, end, "avoid_genre", entry["value"], f"not:{entry['id']}")
            for start, end, entry in negated if entry["slot"] == "genre"]


def _minutes(number: str, unit: str) -> float | None:
    amount = WORD_NUMBERS.get(number) if not number[0].isdigit() else float(number)
    if amount is None:
        return None
    return amount * 60 if unit.startswith("h") else amount


def duration_value(minutes: float) -> str:
    """The value raters write: ``45 min``, ``1 hour``, ``3 hours``, ``90 min``."""
    if minutes >= 60 and minutes % 60 == 0:
        hours = int(minutes // 60)
        return f"{hours} hour{'s' if hours > 1 else ''}"
    return f"{round(minutes)} min"


def duration_minutes(value: str) -> float | None:
    """Minutes in a duration value (``duration_value``'s output or a rater's "2 hours")."""
    spans = _duration_spans(normalise(value).text)
    return spans[0][2] if spans else None


def _compound_minutes(match: re.Match[str]) -> float | None:
    if match["compact_hours"]:
        return int(match["compact_hours"]) * 60 + int(match["compact_minutes"])
    if match["whole"]:
        return (_minutes(match["whole"], "hours") or 0) + 30
    hours = _minutes(match["hours"], "hours")
    if hours is None:
        return None
    return hours + (30 if match["half"] else int(match["minutes"]))


def _duration_spans(text: str) -> list[tuple[int, int, float]]:
    """(start, end, minutes) of every duration in ``text``, in order; a two-part duration is
    read whole ("an hour and a half" is 90 minutes, not an hour)."""
    found = [(m.start(), m.end(), _compound_minutes(m)) for m in COMPOUND_DURATION.finditer(text)]
    found += [(m.start(), m.end(), _minutes(m["number"], m["unit"]))
              for m in DURATION.finditer(text)
              if not any(s < m.end() and m.start() < e for s, e, _ in found)]
    return sorted((s, e, minutes) for s, e, minutes in found if minutes is not None)


BPM = re.compile(r"(?<![a-z0-9.])(?:(?:between\s+)?(?P<low>\d{2,3})\s*(?:-|to|and)\s*)?"
                 r"(?P<bpm>\d{2,3})\s*bpm(?![a-z0-9])")
"""A tempo in BPM, or a range of them ("between 120 and 130 bpm": aimed at its middle)."""
_Y = r"(?:19[5-9]\d|20[0-3]\d)"
YEAR = re.compile(rf"(?<![a-z0-9.'])(?P<year>{_Y})(?P<decade>'s)?(?![a-z0-9])")
"""A year ("songs from 1985"); "the 1990's" is a decade (a lexicon phrase), not the year 1990."""
YEAR_RANGE = re.compile(
    rf"(?<![a-z0-9])(?:(?:between|from)\s+(?P<low>{_Y})\s*(?:and|to|-|until|till)\s*"
    rf"(?P<high>{_Y})"
    rf"|(?P<low_only>{_Y})\s*(?:-|to)\s*(?P<high_only>{_Y})"
    rf"|(?P<before>before|pre|prior to|earlier than|older than)\s*-?\s*(?P<before_year>{_Y})"
    rf"|(?P<until>until|till|up to|up until|no later than)\s+(?P<until_year>{_Y})"
    rf"|(?P<after>after|post|later than|newer than)\s*-?\s*(?P<after_year>{_Y})"
    rf"|(?P<since>since|from)\s+(?P<since_year>{_Y})\s*(?P<onward>onwards?|and later|or later)?"
    rf"|(?P<plus>{_Y})\s*(?:onwards?|and later|or later|and newer|\+))(?![a-z0-9])")
"""Years as a range: "between 1990 and 1995", "1990-1995", "before 1980", "until 1999",
"after 2015", "since 2015", "2015 onwards". A plain "from 1985" is that year itself."""
MIN_BPM, MAX_BPM = 40, 250
COUNT_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
               "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15,
               "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "a dozen": 12}
_COUNT_GAP = (r"(?:(?!(?:hours?|hrs?|h|minutes?|mins?|m|of|from|by|like|to|in|and|or|"
              r"per|at)\b)[a-z&'-]+\s+){0,2}")
TRACK_COUNT = re.compile(
    r"(?<![a-z0-9.])(?P<n>\d{1,3}|" + "|".join(COUNT_WORDS) + r")(?:\s*-\s*|\s+)" + _COUNT_GAP
    + r"(?:songs?|tracks?|tunes|bangers|hits|jams)(?![a-z0-9])")
"""How many tracks the list should hold: "10 songs", "a 30-track playlist", "five tunes",
"5 chill rock songs" (up to two words between, not "2 hours of songs")."""
MAX_COUNT = 100
DECADES = {1960: "60s", 1970: "70s", 1980: "80s", 1990: "90s", 2000: "2000s", 2010: "2010s"}


def _numbers(normalised: Normalised) -> list[tuple[int, int, str, str]]:
    """Tempo from a BPM ("180 bpm" -> fast, and bpm=180) and era from a year ("2008" -> 2000s,
    and year=2008, for a ranker that can aim at the year itself)."""
    out = []
    for match in BPM.finditer(normalised.text):
        bpm = int(match["bpm"]) if not match["low"] else round(
            (int(match["low"]) + int(match["bpm"])) / 2)
        tempo = "slow" if bpm < 90 else "fast" if bpm >= 120 else "medium"
        out.append((match.start(), match.end(), "tempo", tempo))
        if MIN_BPM <= bpm <= MAX_BPM:  # the number itself, for a ranker that can aim at it
            out.append((match.start(), match.end(), "bpm", str(bpm)))
    out += [(start, end, "length", value) for start, end, value in _track_lengths(normalised.text)]
    out += [(m.start(), m.end(), "count", str(n)) for m in TRACK_COUNT.finditer(normalised.text)
            if 1 <= (n := COUNT_WORDS.get(m["n"]) or int(m["n"])) <= MAX_COUNT]
    ranges = _year_ranges(normalised.text)
    for start, end, low, high in ranges:
        out.append((start, end, "years", f"{low or ''}-{high or ''}"))
        if low and high and low // 10 == high // 10 and low // 10 * 10 in DECADES:
            out.append((start, end, "era", DECADES[low // 10 * 10]))
    for match in YEAR.finditer(normalised.text):
        if any(s <= match.start() < e for s, e, _, _ in ranges):
            continue  # part of a range, not that year
        year = int(match["year"])
        if match["decade"] and year % 10 == 0:
            continue
        era = DECADES.get(year // 10 * 10, "recent" if year >= 2020 else None)
        if era:
            out.append((match.start(), match.end(), "era", era))
            out.append((match.start(), match.end(), "year", str(year)))
    return out


def _titles(text: str) -> list[tuple[int, int, str]]:
    """(start, end, words) of each word or name asked for in the titles; the span covers the
    whole ask ("with dance in the title"), so none of its words sets another slot."""
    out: list[tuple[int, int, str]] = []
    if not any(cue in text for cue in TITLE_CUE_WORDS):  # most prompts: no regular expression
        return out
    for match in TITLE_WORD.finditer(text):
        word = " ".join((match["word"] or match["after"]).split())
        if word and len(word.split()) <= TITLE_WORDS:
            out.append((match.start(), match.end(), word))
    for match in TITLE_NAMED.finditer(text):
        name = TITLE_STOP.sub("", match["name"]).strip(" '\u2019\u201d")
        if name and len(name.split()) <= TITLE_WORDS and name.split()[0] not in NOT_TITLES:
            out.append((match.start(), match.start("name") + len(name), name))
    return out


def _track_lengths(text: str) -> list[tuple[int, int, str]]:
    """(start, end, ``short`` or ``long``) of each per-track length ("under 3 minutes")."""
    return [(m.start(), m.end(), "short" if m["short"] else "long")
            for m in TRACK_LENGTH.finditer(text)
            if int(m["minutes"]) <= MAX_TRACK_MINUTES]


def _year_ranges(text: str) -> list[tuple[int, int, int | None, int | None]]:
    """(start, end, first year or None, last year or None) of each year range in ``text``."""
    out = []
    for match in YEAR_RANGE.finditer(text):
        groups = {k: int(v) for k, v in match.groupdict().items() if v and v[0].isdigit()}
        if "low" in groups or "low_only" in groups:
            low = groups.get("low", groups.get("low_only"))
            high = groups.get("high", groups.get("high_only"))
            if low > high:
                low, high = high, low
        elif "before_year" in groups:
            low, high = None, groups["before_year"] - 1
        elif "until_year" in groups:
            low, high = None, groups["until_year"]
        elif "after_year" in groups:
            low, high = groups["after_year"] + 1, None
        elif "since_year" in groups:
            if match["since"] == "from" and not match["onward"]:
                continue  # "from 1985": that year
            low, high = groups["since_year"], None
        else:
            low, high = groups["plus"], None
        out.append((match.start(), match.end(), low, high))
    return out


def _durations(normalised: Normalised) -> list[tuple[int, int, str]]:
    out = []
    per_track = _track_lengths(normalised.text)
    for start, end, minutes in _duration_spans(normalised.text):
        if any(s <= start < e for s, e, _ in per_track):
            continue  # "songs under 3 minutes" is each song's length
        if 5 <= minutes <= 600:
            out.append((start, end, duration_value(minutes)))
    return out


class ArtistIndex:
    """The catalogue's artists, for fuzzy matching after cue words.

    A name typed after a cue word is looked up exactly first; then by plain edit distance over
    every name (a typo anywhere: "daft pnk"); then by ``WRatio`` (which also scores partial and
    reordered matches: "einaudi ludovico", "the weeknd remix") over only the artists that share
    a word with it. ``WRatio`` over every name took about 10 ms at Spotify's 10,700 artists and
    let a short name match inside a longer one ("rene ablaze remix" found the artist "REMI",
    "arhutra" found "RH").
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = sorted(set(names))
        self._folded = [normalise(n).text for n in self.names]
        self._exact = {}
        for i, folded in enumerate(self._folded):
            self._exact.setdefault(folded, i)
        self._by_word: dict[str, list[int]] = {}
        for i, folded in enumerate(self._folded):
            for word in set(folded.split()):
                self._by_word.setdefault(word, []).append(i)

    def named_before(self, text: str, start: int) -> bool:
        """Whether the number at ``start`` of ``text`` ends an artist's name with the words
        before it ("maroon 5 songs", "sum 41 songs" are not five or 41 songs)."""
        number = text[start:].split()[0] if text[start:].split() else ""
        number = re.match(r"\w+", number)
        words = text[:start].split()
        return number is not None and any(
            " ".join([*words[-n:], number.group()]) in self._exact
            for n in range(1, min(3, len(words)) + 1))

    def _fuzzy(self, name: str, *, by_shared_word: bool = True) -> int | None:
        """The artist ``name`` names with a typo anywhere or (``by_shared_word``) reordered or
        with extra words, among the artists that share a word with it that is not one of
        ``COMMON_WORDS`` ("the pool" is not "The The")."""
        best = process.extractOne(name, self._folded, scorer=fuzz.ratio,
                                  score_cutoff=ARTIST_SCORE)  # a typo anywhere
        if best is not None:
            return best[2]
        if not by_shared_word:
            return None
        rows = sorted({i for word in set(name.split()) - COMMON_WORDS
                       for i in self._by_word.get(word, ())})
        if not rows:
            return None
        best = process.extractOne(name, [self._folded[i] for i in rows], scorer=fuzz.WRatio,
                                  score_cutoff=ARTIST_SCORE)
        return rows[best[2]] if best is not None else None

    def find(self, normalised: Normalised) -> list[tuple[int, int, str]]:
        """(start, end, artist) of each artist named after a cue word ("like", "by")."""
        out = []
        for start, name, cue in _named(ARTIST_CUES, normalised.text):
            index = self._exact.get(name)  # typed exactly: no fuzzy search over every name
            if index is None:
                index = self._fuzzy(name, by_shared_word=cue not in LOOSE_CUES)
            if index is not None:
                out.append((start, start + len(name), self.names[index]))
        return out

    def _exact_tail(self, before: str, end: int, *, shortest: int,
                    refuse: Callable[[list[str]], bool]) -> tuple[int, int, str] | None:
        """(start, end, artist) of the longest exact artist name, ``shortest`` to
        ``ARTIST_WORDS`` words, that ends ``before`` (the prompt's text up to ``end``), unless
        ``refuse`` turns down its words."""
        words = before.split()[-ARTIST_WORDS:]
        for n in range(len(words), shortest - 1, -1):
            name = " ".join(words[-n:])
            index = self._exact.get(name)
            if index is not None and not refuse(words[-n:]):
                return end - len(name), end, self.names[index]
        return None

    def find_possessive(self, normalised: Normalised, *,
                        not_names: frozenset[str] = COMMON_WORDS | NOT_POSSESSORS
                        ) -> list[tuple[int, int, str]]:
        """(start, end, artist) of each artist named exactly before "'s" ("eminem's best"),
        never a number or one of ``not_names`` alone (common, time and people words and the
        words that start a lexicon phrase: "today's hits", "80's rock")."""
        if "'s" not in normalised.text:
            return []
        found = (self._exact_tail(match["name"], match.end("name"), shortest=1,
                                  refuse=lambda words: len(words) == 1 and (
                                      words[0] in not_names or words[0].isdigit()))
                 for match in POSSESSIVE.finditer(normalised.text))
        return [artist for artist in found if artist is not None]

    def find_before(self, normalised: Normalised, *, not_names: frozenset[str] = COMMON_WORDS
                    ) -> list[tuple[int, int, str]]:
        """(start, end, artist) of each artist of two words or more named exactly before
        ``NAME_BEFORE`` ("kendrick lamar vibes"), unless all its words are ``not_names``
        (common words and the words that start a lexicon phrase: "deep sleep songs")."""
        text, found = normalised.text, []
        for match in NAME_BEFORE.finditer(text):
            before = text[:match.start()].rstrip()
            found.append(self._exact_tail(
                before, len(before), shortest=2,
                refuse=lambda words: all(word in not_names for word in words)))
        return [artist for artist in found if artist is not None]

    def find_avoided(self, normalised: Normalised, *, not_names: frozenset[str] = frozenset()
                     ) -> list[tuple[int, int, str]]:
        """(start, end, artist) of each artist the prompt does not want ("no Drake", "anything
        but Ed Sheeran"): typed exactly, or with a typo in a name that shares a word with it
        (plain edit distance over those only: "no" precedes so much else that a search over
        every name would cost each such prompt milliseconds). Words that start like a lexicon
        phrase (``not_names``: "no vocals", "not sad") are the lexicon's, never an artist."""
        out = []
        for start, name, _ in _named(AVOID_CUES, normalised.text):
            if name.split()[0] in not_names:
                continue
            index = self._exact.get(name)
            if index is None:  # a typo: among the names that share a word with it
                rows = sorted({i for word in set(name.split()) - COMMON_WORDS
                               for i in self._by_word.get(word, ())})
                best = process.extractOne(name, [self._folded[i] for i in rows],
                                          scorer=fuzz.ratio, score_cutoff=ARTIST_SCORE)
                index = None if best is None else rows[best[2]]
            if index is not None:
                out.append((start, start + len(name), self.names[index]))
        return out


def _named(cues: re.Pattern[str], text: str) -> list[tuple[int, str, str | None]]:
    """(start, name, cue) of the words after each cue, up to a stop word and ``ARTIST_WORDS``
    words (the cue ``None`` where the pattern does not name it)."""
    out = []
    for cue in cues.finditer(text):
        name = ARTIST_STOP.sub("", cue["name"]).strip()
        if name:
            out.append((cue.start("name"), " ".join(name.split()[:ARTIST_WORDS]),
                        cue.groupdict().get("cue")))
    return out


# --- versions ---------------------------------------------------------------------------------

_CACHE: dict[tuple[int, str], Lexicon] = {}
_LOCK = threading.Lock()


def _ensure(session: Session) -> LexiconVersion:
    latest = routing_repo.latest_lexicon(session=session)
    if latest is None:
        latest = routing_repo.add_lexicon(session=session, row=LexiconVersion(
            version=1, entries=default_entries(), change="default lexicon",
            created_by="system"))
        audit.record(session=session, actor="system", action="lexicon.create",
                     entity="lexiconversion", entity_id=latest.id, after={"version": 1})
    return latest


def _compiled(row: LexiconVersion) -> Lexicon:
    key = (row.version, json.dumps(row.entries, sort_keys=True))  # two databases may differ
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = Lexicon(row.version, list(row.entries))
        return _CACHE[key]


@requires(Capability.preview)
def current_lexicon(*, engine: Engine, actor: Actor) -> Lexicon:
    """The newest version (the defaults, stored as version 1, on first use): what the live
    preview's router fills slots with."""
    with session_scope(engine) as session:
        latest = routing_repo.latest_lexicon(session=session)
    if latest is None:
        with write_scope(engine) as session:
            latest = _ensure(session)
    return _compiled(latest)


def _slots(entries: list[dict]) -> set[str]:
    return {e["slot"] for e in entries}


@requires(Capability.edit_lexicon)
def add_phrase(*, engine: Engine, slot: str, value: str, phrase: str, actor: Actor
               ) -> tuple[int, str]:
    """Map ``phrase`` to ``slot=value``; return the new lexicon version and the entry id."""
    phrase, value = " ".join(phrase.split()), value.strip()
    with write_scope(engine) as session:
        who = authz.principal(session, actor)
        latest = _ensure(session)
        entries = [dict(e) for e in latest.entries]
        if slot not in _slots(entries):
            raise LexiconError(f"unknown slot {slot!r}; slots: {', '.join(sorted(_slots(entries)))}"
                               f" ({', '.join(PARSED_SLOTS)} are parsed, not listed)")
        if not value or not phrase or len(phrase) > MAX_PHRASE or not normalise(phrase).text:
            raise LexiconError(f"a phrase has 1 to {MAX_PHRASE} characters with letters or "
                               "digits, and a value")
        key = normalise(phrase).text
        clash = next((e for e in entries
                      if normalise(e["phrase"]).text == key and e["slot"] == slot), None)
        if clash is not None:
            raise LexiconError(f"{phrase!r} is mapped already ({clash['id']}: "
                               f"{clash['slot']}={clash['value']})")
        numbers = [int(e["id"][1:]) for e in entries if str(e["id"])[1:].isdigit()]
        entry = {"id": f"l{max(numbers, default=0) + 1}", "slot": slot, "value": value,
                 "phrase": phrase}
        version = _store(session, latest, [*entries, entry], actor=who.audit_name,
                         change=f"add {entry['id']}: {phrase} -> {slot}={value}",
                         before={}, after={"entry": entry})
    return version, entry["id"]


@requires(Capability.edit_lexicon)
def remove_phrase(*, engine: Engine, entry_id: str, actor: Actor) -> int:
    """Remove an entry by id; return the new lexicon version."""
    with write_scope(engine) as session:
        who = authz.principal(session, actor)
        latest = _ensure(session)
        gone = [e for e in latest.entries if e["id"] == entry_id]
        if not gone:
            raise LexiconError(f"no lexicon entry {entry_id!r} in version {latest.version}")
        kept = [dict(e) for e in latest.entries if e["id"] != entry_id]
        return _store(session, latest, kept, actor=who.audit_name,
                      change=f"remove {entry_id}: {gone[0]['phrase']}",
                      before={"entry": gone[0]}, after={})


def _store(session: Session, latest: LexiconVersion, entries: list[dict], *, actor: str,
           change: str, before: dict, after: dict) -> int:
    row = routing_repo.add_lexicon(session=session, row=LexiconVersion(
        version=latest.version + 1, entries=entries, change=change[:512], created_by=actor))
    audit.record(session=session, actor=actor, action="lexicon.change",
                 entity="lexiconversion", entity_id=row.id,
                 before={"version": latest.version, **before},
                 after={"version": row.version, **after})
    return row.version


# --- measuring the lexicon against labeled slots -------------------------------------------------

def slot_scores(lexicon: Lexicon, pairs: Sequence[tuple[str, dict[str, Any]]], *,
                artists: ArtistIndex | None = None, slots: set[str] | None = None
                ) -> list[dict[str, Any]]:
    """Precision, recall and F1 per slot of ``lexicon`` on (text, labeled slots) pairs.

    A value counts as right when it equals the labeled one (durations compared in minutes).
    Precision is over the slots the lexicon filled, recall over the slots raters filled. Only
    ``slots`` count (default: every slot that some pair labels), so that slots raters are not
    asked for (``bpm``) are not counted as wrong.
    """
    wanted = slots if slots is not None else {s for _, labeled in pairs
                                              for s, v in (labeled or {}).items()
                                              if v not in (None, "")}
    counts: dict[str, list[int]] = {}
    for text, labeled in pairs:
        found = {m.slot: m.value for m in lexicon.match(text, artists=artists)
                 if m.slot in wanted}
        gold = {s: str(v) for s, v in (labeled or {}).items()
                if v not in (None, "") and s in wanted}
        for slot in set(found) | set(gold):
            tp_fp_fn = counts.setdefault(slot, [0, 0, 0])
            right = slot in found and slot in gold and _same(slot, found[slot], gold[slot])
            tp_fp_fn[0] += right
            tp_fp_fn[1] += slot in found and not right
            tp_fp_fn[2] += slot in gold and not right
    rows = []
    for slot, (tp, fp, fn) in sorted(counts.items()):
        precision = tp / (tp + fp) if tp + fp else None
        recall = tp / (tp + fn) if tp + fn else None
        f1 = (2 * precision * recall / (precision + recall)
              if precision and recall else 0.0 if precision is not None and recall else None)
        rows.append({"slot": slot, "precision": precision, "recall": recall, "f1": f1,
                     "labeled": tp + fn, "found": tp + fp})
    return rows


def _same(slot: str, found: str, gold: str) -> bool:
    if slot == "duration":
        return duration_minutes(found) == duration_minutes(gold)
    return normalise(found).text == normalise(gold).text


@dataclass(frozen=True)
class LexiconQuality:
    lexicon_version: int
    task: str
    n_labels: int
    """Rater labels with slots, measured (each label's slots against the lexicon's on its
    text); labels without slots are left out, as raters who skip slots say nothing of them."""
    rows: list[dict[str, Any]]
    """Per slot: precision, recall, f1, labeled, found."""


@requires(Capability.view_quality)
def measure_lexicon(*, engine: Engine, actor: Actor, task_name: str) -> LexiconQuality:
    """The current lexicon's precision and recall per slot on the slots raters labeled in
    ``task_name`` (the slots of its schema; every labeled slot when it has none)."""
    task = task_info(engine=engine, actor=actor, name=task_name)
    lexicon = current_lexicon(engine=engine, actor=actor)
    pairs = [(row["text"], row["slots"] or {}) for row in label_rows(engine=engine, actor=actor,
                                                                     task_name=task_name)
             if row["source"] == "rater" and row["slots"]]
    schema = set(task.slot_schema) or None
    return LexiconQuality(lexicon_version=lexicon.version, task=task_name, n_labels=len(pairs),
                          rows=slot_scores(lexicon, pairs, slots=schema))
