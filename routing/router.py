"""The prompt router: prompt -> PII redaction and normalisation -> safety policy -> intent -> slots
-> playlist, as one ``RoutingDecision`` and a ranked list.

* **Safety first.** The safety gate (``safety.policy.SafetyGate``) redacts PII and gives a
  verdict; a blocked prompt gets a deterministic fallback: a neutral playlist (popular,
  mid-energy, no explicit tracks) and the policy's short message (a supportive one for
  self-harm). Nothing after the gate sees the raw prompt.
* **Intent** from the intent task's serving model, with its calibrated confidence and the two
  abstain reasons mature dialogue systems keep apart: ``out_of_scope`` (the model's top intent
  is the out-of-scope label, or its in-scope score (``labeling.ml.scope``; the confidence for
  models trained before it) is below the version's out-of-scope threshold) and
  ``ambiguous`` (the top two intents are closer than ``margin``; the playlist still follows the
  top one). The nearest labeled examples of the task say why.
* **Slots** from the versioned lexicon (``routing.lexicon``), with their spans.
* **Playlist** by hybrid retrieval (``routing.retrieval``) and the ranker (``routing.ranker``).

``Router.route`` never raises: an out-of-scope prompt gets a polite answer and no playlist, and
an unexpected failure is reported in the decision (``fallback="error"``) with the neutral list.
A ``Router`` is built for one set of versions (intent model, safety model, policy, rules,
lexicon, catalogue); ``routing.serving.RouterCache`` rebuilds it when any of them changes, so a
promotion, a lexicon edit or a catalogue import is served at once, and the answer cache (keyed
by the normalised prompt, slots, context bucket, ranker configuration and those versions) can
never serve a stale answer.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine

from labeling.lifecycle.examples import LabeledExamples, labeled_examples
from labeling.lifecycle.registry import load_serving, load_version
from labeling.ml.encoders import Encoder
from labeling.ml.scope import scope_scores_if_any
from labeling.ml.text_features import predict_proba_for
from labeling.project.authz import Actor, Capability, requires
from labeling.project.tasks import list_tasks
from labeling.text.normalise import fold
from routing.catalogue_index import CatalogueIndex
from routing.context import NO_CONTEXT, Context
from routing.lexicon import Lexicon, carries_negation, current_lexicon, duration_minutes
from routing.ranker import (
    CONFIGS,
    DEFAULT_CONFIG,
    INTENT_CONFIGS,
    Playlist,
    RankerConfig,
    rank,
)
from safety.policy import BLOCK, REVIEW, SELF_HARM, SafetyGate, Verdict

log = logging.getLogger(__name__)

MAX_PROMPT_CHARS = 2_000
"""Longer prompts are cut to this length before anything else (and the decision says so)."""
DEFAULT_MARGIN = 0.10
"""``ambiguous`` when the top two intents' probabilities are closer than this."""
OUT_OF_SCOPE_MESSAGE = ("I can only make playlists, so I can't help with that one. Try "
                        "something like \"upbeat songs for a morning run\".")
ERROR_MESSAGE = "Something went wrong making your playlist; here is a general mix instead."
EMPTY_MESSAGE = "Type what you'd like to hear, e.g. \"chill music for coding\"."
NEUTRAL_SLOTS: dict[str, str] = {"energy": "medium"}
CALM_SLOTS: dict[str, str] = {"mood": "calm", "energy": "low"}
"""The fallback list for a prompt blocked as self-harm: the message promises calm music."""
CONTENT_SLOTS = frozenset({"mood", "activity", "genre", "era", "artist", "tempo", "energy",
                           "vocals", "title", "speech"})
