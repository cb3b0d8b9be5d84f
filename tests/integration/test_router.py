"""The router over the demo project with its trained models (the fast hashing encoder): the
decision's parts, the fallbacks, the abstain reasons, the cache and its invalidation, and arbitrary
text that must never raise."""

from __future__ import annotations

import gc
import weakref
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.demo import seed_demo
from labeling.lifecycle.registry import promote, set_oos_threshold
from labeling.lifecycle.training import retrain
from labeling.ml.encoders import HashingEncoder
from routing.context import Context
from routing.lexicon import add_phrase
from routing.ranker import CONFIGS, CatalogueArrays, rank
from routing.router import (
    DISPLAY_FIELDS,
    MUSIC_PART_MESSAGE,
    NEUTRAL_SLOTS,
    OUT_OF_SCOPE_MESSAGE,
    Router,
)
from routing.serving import RouterCache
from safety.policy import DEFAULT_SETTINGS, SafetyGate
from safety.rules import default_rule_set
from storage.db import make_engine, migrate
from tests.factories import CLI

ENCODER = HashingEncoder()


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("router")
    engine = make_engine(f"sqlite:///{folder / 'workbench.db'}")
    migrate(engine)
    counts = seed_demo(engine=engine, encoder=ENCODER, models_dir=folder / "models")
    assert counts["intent_model"] == 1 and counts["safety_model"] == 1
    yield engine, folder
    engine.dispose()


@pytest.fixture(scope="module")
def router(project) -> Router:
    return Router.load(engine=project[0], encoder=ENCODER, actor=CLI)


def _copy(router: Router, **changes) -> Router:
    """A router sharing ``router``'s parts, with some changed (and its own cache)."""
    parts = {"encoder": router.encoder, "gate": router.gate, "intent": router.intent,
             "examples": router.examples, "lexicon": router.lexicon,
             "catalogue": router.catalogue, "margin": router.margin}
    return Router(**{**parts, **changes})


def test_a_music_prompt_gets_a_full_decision_and_a_playlist(router):
    prompt = "chill 90s hip hop for studying, no explicit"
    result = router.route(prompt, use_cache=False)
    decision = result.decision
    assert decision.fallback is None and decision.error is None
    assert decision.intent in router.intent.classes and 0.0 <= decision.confidence <= 1.0
    assert decision.abstain in (None, "out_of_scope", "ambiguous")
    assert len(decision.nearest) == 3 and {"text", "label"} <= set(decision.nearest[0])
    values = decision.slot_values()
    assert values["era"] == "90s" and values["genre"] == "hip hop"
    for slot in decision.slots:  # every slot points at the words it came from
        assert prompt[slot["start"]:slot["end"]] == slot["text"]
    assert decision.safety["verdict"] in ("allow", "review")
    assert decision.versions["intent_model"] == 1 and decision.versions["lexicon"] >= 1
    assert decision.versions["catalogue"] == 1
    assert {"safety", "encode", "intent", "slots", "retrieval", "ranking", "total"} <= set(
        decision.timings_ms)
    assert 10 <= len(result.tracks) <= 20
    assert set(DISPLAY_FIELDS) <= set(result.tracks[0]) and all(t["reason"] for t in
                                                                 result.tracks)
    assert not any(t["explicit"] for t in result.tracks)


def test_a_blocked_prompt_gets_the_same_safe_list_and_a_message(router):
    first = router.route("how do I make a pipe bomb at home", use_cache=False)
    second = router.route("how do I make a pipe bomb at home", use_cache=False)
    assert first.decision.fallback == "blocked" and first.decision.safety["verdict"] == "block"
    assert first.decision.message and first.decision.intent is None
    assert first.tracks and not any(t["explicit"] for t in first.tracks)
    assert [t["track_id"] for t in first.tracks] == [t["track_id"] for t in second.tracks]


def test_the_safe_list_is_ranked_once_per_router_and_equals_a_fresh_ranking(router):
    first = router.route("how do I make a pipe bomb at home", use_cache=False)
    again = router.route("tell me how to build a pipe bomb", use_cache=False)
    assert again.decision.fallback == "blocked"
    assert again.playlist is first.playlist  # kept, not ranked again
    arrays = router.catalogue.arrays
    fresh = rank(arrays, slots=NEUTRAL_SLOTS, relevance=np.zeros(arrays.size),
                 config=CONFIGS["balanced"], avoid_explicit=True)
    assert [t.row for t in first.playlist.tracks] == [t.row for t in fresh.tracks]
    exploring = replace(CONFIGS["balanced"], exploration=0.5)
    assert router._neutral(exploring) is not router._neutral(exploring)  # drawn each time


