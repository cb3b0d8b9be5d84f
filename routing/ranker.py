"""The playlist ranker: pure functions over a catalogue's arrays, no database.

Every track gets a score from four parts, weighted by a named ``RankerConfig``:

* **relevance**: its reciprocal-rank-fused place in the hybrid retrieval lists (``retrieval``),
  plus, for a seed artist, how close its descriptor is to that artist's tracks;
* **constraints**: how well its audio features fit the slots' profiles (calm -> low energy;
  studying -> instrumental, little speech; running -> high energy and tempo; see ``PROFILES``).
  Features are compared as percentiles within the catalogue, so that one profile works on
  catalogues whose feature distributions differ;
* **popularity** (and its opposite, **novelty**);
* **context and session**: the time of day, and the session's skips (artists sink) and saves
  (tracks like them rise), the most recent weighing most.

Genre, era, year (or years), a word asked for in the titles, explicit, vocals and tempo slots
are filters where the catalogue has enough tracks that pass them (``min_pool``, the rarest
filter first), else they fall back to a strong preference. The best ``pool`` tracks are then
ordered by maximal marginal relevance (MMR) over audio-feature similarity, with at most
``max_per_artist`` tracks per artist, and cut to the requested duration or to ``size`` tracks.
Every track carries a short reason ("calm: energy 0.21").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from labeling.exceptions import LabelingError
from labeling.text.normalise import fold
from routing.context import NO_CONTEXT, Context
from routing.mmr import mmr_lists
from routing.profiles import (
    BPM_TOLERANCE,
    CONTEXT_TERMS,
    ERAS,
    FEATURES,
    GENRE_ALIASES,
    HIGH,
    LOW,
    PROFILES,
    RANKED_FIELDS,
    RECENT_YEARS,
    TEMPO_FILTERS,
    Term,
)
from routing.retrieval import top_rows
from routing.title_index import TitleIndex

CANDIDATES_PER_POOL = 2
"""The impression log keeps this many times the pool's tracks: a configuration that weighs
the score parts a little differently finds its own pool among them, so offline evaluation can
tell which of its lists the logging configuration could never have shown
(``routing.counterfactual``) instead of assuming they are the same."""


@dataclass(frozen=True)
class RankerConfig:
    """Named, versioned weights; two configurations can be compared on the same prompt."""

    name: str = "balanced"
    version: int = 1
    relevance: float = 1.0
    constraints: float = 2.5
    popularity: float = 0.25
    novelty: float = 0.0
    session: float = 0.5
    mmr_lambda: float = 0.8
    """1.0 orders by score alone; lower values trade score for variety."""
    max_per_artist: int = 2
    size: int = 20
    pool: int = 300
    """How many of the best-scored tracks MMR chooses from."""
    min_pool: int = 40
    """A filter (genre, era, year, explicit, vocals, tempo) applies only if this many tracks
    pass it."""
    retrieve: int = 400
    """How many tracks each retrieval list (BM25, dense) returns."""
    exploration: float = 0.0
    """Temperature of Plackett-Luce sampling over the MMR scores: 0 always takes the best
    track (every position's probability is 1); above 0 each position is drawn from a softmax,
    so the impression log holds propensities that offline evaluation can weigh by."""

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


CONFIGS: dict[str, RankerConfig] = {
    "balanced": RankerConfig(),
    "discovery": RankerConfig(name="discovery", popularity=0.0, novelty=0.5, mmr_lambda=0.65,
                              max_per_artist=1),
    "relevance-only": RankerConfig(name="relevance-only", constraints=0.0, popularity=0.0,
                                   session=0.0, mmr_lambda=1.0, max_per_artist=20),
}
"""The bundled configurations, by name."""
INTENT_CONFIGS: dict[str, str] = {"discovery": "discovery"}
"""Intents that change the ranker configuration when the caller did not pick one."""
DEFAULT_CONFIG = "balanced"
"""The configuration every other intent is served with."""


class UnknownConfigError(LabelingError):
    """No bundled ranker configuration by that name."""


def config_named(name: str) -> RankerConfig:
    """The bundled configuration ``name`` (``UnknownConfigError`` naming the others)."""
    if name not in CONFIGS:
        raise UnknownConfigError(f"unknown ranker configuration {name!r}; one of "
                                 f"{', '.join(CONFIGS)}")
    return CONFIGS[name]


class CatalogueArrays:
    """A catalogue prepared once for ranking: percentiles, genre words, artist codes."""

    def __init__(self, tracks: pd.DataFrame) -> None:
        self.tracks = tracks.reset_index(drop=True)
        self.size = len(self.tracks)
        self.ids = self.tracks["track_id"].astype(str).to_numpy(dtype=object)
        self.row_of = {track_id: i for i, track_id in enumerate(self.ids)}
        self.artists = self.tracks["artist"].astype(str).to_numpy(dtype=object)
        codes, self.artist_names = pd.factorize(self.tracks["artist"].astype(str))
        self.artist_codes = np.asarray(codes)
        self.raw = {f: self.tracks[f].to_numpy(dtype=np.float64) for f in RANKED_FIELDS}
        self.percentile = {f: _percentiles(self.raw[f]) for f in RANKED_FIELDS}
        self.year = self.tracks["year"].to_numpy(dtype=np.int64)
        self.duration_ms = self.tracks["duration_ms"].to_numpy(dtype=np.int64)
        self.explicit = self.tracks["explicit"].to_numpy(dtype=bool)
        self.popularity = _percentiles(self.tracks["popularity"].to_numpy(dtype=np.float64))
        tags = self.tracks["tags"] if "tags" in self.tracks else pd.Series([""] * self.size)
        # tracks share few genre and tag texts: fold each distinct pair once
        pairs = list(zip(self.tracks["genre"].astype(str), tags.fillna("").astype(str),
                         strict=True))
        codes, uniques = pd.factorize(pd.Series(pairs, dtype=object))
        self._genre_codes = np.asarray(codes)
        self._genre_uniques = [f" {fold(g)} {fold(t)} " for g, t in uniques]
        """Each track's folded genre-and-tags text, as a code into the distinct texts."""
        matrix = np.column_stack([self.percentile[f] for f in FEATURES]) - 0.5
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        self.unit_features = matrix / np.where(norms == 0, 1.0, norms)
        self._genre_masks: dict[str, np.ndarray] = {}
        self.titles = TitleIndex(self.tracks["title"])
        self.cache: dict[tuple, np.ndarray] = {}
        """Per-track arrays that do not depend on the request (term scores, base scores)."""
        genre_codes, genre_names = pd.factorize(self.tracks["genre"].astype(str))
        self.genre_codes = np.asarray(genre_codes)
        self.genre_names: list[str] = [str(g) for g in genre_names]  # a list: read per reason
        self.song_codes = song_codes(self.tracks)
        """Tracks that are one song (one artist, one title but for a version's suffix: "Gimme
        Shelter" and "Gimme Shelter - Mono") share a code: a playlist shows one of them."""

    def base_score(self, popularity: float, novelty: float) -> np.ndarray:
        """``popularity * pop + novelty * (1 - pop)`` per track (cached, read-only)."""
        key = ("base", popularity, novelty)
        if key not in self.cache:
            value = popularity * self.popularity + novelty * (1.0 - self.popularity)
            value.flags.writeable = False
            self.cache[key] = value
        return self.cache[key]

    def artist_mask(self, artist: str) -> np.ndarray:
        """Which tracks are ``artist``'s (by artist code: no string comparisons per track)."""
        try:
            code = self.artist_names.get_loc(artist)
        except KeyError:
            return np.zeros(self.size, dtype=bool)
        return self.artist_codes == code

    def artist_genre_prior(self, artist: str) -> np.ndarray | None:
        """How typical each track's genre is of ``artist``: 1 for the artist's most common
        genre, (share / top share) squared for its others, 0 for the rest ("like Drake" ->
        rap first, then R&B)."""
        codes = self.genre_codes[self.artist_mask(artist)]
        if codes.size == 0:
            return None
        counts = np.bincount(codes, minlength=len(self.genre_names)).astype(np.float64)
        weights = (counts / counts.max()) ** 2
        return weights[self.genre_codes]

    def genre_mask(self, genre: str) -> np.ndarray:
        """Tracks whose genre or tags name ``genre`` or one of its aliases (cached)."""
        if genre not in self._genre_masks:
            words = [f" {fold(w)} " for w in GENRE_ALIASES.get(genre, (genre,))]
            passing = np.fromiter((any(w in text for w in words)
                                   for text in self._genre_uniques), dtype=bool,
                                  count=len(self._genre_uniques))
            self._genre_masks[genre] = passing[self._genre_codes]
        return self._genre_masks[genre]

    def title_mask(self, words: str) -> np.ndarray:
        """Tracks whose title holds ``words`` as whole words (a plural too: "dance" finds
        "Dances"), folded like prompts (``routing.title_index``)."""
        return self.titles.mask(words)

    def era_mask(self, era: str) -> np.ndarray | None:
        if era == "recent":
            newest = int(self.year.max()) if self.size else 0
            return self.year >= newest - RECENT_YEARS
        if era not in ERAS:
            return None
        low, high = ERAS[era]
        return (self.year >= low) & (self.year <= high)


VERSION_SUFFIX = re.compile(
    r"\s+-\s+.*$"                # "- Remastered 2011", "- Mono", "- Radio Edit", "- Live"
    r"|\s*[(\[][^)\]]*(?:feat|ft\.|with |remaster|version|edit|mono|stereo|live|mix|"
    r"deluxe|bonus|acoustic|demo)[^)\]]*[)\]]")
"""What a title adds for one version of a song, cut before titles are compared."""


def song_codes(tracks: pd.DataFrame) -> np.ndarray:
    """One code per song: the artist and the title, in lower case, without a version's suffix
    and punctuation (vectorised string methods: a million tracks in seconds)."""
    def lower(column: str) -> pd.Series:
        return tracks[column].astype(str).str.normalize("NFKC").str.lower()
    titles = lower("title").str.replace(VERSION_SUFFIX, "", regex=True)
    keys = lower("artist") + "\x1f" + titles.str.replace(r"[\W_]+", " ", regex=True).str.strip()
    return np.asarray(pd.factorize(keys)[0])


def one_version(arrays: CatalogueArrays, rows: np.ndarray) -> np.ndarray:
    """``rows`` (best first) without a song's later versions: the best-scored one stays."""
    _, first = np.unique(arrays.song_codes[rows], return_index=True)
    if first.size == rows.size:
        return rows
    return rows[np.sort(first)]


def _percentiles(values: np.ndarray) -> np.ndarray:
    """Each value's mid-rank percentile in ``values`` (0..1; ties share one)."""
    if len(values) == 0:
        return values.astype(np.float64)
    return pd.Series(values).rank(method="average", pct=True).to_numpy() - 0.5 / len(values)


@dataclass(frozen=True)
class RankedTrack:
    """One track of a playlist, with why it is there."""

    row: int
    position: int
    score: float
    reason: str
    parts: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Playlist:
    tracks: list[RankedTrack]
    config: RankerConfig
    relaxed: list[str]
    """Filters that too few tracks passed, applied as preferences instead."""
    total_ms: int
    target_ms: int | None
    candidate_rows: np.ndarray
    """The best ``CANDIDATES_PER_POOL`` times ``config.pool`` rows, best score first (for the
    impression log): MMR chose from the first ``config.pool`` of them; the rest let another
    configuration find its own pool among them offline."""
    candidate_scores: np.ndarray
    propensities: list[float] = field(default_factory=list)
    """The probability with which each shown position was chosen (1.0 without exploration)."""
    candidate_parts: dict[str, np.ndarray] = field(default_factory=dict)
    """Each candidate's score parts (``PARTS``), from which ``rescore`` gives its score under
    another configuration."""


def _term_score(arrays: CatalogueArrays, term: Term) -> np.ndarray:
    """How well each track meets ``term`` in [0, 1] (cached per catalogue: read-only)."""
    feature, direction, _ = term
    key = (feature, direction)
    cached = arrays.cache.get(key)
    if cached is None:
        p = arrays.percentile[feature]
        cached = (1.0 - p if direction == LOW else p if direction == HIGH
                  else 1.0 - 2.0 * np.abs(p - 0.5))
        cached.flags.writeable = False
        arrays.cache[key] = cached
    return cached


def constraint_terms(slots: Mapping[str, str]) -> list[tuple[str, Term]]:
    """(slot label, term) for every profile term the slots call for, e.g. ("calm", energy low).
    A usable BPM replaces the tempo slot it came with (the BPM filter aims at it; "fast" would
    push every track to the top of its window)."""
    out = []
    for slot, value in slots.items():
        if slot == "tempo" and _number(slots.get("bpm")):
            continue
        for term in PROFILES.get(slot, {}).get(value, ()):
            out.append((value.replace("_", " "), term))
    return out


def _constraint_scores(arrays: CatalogueArrays, terms: Sequence[tuple[str, Term]]
                       ) -> tuple[np.ndarray, list[np.ndarray]]:
    if not terms:
        return np.zeros(arrays.size), []
    parts = [_Weighted(_term_score(arrays, term), term[2]) for _, term in terms]
    total_weight = sum(part.weight for part in parts)
    total = parts[0].values * (parts[0].weight / total_weight)
    for part in parts[1:]:
        total += part.values * (part.weight / total_weight)
    return total, parts


@dataclass(frozen=True)
class _Weighted:
    """A term's score per track and its weight; ``part[row]`` is the weighted score of one
    track (only the shown tracks' values are ever read, so no weighted copy is made)."""

    values: np.ndarray
    weight: float

    def __getitem__(self, row: int) -> float:
        return float(self.values[row]) * self.weight


def _session_scores(arrays: CatalogueArrays, context: Context) -> np.ndarray:
    score = np.zeros(arrays.size)
    for age, artist in enumerate(reversed(context.skipped_artists[-10:])):
        score[arrays.artist_mask(artist)] -= 1.0 / (1.0 + 0.3 * age)
    saved = [*context.saved_tracks[-10:], *context.liked_tracks[-10:]]
    rows = [arrays.row_of[t] for t in saved if t in arrays.row_of]
    if rows:
        weights = 1.0 / (1.0 + 0.3 * np.arange(len(rows))[::-1])
        similarity = arrays.unit_features @ arrays.unit_features[rows].T
        score += (similarity * weights).sum(axis=1) / weights.sum()
        score[rows] -= 1.0  # a saved track is known already; its neighbours rise
    return score


def rank(arrays: CatalogueArrays, *, slots: Mapping[str, str], relevance: np.ndarray,
         config: RankerConfig = CONFIGS["balanced"], context: Context = NO_CONTEXT,
         target_minutes: float | None = None, avoid_explicit: bool = False,
         exclude_rows: Sequence[int] = (), seed_rows: Sequence[int] = (),
         prior: np.ndarray | None = None, rng: np.random.Generator | None = None
         ) -> Playlist:
    """Order the catalogue for one request.

    Parameters
    ----------
    relevance
        One value per track, higher for a better retrieval match (0 where not retrieved).
    target_minutes
        Fit the total length to this many minutes instead of returning ``config.size`` tracks.
    avoid_explicit
        Remove explicit tracks (the request said so, or the policy asks for it).
    exclude_rows, seed_rows
        Tracks never to show (removed by a refinement) and tracks whose neighbours should rise
        ("more like track 3").
    rng
        Draws the order when ``config.exploration`` is above 0 (default: seeded by nothing).
    prior
        An extra preference per track in [0, 1] (e.g. how typical its genre is of a seed
        artist), weighted like a relaxed filter.
    """
    if arrays.size == 0:
        return Playlist([], config, [], 0, None, np.zeros(0, dtype=np.int64), np.zeros(0))
    mask = np.ones(arrays.size, dtype=bool)
    mask[list(exclude_rows)] = False
    mask, preference, relaxed = _apply_filters(arrays, slots, mask, config=config,
                                               avoid_explicit=avoid_explicit)

    terms = constraint_terms(slots)
    time_of_day = context.time_of_day if context.time_of_day in CONTEXT_TERMS else None
    context_terms = [(time_of_day, t) for t in CONTEXT_TERMS.get(time_of_day or "", ())]
    constraint, parts = _constraint_scores(arrays, terms)
    relevance = np.asarray(relevance, dtype=np.float64)
    retrieved = np.flatnonzero(relevance != 0)  # a few hundred rows: scale only those
    # (``!= 0`` first: nonzero over floats took 140 us at 28,000 tracks, over booleans 20)
    top = float(relevance[retrieved].max()) if retrieved.size else 0.0
    relevance_norm = _Weighted(relevance, 1.0 / top if top > 0 else 1.0)
    seed = np.zeros(arrays.size)
    if len(seed_rows):
        # the mean similarity to the seeds is the similarity to their mean (no tracks x seeds
        # matrix: an artist's 100 tracks made it 23 MB and 1.2 ms)
        seed = arrays.unit_features @ arrays.unit_features[list(seed_rows)].mean(axis=0)
    # summed in place, the parts every request shares cached: a million tracks make each
    # temporary array 8 MB
    score = arrays.base_score(config.popularity, config.novelty).copy()
    score[retrieved] += (config.relevance * relevance_norm.weight) * relevance[retrieved]
    if terms:
        score += config.constraints * constraint
    session = None
    if context.skipped_artists or context.saved_tracks or context.liked_tracks or len(seed_rows):
        session = _session_scores(arrays, context) + 0.5 * seed
        score += config.session * session
    if context_terms:
        score += 0.3 * _constraint_scores(arrays, context_terms)[0]
    if relaxed:
        score += 2.0 * preference
    if prior is not None:
        score += 2.0 * np.asarray(prior, dtype=np.float64)
    if context.device == "phone" and target_minutes is None and time_of_day == "morning":
        score -= 0.2 * (arrays.duration_ms > 240_000)  # a morning on the go: shorter tracks
    candidates = np.flatnonzero(mask)
    if candidates.size == 0:
        return Playlist([], config, relaxed, 0, _target_ms(target_minutes),
                        np.zeros(0, dtype=np.int64), np.zeros(0))
    logged = one_version(arrays, top_rows(
        score, min(CANDIDATES_PER_POOL * config.pool, candidates.size),
        candidates if candidates.size < arrays.size else None))
    pool = logged[:config.pool]
    order, propensities = _mmr(arrays, pool, score[pool], config=config,
                               target_minutes=target_minutes, rng=rng)
    shown = np.asarray(order, dtype=np.int64)
    shown_relevance = (relevance[shown] * relevance_norm.weight).tolist()
    reasons = _reasons(arrays, shown, terms, parts, shown_relevance,
                       seed[shown].tolist() if len(seed_rows) else None, slots)
    tracks = [RankedTrack(row=row, position=i + 1, score=round(row_score, 4), reason=reason,
                          parts={"relevance": round(row_relevance, 4),
                                 "constraints": round(row_constraint, 4),
                                 "popularity": round(row_popularity, 4)})
              for i, (row, row_score, reason, row_relevance, row_constraint, row_popularity)
              in enumerate(zip(order, score[shown].tolist(), reasons, shown_relevance,
                               constraint[shown].tolist(), arrays.popularity[shown].tolist(),
                               strict=True))]
    total = int(arrays.duration_ms[order].sum()) if order else 0
    logged_parts = {"relevance": relevance[logged] * relevance_norm.weight,
                    "constraints": constraint[logged] if terms else np.zeros(logged.size),
                    "session": session[logged] if session is not None else np.zeros(logged.size),
                    "popularity": arrays.popularity[logged]}
    logged_parts["fixed"] = score[logged] - rescore(
        {**logged_parts, "fixed": np.zeros(logged.size)}, config)
    return Playlist(tracks, config, relaxed, total, _target_ms(target_minutes), logged,
                    score[logged], propensities, logged_parts)


PARTS = ("relevance", "constraints", "session", "popularity", "fixed")
"""A track's score parts: its normalised retrieval relevance, how well it meets the slots'
constraints, its session signal, its popularity percentile, and what no configuration weighs
(context, relaxed filters, a seed artist's genres)."""


def rescore(parts: Mapping[str, np.ndarray], config: RankerConfig) -> np.ndarray:
    """The scores ``config`` gives tracks with these parts (as ``rank`` sums them)."""
    popularity = np.asarray(parts["popularity"], dtype=np.float64)
    return (config.popularity * popularity + config.novelty * (1.0 - popularity)
            + config.relevance * np.asarray(parts["relevance"], dtype=np.float64)
            + config.constraints * np.asarray(parts["constraints"], dtype=np.float64)
            + config.session * np.asarray(parts["session"], dtype=np.float64)
            + np.asarray(parts["fixed"], dtype=np.float64))


def _apply_filters(arrays: CatalogueArrays, slots: Mapping[str, str], mask: np.ndarray, *,
                   config: RankerConfig, avoid_explicit: bool
                   ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Genre, era, years, title words, explicit, vocals and tempo as filters; each that leaves
    fewer than ``config.min_pool`` tracks becomes a preference instead (explicit is always a
    filter)."""
    filters = _filters(arrays, slots, avoid_explicit=avoid_explicit)
    relaxed: list[str] = []
    preference = np.zeros(arrays.size)
    # the rarest first: where two cannot both hold, the more specific ask is kept ("sixties
    # pop": the sixties, with pop preferred, not pop with a few sixties tracks)
    filters.sort(key=lambda f: int((mask & f[1]).sum()))
    for name, passing in filters:
        if name == "explicit=avoid" or int((mask & passing).sum()) >= config.min_pool:
            mask = mask & passing
        else:
            relaxed.append(name)
            preference += passing.astype(np.float64)
    return mask, preference, relaxed


def _filters(arrays: CatalogueArrays, slots: Mapping[str, str], *, avoid_explicit: bool
             ) -> list[tuple[str, np.ndarray]]:
    """(name, passing) of each filter the slots ask for, in the slots' order."""
    filters: list[tuple[str, np.ndarray | None]] = []
    if slots.get("genre"):
        filters.append((f"genre={slots['genre']}", arrays.genre_mask(slots["genre"])))
    if slots.get("avoid_genre"):  # "upbeat songs but no pop"
        filters.append((f"avoid_genre={slots['avoid_genre']}",
                        ~arrays.genre_mask(slots["avoid_genre"])))
    if slots.get("era"):
        filters.append((f"era={slots['era']}", arrays.era_mask(slots["era"])))
    if slots.get("title"):  # "songs with dance in the title"
        filters.append((f"title={slots['title']}", arrays.title_mask(slots["title"])))
    year = _number(slots.get("year"))
    if year:  # "songs from 1985": that year where the catalogue has enough of it
        filters.append((f"year={slots['year']}", arrays.year == int(year)))
    years = year_range(slots.get("years"))
    if years:  # "before 1980", "since 2015", "1990-1995"
        low, high = years
        filters.append((f"years={slots['years']}",
                        (arrays.year >= (low or 0)) & (arrays.year <= (high or 9999))))
    filters += _sound_filters(arrays, slots, avoid_explicit=avoid_explicit)
    return [(name, passing) for name, passing in filters if passing is not None]


def _sound_filters(arrays: CatalogueArrays, slots: Mapping[str, str], *, avoid_explicit: bool
                   ) -> list[tuple[str, np.ndarray | None]]:
    """The filters on what the tracks sound like: explicit lyrics, vocals, tempo."""
    filters: list[tuple[str, np.ndarray | None]] = []
    if avoid_explicit or slots.get("explicit") == "avoid":
        filters.append(("explicit=avoid", ~arrays.explicit))
    if slots.get("vocals") == "instrumental":
        filters.append(("vocals=instrumental", arrays.raw["instrumentalness"] >= 0.5))
    bpm = _number(slots.get("bpm"))
    if bpm:
        filters.append((f"bpm={slots['bpm']}",
                        np.abs(arrays.raw["tempo"] - bpm) <= BPM_TOLERANCE * bpm))
    if slots.get("tempo") in TEMPO_FILTERS and not bpm:  # a BPM says more than a range
        low, high = TEMPO_FILTERS[slots["tempo"]]
        filters.append((f"tempo={slots['tempo']}",
                        (arrays.raw["tempo"] >= low) & (arrays.raw["tempo"] <= high)))
    return filters


def year_range(value: str | None) -> tuple[int | None, int | None] | None:
    """The (first, last) years of a ``years`` slot such as ``1990-1995``, ``-1979`` or ``2016-``
    (None where open), or None if it is not one."""
    match = re.fullmatch(r"\s*(\d{4})?\s*-\s*(\d{4})?\s*", value or "")
    if match is None or not any(match.groups()):
        return None
    low, high = (int(g) if g else None for g in match.groups())
    return low, high


def _years_label(value: str | None) -> str | None:
    """How a ``years`` slot reads in a reason: "up to 1994", "2016 on", "1990-1995"."""
    years = year_range(value)
    if years is None:
        return None
    low, high = years
    return f"up to {high}" if low is None else f"{low} on" if high is None else f"{low}-{high}"


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _target_ms(minutes: float | None) -> int | None:
    return None if minutes is None else int(minutes * 60_000)


def _mmr(arrays: CatalogueArrays, pool: np.ndarray, scores: np.ndarray, *,
         config: RankerConfig, target_minutes: float | None,
         rng: np.random.Generator | None = None) -> tuple[list[int], list[float]]:
    """MMR over the pool for one list (``routing.mmr``): the rows and each position's
    probability (1.0 without exploration)."""
    lists = mmr_lists(arrays, pool, scores, config=config, target_ms=_target_ms(target_minutes),
                      rng=rng)
    n = int(lists.lengths[0])
    return ([int(r) for r in lists.rows[0, :n]],
            [round(float(p), 6) for p in lists.probabilities[0, :n]])


def _reasons(arrays: CatalogueArrays, rows: np.ndarray, terms: Sequence[tuple[str, Term]],
             parts: Sequence[_Weighted], relevance: list[float], seed: list[float] | None,
             slots: Mapping[str, str]) -> list[str]:
    """Each shown track's reason, e.g. "calm: energy 0.21; 1990s: 1994" (the values of all
    shown tracks are read at once: a few numpy calls instead of a dozen per track)."""
    weighted = [(part.values[rows] * part.weight).tolist() for part in parts]
    features = {term[0] for _, term in terms} | ({"tempo"} if slots.get("bpm") else set())
    raw = {feature: arrays.raw[feature][rows].tolist() for feature in features}
    asked = slots.get("year") or _years_label(slots.get("years"))
    years = arrays.year[rows].tolist() if slots.get("era") or asked else []
    genres = [arrays.genre_names[code] for code in arrays.genre_codes[rows].tolist()] \
        if slots.get("genre") else []
    titled_rows = arrays.title_mask(slots["title"])[rows].tolist() if slots.get("title") else []
    out = []
    for j in range(len(rows)):
        bits = _term_bits(terms, [w[j] for w in weighted], raw, j)
        titled = bool(titled_rows) and titled_rows[j]
        if slots.get("bpm"):
            bits.append(f"{slots['bpm']} BPM asked: {raw['tempo'][j]:.0f} BPM")
        if asked:
            bits.append(f"{asked} asked: {int(years[j])}")
        elif slots.get("era"):
            bits.append(f"{slots['era']}: {int(years[j])}")
        if slots.get("genre"):
            bits.append(f"genre: {genres[j]}")
        if titled:
            bits.append(f"title: {slots['title']}")
        if seed is not None:
            bits.append(f"like your pick: similarity {seed[j]:.2f}")
        if relevance[j] > 0.5 or not bits:
            bits.append(f"matches the prompt: {relevance[j]:.2f}")
        out.append("; ".join(bits))
    return out


def _term_bits(terms: Sequence[tuple[str, Term]], weighted: list[float],
               raw: Mapping[str, list[float]], j: int) -> list[str]:
    """The two best-met terms of one track (on two different features), with its values."""
    best, seen = [], set()
    for i in sorted(range(len(terms)), key=lambda i: -weighted[i]):
        if terms[i][1][0] not in seen and len(best) < 2:
            best.append(i)
            seen.add(terms[i][1][0])
    bits = []
    for i in best:
        label, (feature, _, _) = terms[i]
        value = raw[feature][j]
        shown = f"{value:.0f} BPM" if feature == "tempo" else \
            f"{value:.1f} dB" if feature == "loudness" else \
            f"{int(value) // 60_000}:{int(value) // 1000 % 60:02d}" if feature == "duration_ms" \
            else f"{value:.0f}" if feature in ("year", "popularity") else f"{value:.2f}"
        bits.append(f"{label}: {shown}" if feature in ("tempo", "loudness", "duration_ms")
                    else f"{label}: {feature} {shown}")
    return bits


def with_changes(config: RankerConfig, **changes: Any) -> RankerConfig:
    """A copy of ``config`` with some weights changed and the version moved on."""
    return replace(config, version=config.version + 1, **changes)