"""Slots that make a request musical: an out-of-scope prompt with one ("play jazz and set a
timer") is served for its music part, if the slot names music itself (``MUSIC_SLOTS``) or the
prompt has a music word (``MUSIC_WORDS``): a year or a word like "boss" alone is not a music
request ("who won the world cup in 2018", "schedule a meeting with my boss")."""
MUSIC_SLOTS = frozenset({"genre", "artist"})
UNSEARCHED_SLOTS = frozenset({"artist", "avoid_artist", "explicit"})
"""Slots whose words the sparse search leaves out: artists are found by name already, and a
filter's words are no content ("kids party songs" should not rank a track titled "Kids";
"clean rap" not one titled "Clean")."""
FILTER_SLOTS = frozenset({"explicit"})
"""Slots that only filter: every phrase of theirs is left out of both searches, later ones
too ("no explicit pop for the kids": "kids" as well as "no explicit"), and the prompt is
encoded again without them (the encoder reads "kids" as content, and finds "Kids" by MGMT)."""
MUSIC_WORDS = re.compile(
    r"(?<![a-z0-9])(?:music|musique|musik|musica|songs?|tracks?|tunes?|playlists?|albums?|"
    r"play|playing|listen|listening|beats|mix|mixtape|jams?|bangers?|soundtrack|singles?|"
    r"radio|artists?|bands?|singers?|hits)(?![a-z0-9])")
MUSIC_PART_MESSAGE = "I can only help with the music part of that; here is a playlist for it."
CACHE_SIZE = 4_096
WARM_UP_PROMPT = "upbeat songs for a morning run"
DISPLAY_FIELDS = ("track_id", "artist", "title", "year", "genre", "explicit", "duration_ms",
                  "popularity", "energy", "valence", "danceability", "acousticness",
                  "instrumentalness", "speechiness", "tempo", "loudness")


@dataclass(frozen=True)
class RoutingDecision:
    """What the router made of one prompt, with everything needed to explain and audit it."""

    prompt_id: str
    """SHA-256 of the redacted, normalised prompt (first 16 hex digits)."""
    prompt: str
    """The prompt as the router saw it: PII redacted, cut to ``MAX_PROMPT_CHARS``."""
    intent: str | None
    confidence: float | None
    alternatives: list[dict[str, Any]]
    abstain: str | None
    """``out_of_scope``, ``ambiguous`` or ``None``."""
    nearest: list[dict[str, Any]]
    slots: list[dict[str, Any]]
    safety: dict[str, Any]
    fallback: str | None
    """``blocked``, ``out_of_scope``, ``empty``, ``error`` or ``None``."""
    message: str | None
    versions: dict[str, Any]
    timings_ms: dict[str, float]
    truncated: bool = False
    cached: bool = False
    error: str | None = None

    def slot_values(self) -> dict[str, str]:
        return {s["slot"]: s["value"] for s in self.slots}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RouteResult:
    decision: RoutingDecision
    tracks: list[dict[str, Any]]
    """Display rows: ``DISPLAY_FIELDS`` plus ``position``, ``score`` and ``reason``."""
    ranker: dict[str, Any]
    playlist: Playlist | None = field(default=None, repr=False, compare=False)
    candidate_ids: list[str] = field(default_factory=list, repr=False, compare=False)
    """The track ids the ranker chose from (its pool, best first), for the impression log."""

    def as_dict(self) -> dict[str, Any]:
        return {**self.decision.as_dict(), "ranker": self.ranker, "playlist": self.tracks}


@dataclass(frozen=True)
class IntentModel:
    model: Any
    version: int
    classes: list[str]
    oos_label: str | None
    oos_threshold: float
    task: str
    encoder: str | None = None
    """The encoder the model was trained on (vectors from another encoder of the same dimension
    work, a little less well: retrain after changing ``WORKBENCH_ENCODER``)."""


class CachingEncoder:
    """Remembers the vectors of the last few texts, so one prompt is encoded once per route
    (the safety gate, the intent model and retrieval all use it)."""

    def __init__(self, inner: Encoder, size: int = 64) -> None:
        self.inner, self.size = inner, size
        self.name, self.dim = inner.name, inner.dim
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._timer = threading.local()

    def reset_timer(self) -> None:
        self._timer.ms = 0.0

    def spent_ms(self) -> float:
        """Milliseconds this thread spent encoding since ``reset_timer`` (memo hits are free)."""
        return getattr(self._timer, "ms", 0.0)

    def encode(self, texts: Sequence[str], *, progress=None) -> np.ndarray:
        texts = list(texts)
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if missing:
            start = time.perf_counter()
            vectors = self.inner.encode(missing, progress=progress)
            self._timer.ms = self.spent_ms() + (time.perf_counter() - start) * 1000
            with self._lock:
                for text, vector in zip(missing, vectors, strict=True):
                    self._memo[text] = vector
                    self._memo.move_to_end(text)
                while len(self._memo) > max(self.size, len(texts)):
                    self._memo.popitem(last=False)
        with self._lock:
            if not texts:
                return np.zeros((0, self.dim), dtype=np.float32)
            return np.stack([self._memo[t] for t in texts])