def test_pii_is_redacted_before_anything_sees_the_prompt(router):
    result = router.route("upbeat songs for jane.doe@example.com call +44 20 7946 0958",
                          use_cache=False)
    assert "jane.doe@example.com" not in result.decision.prompt
    assert "7946" not in result.decision.prompt
    assert {"EMAIL", "PHONE"} <= set(result.decision.safety["pii_types"])


def test_out_of_scope_is_answered_politely_unless_there_is_a_music_part(router):
    rules_only = SafetyGate(rules=default_rule_set(), model=None, encoder=None, task=None,
                            policy_version=None, settings=dict(DEFAULT_SETTINGS))
    strict = _copy(router, intent=replace(router.intent, oos_threshold=1.01), gate=rules_only)
    weather = strict.route("what's the weather in Paris", use_cache=False)
    assert weather.decision.abstain == "out_of_scope"
    assert weather.decision.fallback == "out_of_scope"
    assert weather.decision.message == OUT_OF_SCOPE_MESSAGE and weather.tracks == []
    mixed = strict.route("play some jazz and set a timer", use_cache=False)
    assert mixed.decision.fallback is None and mixed.decision.message == MUSIC_PART_MESSAGE
    assert mixed.tracks
    # a slot alone is a music part only if it names music or the prompt has a music word
    for prompt in ("who won the world cup in 2018", "schedule a meeting with my boss"):
        answer = strict.route(prompt, use_cache=False)
        assert answer.decision.slot_values() and answer.decision.fallback == "out_of_scope"
    for prompt in ("set a timer and play something happy", "what time is it, 90s songs",
                   "songs called hello"):  # a title asked for ("hello" alone is a greeting)
        assert strict.route(prompt, use_cache=False).decision.fallback is None


def test_ambiguous_is_a_separate_reason(router):
    unsure = _copy(router, margin=1.0,
                   intent=replace(router.intent, oos_threshold=0.0, oos_label=None))
    result = unsure.route("songs for a long drive", use_cache=False)
    assert result.decision.abstain == "ambiguous" and result.decision.fallback is None
    assert result.tracks


def test_empty_prompt_gets_a_hint_not_an_error(router):
    for prompt in ("", "   ", None):
        result = router.route(prompt, use_cache=False)
        assert result.decision.fallback == "empty" and result.decision.message


def test_a_failing_stage_answers_with_the_neutral_list(router, monkeypatch):
    broken = _copy(router)

    def fail(*_, **__):
        raise RuntimeError("index gone")

    monkeypatch.setattr(broken.catalogue.index, "retrieve", fail)
    result = broken.route("happy pop", use_cache=False)
    assert result.decision.fallback == "error" and "index gone" in result.decision.error
    assert result.tracks


def test_warming_up_builds_the_title_index_the_first_title_ask_would_wait_for(router):
    catalogue = replace(router.catalogue, arrays=CatalogueArrays(router.catalogue.tracks))
    assert not catalogue.arrays.titles.built
    _copy(router, catalogue=catalogue).warm()
    assert catalogue.arrays.titles.built


def test_refinements_are_explicit_and_idempotent(router):
    base = router.route("upbeat pop", use_cache=False)
    third = base.tracks[2]["track_id"]
    once = router.route("upbeat pop", slot_overrides={"explicit": "avoid"},
                        exclude_ids=[base.tracks[0]["track_id"]], seed_ids=[third],
                        use_cache=False)
    twice = router.route("upbeat pop", slot_overrides={"explicit": "avoid"},
                         exclude_ids=[base.tracks[0]["track_id"]], seed_ids=[third],
                         use_cache=False)
    assert [t["track_id"] for t in once.tracks] == [t["track_id"] for t in twice.tracks]
    assert base.tracks[0]["track_id"] not in [t["track_id"] for t in once.tracks]
    assert not any(t["explicit"] for t in once.tracks)
    assert {"slot": "explicit", "value": "avoid", "start": -1, "end": -1, "text": "",
            "source": "refinement"} in once.decision.slots


def test_context_and_configuration_change_the_answer(router):
    prompt = "songs for the afternoon"
    plain = router.route(prompt, use_cache=False)
    skipped = plain.tracks[0]["artist"]
    session = router.route(prompt, context=Context(skipped_artists=(skipped,)),
                           use_cache=False)
    assert skipped not in [t["artist"] for t in session.tracks]
    discovery = router.route(prompt, config=CONFIGS["discovery"], use_cache=False)
    assert discovery.ranker["name"] == "discovery"
    assert [t["track_id"] for t in discovery.tracks] != [t["track_id"] for t in plain.tracks]


def test_the_cache_answers_repeats_and_keys_on_context(router):
    fresh = _copy(router)
    first = fresh.route("Rainy Day Jazz")
    again = fresh.route("  rainy day jazz ")
    assert not first.decision.cached and again.decision.cached
    assert again.tracks == first.tracks
    other = fresh.route("rainy day jazz", context=Context(time_of_day="night"))
    assert not other.decision.cached
    assert fresh.cache_stats()["hits"] == 1 and fresh.cache_stats()["misses"] == 2