def _music_part(text: str, slots: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a prompt asks for music besides whatever else it asks (``CONTENT_SLOTS``)."""
    named = {s["slot"] for s in slots} & CONTENT_SLOTS
    return bool(named & MUSIC_SLOTS) or (bool(named) and MUSIC_WORDS.search(fold(text))
                                         is not None)


def _prompt_id(text: str) -> str:
    return hashlib.sha256(fold(text).encode("utf-8")).hexdigest()[:16]


class Router:
    """Serves prompts with one fixed set of models, lexicon, policy and catalogue."""

    def __init__(self, *, encoder: Encoder, gate: SafetyGate, intent: IntentModel | None,
                 examples: LabeledExamples | None, lexicon: Lexicon, catalogue: CatalogueIndex,
                 margin: float = DEFAULT_MARGIN, cache_size: int = CACHE_SIZE,
                 seed: int | None = None) -> None:
        self.encoder = encoder if isinstance(encoder, CachingEncoder) else CachingEncoder(encoder)
        self.gate, self.intent, self.examples = gate, intent, examples
        self.lexicon, self.catalogue, self.margin = lexicon, catalogue, margin
        self._cache: OrderedDict[tuple, RouteResult] = OrderedDict()
        self.cache_size = cache_size
        self.hits = self.misses = 0
        self._lock = threading.Lock()
        self.rng = np.random.default_rng(seed)
        """Draws orders for configurations with exploration (see ``RankerConfig``)."""
        self._neutrals: dict[tuple[RankerConfig, bool], Playlist] = {}

    # -- loading ------------------------------------------------------------------------------

    @classmethod
    def load(cls, *, engine: Engine, encoder: Encoder, actor: Actor,
             catalogue: CatalogueIndex | None = None, intent_task: str | None = None,
             intent_version: int | None = None, margin: float = DEFAULT_MARGIN,
             seed: int | None = None) -> Router:
        """A router for the current versions (``intent_version``: a registered version other
        than the serving one, for A/B comparison), loaded by ``actor``: serving infrastructure
        (``authz.SYSTEM``, or the operator at the command line)."""
        encoder = encoder if isinstance(encoder, CachingEncoder) else CachingEncoder(encoder)
        gate = SafetyGate.load(engine=engine, encoder=encoder, actor=actor)
        task = intent_task or default_intent_task(engine=engine, actor=actor)
        intent = examples = None
        if task is not None:
            intent = _intent_model(engine=engine, actor=actor, task=task,
                                   version=intent_version)
            if intent is not None:
                examples = labeled_examples(engine=engine, actor=actor, encoder=encoder,
                                            task_name=task)
                if intent.encoder and intent.encoder != encoder.name:
                    log.warning("intent model v%s of %s was trained on %s vectors and is served "
                                "with %s: retrain it to match", intent.version, task,
                                intent.encoder, encoder.name)
        return cls(encoder=encoder, gate=gate, intent=intent, examples=examples,
                   lexicon=current_lexicon(engine=engine, actor=actor),
                   catalogue=catalogue or CatalogueIndex.load(engine=engine, encoder=encoder,
                                                              actor=actor),
                   margin=margin, seed=seed)

    def warm(self) -> None:
        """Route one prompt past the cache and build the catalogue's title index, so that lazy
        loading (the PII recognisers, model files, folded titles) is not counted in the first
        real prompt's stage timings."""
        self._route(WARM_UP_PROMPT, truncated=False, context=NO_CONTEXT, config=None,
                    slot_overrides={}, exclude_ids=(), seed_ids=(), start=time.perf_counter())
        self.catalogue.arrays.titles.build()

    def versions(self) -> dict[str, Any]:
        info = self.catalogue.info
        return {"intent_task": self.intent.task if self.intent else None,
                "intent_model": self.intent.version if self.intent else None,
                "intent_encoder": self.intent.encoder if self.intent else None,
                "safety": self.gate.versions(), "lexicon": self.lexicon.version,
                "catalogue": info.version if info else None, "encoder": self.encoder.name}

    # -- routing ------------------------------------------------------------------------------

    def route(self, prompt: Any, *, context: Context = NO_CONTEXT,
              config: RankerConfig | None = None, slot_overrides: dict[str, str] | None = None,
              exclude_ids: Sequence[str] = (), seed_ids: Sequence[str] = (),
              exploration: float = 0.0, use_cache: bool = True) -> RouteResult:
        """Route one prompt. Never raises (see the module doc).

        ``exploration``: sample the list's order at this temperature (``RankerConfig``)."""
        start = time.perf_counter()
        text = "" if prompt is None else str(prompt)
        truncated = len(text) > MAX_PROMPT_CHARS
        text = text[:MAX_PROMPT_CHARS]
        key = (fold(text), context.bucket(), config.label if config else None,
               tuple(sorted((slot_overrides or {}).items())), tuple(exclude_ids),
               tuple(seed_ids), exploration)
        if use_cache:
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
                    self.hits += 1
            if hit is not None:
                elapsed = round((time.perf_counter() - start) * 1000, 3)
                decision = replace(hit.decision, cached=True, timings_ms={"cache": elapsed,
                                                                          "total": elapsed})
                return replace(hit, decision=decision)
        try:
            result = self._route(text, truncated=truncated, context=context, config=config,
                                 slot_overrides=slot_overrides or {}, exclude_ids=exclude_ids,
                                 seed_ids=seed_ids, start=start, exploration=exploration)
        except Exception as exc:  # the router must answer every prompt; the error is recorded
            log.exception("routing failed")
            result = self._error_result(text, truncated, exc, start)
            return result
        if use_cache:
            with self._lock:
                self.misses += 1
                self._cache[key] = result
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return result

    def cache_stats(self) -> dict[str, Any]:
        total = self.hits + self.misses
        return {"hits": self.hits, "misses": self.misses, "size": len(self._cache),
                "hit_rate": self.hits / total if total else None}

    def _route(self, text: str, *, truncated: bool, context: Context,
               config: RankerConfig | None, slot_overrides: dict[str, str],
               exclude_ids: Sequence[str], seed_ids: Sequence[str], start: float,
               exploration: float = 0.0) -> RouteResult:
        timings: dict[str, float] = {}

        def lap(stage: str, since: float) -> float:
            now = time.perf_counter()
            timings[stage] = round((now - since) * 1000, 3)
            return now

        if not fold(text):
            return self._answer(text, truncated, start, timings, safety=None, intent=None,
                                slots=[], fallback="empty", message=EMPTY_MESSAGE,
                                playlist=None, config=config)
        t = time.perf_counter()
        self.encoder.reset_timer()
        verdict = self.gate.check(text)
        redacted = verdict.redacted_text
        t = lap("safety", t)
        in_gate = self.encoder.spent_ms()  # the safety model encodes the prompt: count it once
        timings["safety"] = round(max(timings["safety"] - in_gate, 0.0), 3)
        timings["encode"] = round(in_gate, 3)
        if verdict.verdict == BLOCK:
            playlist = self._neutral(config, calm=verdict.category == SELF_HARM)
            lap("ranking", t)
            return self._answer(redacted, truncated, start, timings, safety=verdict,
                                intent=None, slots=[], fallback="blocked",
                                message=verdict.message, playlist=playlist, config=config)
        vector = self.encoder.encode([redacted])[0]
        t = lap("encode", t)
        timings["encode"] = round(timings["encode"] + in_gate, 3)
        intent = self._intent(redacted, vector)
        t = lap("intent", t)
        matches, negated = self.lexicon.parse(redacted, artists=self.catalogue.artists)
        slots = [m.as_dict() for m in matches]
        for slot, value in slot_overrides.items():
            slots = [s for s in slots if s["slot"] != slot]
            if value:
                slots.append({"slot": slot, "value": value, "start": -1, "end": -1, "text": "",
                              "source": "refinement"})
        t = lap("slots", t)
        music_part = _music_part(redacted, slots)
        if intent is not None and intent["abstain"] == "out_of_scope" and not music_part \
                and not slot_overrides:
            return self._answer(redacted, truncated, start, timings, safety=verdict,
                                intent=intent, slots=slots, fallback="out_of_scope",
                                message=OUT_OF_SCOPE_MESSAGE, playlist=None, config=config)
        values = {s["slot"]: s["value"] for s in slots}
        filters = [m for m in matches if m.slot in FILTER_SLOTS]
        # a phrase naming what is not wanted ("no vocals"): its other words would find what it
        # rules out ("Can't Get Enough! - Vocal Club Mix")
        unwanted = [m for m in matches if carries_negation(m.text)]
        query = _without_spans(redacted, [*(m for m in matches if m.slot in UNSEARCHED_SLOTS),
                                          *unwanted,
                                          *(_Span(s, e) for m in filters for s, e in m.also),
                                          *(_Span(s, e) for s, e in negated)])
        dense: np.ndarray | None = vector
        if negated or filters or unwanted:  # the encoder reads "not sad" as sad, "clean rap"
            # as clean: ask for the rest, or nothing
            again = time.perf_counter()
            dense = self.encoder.encode([query])[0] if fold(query) else None
            spent = time.perf_counter() - again
            timings["encode"] = round(timings["encode"] + spent * 1000, 3)
            t += spent  # an encoding, not retrieval
        retrieved = self.catalogue.index.retrieve(query, self._dense_query(dense, values))
        relevance = np.zeros(self.catalogue.arrays.size)
        relevance[retrieved.rows] = retrieved.relevance
        t = lap("retrieval", t)
        chosen, minutes = _configuration(config, intent, values, exploration=exploration)
        playlist = rank(
            self.catalogue.arrays, slots=values, relevance=relevance, config=chosen,
            context=context, target_minutes=minutes,
            avoid_explicit=verdict.verdict == REVIEW,
            exclude_rows=[*self._rows(exclude_ids),
                          *self._avoided_rows(values.get("avoid_artist"), retrieved.rows)],
            seed_rows=[*self._artist_rows(values.get("artist")), *self._rows(seed_ids)],
            prior=self.catalogue.arrays.artist_genre_prior(values["artist"])
            if values.get("artist") and not values.get("genre") else None, rng=self.rng)
        lap("ranking", t)
        message = verdict.message if verdict.verdict == REVIEW else None
        if message is None and intent is not None and intent["abstain"] == "out_of_scope":
            message = MUSIC_PART_MESSAGE
        return self._answer(redacted, truncated, start, timings, safety=verdict, intent=intent,
                            slots=slots, fallback=None, message=message, playlist=playlist,
                            config=chosen)

    # -- parts --------------------------------------------------------------------------------

    def _intent(self, text: str, vector: np.ndarray) -> dict[str, Any] | None:
        if self.intent is None:
            return None
        proba = np.asarray(predict_proba_for(self.intent.model, [text], vector[None, :]))[0]
        order = np.argsort(-proba, kind="stable")
        ranked = [{"intent": self.intent.classes[i], "p": round(float(proba[i]), 4)}
                  for i in order[:3]]
        top, p1 = ranked[0]["intent"], float(proba[order[0]])
        p2 = float(proba[order[1]]) if len(order) > 1 else 0.0
        abstain = None
        scores = scope_scores_if_any(self.intent.model, vector[None, :])
        in_scope = p1 if scores is None else float(scores[0])  # what the threshold reads
        if top == self.intent.oos_label or in_scope < self.intent.oos_threshold:
            abstain = "out_of_scope"
        elif p1 - p2 < self.margin:
            abstain = "ambiguous"
        nearest = self.examples.nearest(vector, 3) if self.examples is not None else []
        return {"intent": top, "confidence": round(p1, 4), "alternatives": ranked[1:],
                "abstain": abstain, "nearest": nearest}

    def _dense_query(self, vector: np.ndarray | None, values: dict[str, str]
                     ) -> np.ndarray | None:
        """The prompt's vector, moved towards a seed artist's tracks (``None``: no dense list,
        when a prompt only said what it does not want)."""
        rows = self._artist_rows(values.get("artist"))
        if not rows:
            return vector
        centroid = self.catalogue.index.vectors_of(rows).mean(axis=0)
        combined = 2.0 * centroid if vector is None else vector + 2.0 * centroid
        return combined / (np.linalg.norm(combined) or 1.0)

    def _artist_rows(self, artist: str | None) -> list[int]:
        if not artist:
            return []
        return np.flatnonzero(self.catalogue.arrays.artist_mask(artist)).tolist()

    def _avoided_rows(self, artist: str | None, retrieved: np.ndarray) -> list[int]:
        """Rows of an artist the listener does not want: theirs, and the retrieved tracks that
        name them in the title ("Loyal (feat. Drake)"; retrieval found those by the name)."""
        if not artist:
            return []
        arrays = self.catalogue.arrays
        name = fold(artist)
        titles = arrays.tracks["title"].iloc[retrieved].tolist()
        featured = [int(r) for r, title in zip(retrieved.tolist(), titles, strict=True)
                    if name in fold(str(title))]
        return [*np.flatnonzero(arrays.artist_mask(artist)).tolist(), *featured]

    def _rows(self, ids: Sequence[str]) -> list[int]:
        row_of = self.catalogue.arrays.row_of
        return [row_of[i] for i in ids if i in row_of]

    def _neutral(self, config: RankerConfig | None, *, calm: bool = False) -> Playlist:
        """The deterministic safe list: popular, mid-energy (or calm), nothing explicit.

        It depends on nothing the prompt says, so each one is ranked once per router (its
        catalogue is fixed) and kept; a configuration that explores draws it afresh."""
        config = config or CONFIGS["balanced"]
        key = (config, calm)
        with self._lock:
            kept = self._neutrals.get(key)
        if kept is not None:
            return kept
        arrays = self.catalogue.arrays
        playlist = rank(arrays, slots=CALM_SLOTS if calm else NEUTRAL_SLOTS,
                        relevance=np.zeros(arrays.size), config=config, avoid_explicit=True)
        if config.exploration <= 0:
            with self._lock:
                self._neutrals[key] = playlist
        return playlist

    def _answer(self, text: str, truncated: bool, start: float, timings: dict[str, float], *,
                safety: Verdict | None, intent: dict | None, slots: list[dict],
                fallback: str | None, message: str | None, playlist: Playlist | None,
                config: RankerConfig | None) -> RouteResult:
        tracks, candidate_ids = self._display(playlist), self._ids(playlist)
        timings["total"] = round((time.perf_counter() - start) * 1000, 3)
        safety_view = {"verdict": "allow", "category": None, "reasons": [], "message": None,
                       "unsafe": None, "pii_types": []} if safety is None else {
            "verdict": safety.verdict, "category": safety.category, "reasons": safety.reasons,
            "message": safety.message, "unsafe": safety.unsafe, "pii_types": safety.pii_types}
        decision = RoutingDecision(
            prompt_id=_prompt_id(text), prompt=text,
            intent=intent["intent"] if intent else None,
            confidence=intent["confidence"] if intent else None,
            alternatives=intent["alternatives"] if intent else [],
            abstain=intent["abstain"] if intent else None,
            nearest=intent["nearest"] if intent else [], slots=slots, safety=safety_view,
            fallback=fallback, message=message, versions=self.versions(), timings_ms=timings,
            truncated=truncated)
        used = playlist.config if playlist is not None else config or CONFIGS["balanced"]
        return RouteResult(decision=decision, tracks=tracks,
                           ranker={"name": used.name, "version": used.version,
                                   "relaxed": playlist.relaxed if playlist else [],
                                   "total_ms": playlist.total_ms if playlist else 0,
                                   "target_ms": playlist.target_ms if playlist else None},
                           playlist=playlist, candidate_ids=candidate_ids)

    def _ids(self, playlist: Playlist | None) -> list[str]:
        if playlist is None or not len(playlist.candidate_rows):
            return []
        return self.catalogue.arrays.ids[playlist.candidate_rows].tolist()  # already str

    def _display(self, playlist: Playlist | None) -> list[dict[str, Any]]:
        if playlist is None or not playlist.tracks:
            return []
        records = self.catalogue.records([t.row for t in playlist.tracks], DISPLAY_FIELDS)
        return [{"position": track.position, **record, "score": track.score,
                 "reason": track.reason}
                for track, record in zip(playlist.tracks, records, strict=True)]

    def _error_result(self, text: str, truncated: bool, exc: Exception, start: float
                      ) -> RouteResult:
        try:
            playlist = self._neutral(None)
            tracks = self._display(playlist)
        except Exception:  # even the neutral list failed: answer without one
            playlist, tracks = None, []
        elapsed = round((time.perf_counter() - start) * 1000, 3)
        decision = RoutingDecision(
            prompt_id=_prompt_id(text), prompt="", intent=None, confidence=None,
            alternatives=[], abstain=None, nearest=[], slots=[],
            safety={"verdict": "allow", "category": None, "reasons": [], "message": None,
                    "unsafe": None, "pii_types": []},
            fallback="error", message=ERROR_MESSAGE, versions={}, timings_ms={"total": elapsed},
            truncated=truncated, error=f"{type(exc).__name__}: {exc}"[:300])
        return RouteResult(decision=decision, tracks=tracks,
                           ranker={"name": "balanced", "version": 1, "relaxed": [],
                                   "total_ms": playlist.total_ms if playlist else 0,
                                   "target_ms": None}, playlist=playlist)


def _configuration(config: RankerConfig | None, intent: dict | None, values: dict[str, str],
                   *, exploration: float) -> tuple[RankerConfig, float | None]:
    """The ranker configuration a prompt is served with (the caller's, else its intent's) and
    the minutes to fit: "10 songs" asks for that many tracks, whatever a duration says."""
    chosen = config or CONFIGS[INTENT_CONFIGS.get(intent["intent"] if intent else "",
                                                  DEFAULT_CONFIG)]
    if exploration > 0:
        chosen = replace(chosen, exploration=exploration)
    count = int(values["count"]) if values.get("count", "").isdigit() else None
    if count:
        return replace(chosen, size=count, pool=max(chosen.pool, count)), None
    return chosen, duration_minutes(values.get("duration", ""))


@dataclass(frozen=True)
class _Span:
    start: int
    end: int


def _without_spans(text: str, matches: Sequence[Any]) -> str:
    """``text`` without the spans of ``matches`` and the cue words before them ("like")."""
    kept: list[Any] = []
    for match in sorted(matches, key=lambda m: (m.start, -m.end)):  # overlapping spans: one
        if kept and match.start < kept[-1].end:
            if match.end > kept[-1].end:
                kept[-1] = _Span(kept[-1].start, match.end)
            continue
        kept.append(match)
    for match in sorted(kept, key=lambda m: -m.start):
        text = text[:match.start] + " " + text[match.end:]
    for cue in (" like ", " similar to ", " by ", " in the style of "):
        text = f" {text} ".replace(cue, " ").strip()
    return text


@requires(Capability.preview)
def default_intent_task(*, engine: Engine, actor: Actor) -> str | None:
    """The first intent task (the router serves one)."""
    tasks = list_tasks(engine=engine, actor=actor, kinds=("intent",))
    return tasks[0].name if tasks else None


def _intent_model(*, engine: Engine, actor: Actor, task: str, version: int | None
                  ) -> IntentModel | None:
    if version is None:
        loaded = load_serving(engine=engine, actor=actor, task_name=task)
    else:
        loaded = load_version(engine=engine, actor=actor, task_name=task, version=version)
    if loaded is None:
        return None
    info, model = loaded
    threshold = info.settings.get("oos_threshold")
    return IntentModel(model=model, version=info.version,
                       classes=[str(c) for c in model.classes_],
                       oos_label=info.settings.get("oos_label"),
                       oos_threshold=float(threshold) if threshold is not None else 0.0,
                       task=task, encoder=info.settings.get("encoder"))