def test_a_warm_router_is_out_of_the_collectors_reach_and_a_replaced_one_is_freed(project):
    engine, _ = project
    routers = RouterCache()
    gc.unfreeze()
    try:
        first = routers.current(engine=engine, encoder=ENCODER, actor=CLI)
        assert gc.get_freeze_count() > 0  # no full collection walks the warm router
        first.itself = first  # a reference cycle: only the cyclic collector can free it
        gone = weakref.ref(first)
        del first

        add_phrase(engine=engine, slot="activity", value="working_out", phrase="zumba-ing",
                   actor=CLI)
        second = routers.current(engine=engine, encoder=ENCODER, actor=CLI)
        assert gone() is None  # unfrozen and collected once replaced
        assert second.route("music for zumba-ing").decision.slot_values()["activity"] \
            == "working_out"
    finally:
        gc.unfreeze()


def test_a_lexicon_edit_or_a_promotion_never_serves_a_stale_answer(project):
    engine, folder = project
    routers = RouterCache()
    before = routers.current(engine=engine, encoder=ENCODER, actor=CLI)
    assert routers.current(engine=engine, encoder=ENCODER, actor=CLI) is before
    before.route("music for a zorbing session")
    assert "activity" not in before.route("music for a zorbing session").decision.slot_values()

    add_phrase(engine=engine, slot="activity", value="working_out", phrase="zorbing",
               actor=CLI)
    after = routers.current(engine=engine, encoder=ENCODER, actor=CLI)
    assert after is not before
    answer = after.route("music for a zorbing session")
    assert not answer.decision.cached
    assert answer.decision.slot_values()["activity"] == "working_out"

    retrain(engine=engine, task_name="intent", encoder=ENCODER, models_dir=folder / "models",
            actor=CLI, seed=1)
    promote(engine=engine, task_name="intent", version=2, actor=CLI, encoder=ENCODER,
            force=True, reason="test")
    promoted = routers.current(engine=engine, encoder=ENCODER, actor=CLI)
    assert promoted is not after and promoted.versions()["intent_model"] == 2
    assert not promoted.route("music for a zorbing session").decision.cached
    older = routers.current(engine=engine, encoder=ENCODER, actor=CLI, intent_version=1)
    assert older.versions()["intent_model"] == 1  # an A/B side keeps the version it asked for

    # a lead moves the out-of-scope operating point: the next prompt is routed with it
    prompt = "upbeat songs for my morning run"
    set_oos_threshold(engine=engine, task_name="intent", version=2, threshold=-1e9,
                      actor=CLI)
    lenient = routers.current(engine=engine, encoder=ENCODER, actor=CLI)
    assert lenient is not promoted
    assert lenient.route(prompt).decision.abstain != "out_of_scope"
    set_oos_threshold(engine=engine, task_name="intent", version=2, threshold=1e9,
                      actor=CLI)
    stricter = routers.current(engine=engine, encoder=ENCODER, actor=CLI)
    assert stricter is not lenient
    assert stricter.route(prompt).decision.abstain == "out_of_scope"


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=200),
    st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=50),
    st.sampled_from(["音楽 リラックス", "موسيقى هادئة", "музыка для бега", "🎧🔥💃",
                     "\x00\x07\u202e", "x" * 100_000, "chill " * 20_000])))
def test_arbitrary_text_never_raises_and_never_errors(router, text):
    result = router.route(text, use_cache=False)
    assert result.decision.fallback != "error", result.decision.error
    assert len(result.decision.prompt) <= 2_000
    assert result.decision.truncated == (len(text) > 2_000)
    assert result.decision.safety["verdict"] in ("allow", "review", "block")


def test_the_lexicon_is_measured_on_the_slots_raters_labeled(project):
    from routing.lexicon import measure_lexicon

    quality = measure_lexicon(engine=project[0], actor=CLI, task_name="intent")
    rows = {r["slot"]: r for r in quality.rows}
    assert quality.n_labels > 200 and {"genre", "era", "duration", "mood"} <= set(rows)
    assert "bpm" not in rows and "artist" not in rows  # not in the task's slot schema
    assert rows["duration"]["recall"] >= 0.9 and rows["era"]["recall"] >= 0.8
    assert all(row["labeled"] > 0 for row in rows.values())
    assert 0.5 <= rows["genre"]["precision"] <= 1.0


def test_an_artist_the_prompt_does_not_want_is_left_out(router, monkeypatch):
    frame = router.catalogue.tracks
    artist = frame["artist"].value_counts().index[0]
    sought = router.route(f"songs by {artist}", use_cache=False)
    assert sum(t["artist"] == artist for t in sought.tracks) == 2  # the most per artist
    avoided = router.route(f"anything but {artist}", use_cache=False)
    assert avoided.decision.slot_values()["avoid_artist"] == artist
    assert artist not in [t["artist"] for t in avoided.tracks]
    # a retrieved track naming them in its title goes too
    row = int(frame.index[frame["artist"] != artist][0])
    featured = frame.copy()
    featured.loc[row, "title"] = f"A Song (feat. {artist})"
    monkeypatch.setattr(router.catalogue.arrays, "tracks", featured)
    assert router._avoided_rows(artist, np.asarray([row])) == [
        *np.flatnonzero(frame["artist"] == artist).tolist(), row]


def test_retrieval_looks_for_what_is_left_when_the_prompt_negates(router, monkeypatch):
    """The encoder reads "not sad" as sad: the dense and sparse queries drop the negated
    words, and a prompt that only says what it does not want gets no dense list at all."""
    seen: list[tuple[str, bool]] = []
    retrieve = router.catalogue.index.retrieve

    def spy(query, vector, **kw):
        seen.append((query, vector is None))
        return retrieve(query, vector, **kw)

    monkeypatch.setattr(router.catalogue.index, "retrieve", spy)
    encoded: list[str] = []
    encode = router.encoder.encode
    monkeypatch.setattr(router.encoder, "encode", lambda texts: (encoded.extend(texts),
                                                                 encode(texts))[1])
    result = router.route("rock songs that are not sad", use_cache=False)
    assert result.decision.slot_values()["mood"] == "happy"
    assert seen[-1] == ("rock songs that are", False)
    assert encoded[-1] == "rock songs that are"
    calm = router.route("nothing too upbeat, music please", use_cache=False)
    assert calm.decision.slot_values() == {"energy": "low"}
    assert seen[-1] == (", music please", False) and calm.tracks
    frame = router.catalogue.tracks
    assert np.mean([t["energy"] for t in calm.tracks]) < frame["energy"].mean()
    # nothing left to look for: no dense list (the prompt's vector would find the upbeat)
    assert router._dense_query(None, {}) is None
    retrieved = retrieve("", None)
    assert len(retrieved.rows) == 0 and (retrieved.dense_rank == -1).all()
    sparse_only = retrieve("rock", None)
    assert len(sparse_only.rows) and (sparse_only.dense_rank == -1).all()


def test_a_number_of_songs_sets_the_list_s_length_over_a_duration(router):
    ten = router.route("10 songs of rock music", use_cache=False)
    assert ten.decision.slot_values()["count"] == "10" and len(ten.tracks) == 10
    both = router.route("5 rock songs, about 2 hours", use_cache=False)
    assert both.decision.slot_values()["duration"] == "2 hours" and len(both.tracks) == 5
    assert len(router.route("rock songs, about 2 hours", use_cache=False).tracks) > 20


def test_the_sparse_search_leaves_out_the_words_of_a_filter(router, monkeypatch):
    """ "kids" asks for clean songs, not for tracks titled "Kids": the explicit slot's words
    are no search words, while the other slots' words stay."""
    seen: list[str] = []
    vectors: list = []
    retrieve = router.catalogue.index.retrieve

    def spy(query, vector, **kw):
        seen.append(query)
        vectors.append(vector)
        return retrieve(query, vector, **kw)

    monkeypatch.setattr(router.catalogue.index, "retrieve", spy)
    result = router.route("kids party songs", use_cache=False)
    assert result.decision.slot_values() == {"explicit": "avoid", "occasion": "party"}
    assert "kids" not in seen[-1] and "party songs" in seen[-1]
    router.route("clean rap", use_cache=False)
    assert "clean" not in seen[-1] and "rap" in seen[-1]
    # a filter named twice: the later phrase is no search word either, and the dense search
    # reads the prompt without them (the encoder would find tracks titled "Kids")
    result = router.route("no explicit pop for the kids", use_cache=False)
    assert result.decision.slot_values() == {"explicit": "avoid", "genre": "pop"}
    assert "kids" not in seen[-1] and "explicit" not in seen[-1] and "pop" in seen[-1]
    np.testing.assert_allclose(vectors[-1], router.encoder.encode([seen[-1]])[0], atol=1e-6)
    # a phrase naming what is not wanted: its other words would find it ("Vocal Club Mix")
    result = router.route("edm with no vocals", use_cache=False)
    assert result.decision.slot_values() == {"genre": "edm", "vocals": "instrumental"}
    assert "vocals" not in seen[-1] and "edm" in seen[-1]
    np.testing.assert_allclose(vectors[-1], router.encoder.encode([seen[-1]])[0], atol=1e-6)
    router.route("party songs", use_cache=False)  # no filter: the prompt's own vector
    np.testing.assert_allclose(vectors[-1], router.encoder.encode(["party songs"])[0],
                               atol=1e-6)
