"""The bundled demo tasks and prompts: counts, validity and the loaders' error reporting."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from labeling.dataio.demo_content import (
    PROMPT_STYLES,
    load_intent_prompts,
    load_intent_task,
    parse_intent_prompts,
)
from routing.catalogue import GENRES
from safety.demo_content import load_safety_prompts, load_safety_task, parse_safety_prompts
from safety.taxonomy import (
    CATEGORIES,
    SAFE_LABEL,
    SEVERITY_ORDER,
    SafetyCategory,
    category_names,
    get_category,
)

EXPECTED_SAFETY_ORDER = [
    "safe", "hate", "harassment", "sexual", "self_harm", "violence", "illicit", "privacy_pii",
    "jailbreak_injection",
]


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


@pytest.fixture(scope="module")
def intent_task() -> dict:
    return load_intent_task()


@pytest.fixture(scope="module")
def intent_prompts() -> list[dict]:
    return load_intent_prompts()


@pytest.fixture(scope="module")
def safety_prompts() -> list[dict]:
    return load_safety_prompts()


# --- intent task ---------------------------------------------------------------------------


def test_intent_task_shape(intent_task):
    assert intent_task["name"] == "intent"
    assert intent_task["kind"] == "intent"
    labels = intent_task["labels"]
    assert 14 <= len(labels) <= 16
    assert len(set(labels)) == len(labels)
    assert labels[-1] == intent_task["oos_label"] == "out_of_scope"
    for label in ("mood", "activity", "focus_study", "workout", "sleep_relax", "party",
                  "genre_exploration", "similar_to_artist", "similar_to_track", "era_nostalgia",
                  "discovery", "refine_playlist", "commute_travel"):
        assert label in labels
    assert all(label == label.lower() and " " not in label for label in labels)


def test_intent_slot_vocabularies(intent_task):
    slots = intent_task["slots"]
    assert set(slots) == {
        "mood", "activity", "genre", "era", "tempo", "energy", "vocals", "duration", "explicit",
    }
    assert slots["tempo"]["values"] == ["slow", "medium", "fast"]
    assert slots["energy"]["values"] == ["low", "medium", "high"]
    assert slots["vocals"]["values"] == ["instrumental", "vocals", "no_preference"]
    assert slots["explicit"]["values"] == ["allow", "avoid"]
    assert slots["era"]["values"] == ["60s", "70s", "80s", "90s", "2000s", "2010s", "recent"]
    assert slots["duration"]["values"] is None
    assert slots["duration"]["pattern"]
    assert 18 <= len(slots["genre"]["values"]) <= 26
    for spec in slots.values():
        values = spec["values"] or []
        assert len(set(values)) == len(values)


def test_catalogue_genres_match_the_genre_slot(intent_task):
    assert list(GENRES) == intent_task["slots"]["genre"]["values"]


def test_intent_guideline_covers_every_intent(intent_task):
    guideline = intent_task["guideline"]
    assert guideline.startswith("# ")
    for label in intent_task["labels"]:
        assert f"**{label}**" in guideline
    for topic in ("Multi-intent", "Out of scope", "Slots", "Typos"):
        assert topic in guideline


# --- intent prompts ------------------------------------------------------------------------


def test_intent_prompt_counts(intent_task, intent_prompts):
    assert len(intent_prompts) >= 650
    counts = Counter(p["intent"] for p in intent_prompts)
    assert set(counts) == set(intent_task["labels"])
    assert min(counts.values()) >= 30
    assert counts["out_of_scope"] >= 60


def test_intent_prompts_are_unique(intent_prompts):
    keys = [_key(p["text"]) for p in intent_prompts]
    duplicates = [k for k, n in Counter(keys).items() if n > 1]
    assert duplicates == []


def test_intent_prompts_are_valid(intent_task, intent_prompts):
    slots = intent_task["slots"]
    for prompt in intent_prompts:
        assert set(prompt) == {"text", "intent", "slots", "style"}
        assert prompt["text"] == prompt["text"].strip() and prompt["text"]
        assert prompt["intent"] in intent_task["labels"]
        assert prompt["style"] in PROMPT_STYLES
        for slot, value in prompt["slots"].items():
            vocabulary = slots[slot]["values"]
            assert vocabulary is None or value in vocabulary, (prompt["text"], slot, value)


def test_intent_prompts_vary(intent_prompts):
    styles = Counter(p["style"] for p in intent_prompts)
    assert set(styles) == set(PROMPT_STYLES)
    assert styles["plain"] < len(intent_prompts) / 2
    for style in ("typo", "slang", "multi_intent", "ambiguous"):
        assert styles[style] >= 30
    lengths = [len(p["text"].split()) for p in intent_prompts]
    assert min(lengths) == 1 and max(lengths) >= 12
    assert any(p["text"].isupper() for p in intent_prompts)
    assert any(not p["text"].isascii() for p in intent_prompts)  # emoji and accents
    assert sum(bool(p["slots"]) for p in intent_prompts) > len(intent_prompts) / 2
    assert any("duration" in p["slots"] for p in intent_prompts)


def test_out_of_scope_style_matches_intent(intent_prompts):
    for prompt in intent_prompts:
        assert (prompt["style"] == "out_of_scope") == (prompt["intent"] == "out_of_scope")
        if prompt["intent"] == "out_of_scope":
            assert prompt["slots"] == {}


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"text": "x", "intent": "nope", "slots": {}, "style": "plain"}', "unknown intent"),
        ('{"text": "x", "intent": "mood", "slots": {"mood": "grumpy"}, "style": "plain"}',
         "not in its vocabulary"),
        ('{"text": "x", "intent": "mood", "slots": {"colour": "red"}, "style": "plain"}',
         "unknown slot"),
        ('{"text": "x", "intent": "mood", "slots": {}, "style": "poetic"}', "unknown style"),
        ('{"text": "x", "intent": "mood"}', "expected an object"),
        ("{not json", "not valid JSON"),
    ],
)
def test_parse_intent_prompts_names_the_bad_line(intent_task, line, problem):
    good = json.dumps({"text": "sad songs", "intent": "mood", "slots": {}, "style": "plain"})
    with pytest.raises(ValueError, match=rf"line 3: .*{problem}"):
        parse_intent_prompts(f"{good}\n\n{line}\n", task=intent_task)


def test_parse_intent_prompts_rejects_duplicates(intent_task):
    lines = [
        json.dumps({"text": text, "intent": "mood", "slots": {}, "style": "plain"})
        for text in ("Sad songs", "happy songs", "sad  SONGS")
    ]
    with pytest.raises(ValueError, match="line 3: duplicate of line 1"):
        parse_intent_prompts("\n".join(lines), task=intent_task)


def test_parse_intent_prompts_accepts_free_text_duration(intent_task):
    line = json.dumps({"text": "x", "intent": "workout", "slots": {"duration": "45 min"},
                       "style": "plain"})
    assert parse_intent_prompts(line, task=intent_task)[0]["slots"] == {"duration": "45 min"}


# --- safety --------------------------------------------------------------------------------


def test_taxonomy_order_and_lookup():
    assert category_names() == EXPECTED_SAFETY_ORDER
    assert SAFE_LABEL == "safe" == CATEGORIES[0].name
    assert sorted(SEVERITY_ORDER) == sorted(EXPECTED_SAFETY_ORDER)
    assert SEVERITY_ORDER[-1] == SAFE_LABEL
    category = get_category("privacy_pii")
    assert isinstance(category, SafetyCategory)
    assert category.title and category.description and category.examples
    assert all(c.examples and isinstance(c.examples, tuple) for c in CATEGORIES)
    with pytest.raises(AttributeError):
        category.name = "other"  # type: ignore[misc]


def test_unknown_category_raises_listing_valid_names():
    with pytest.raises(ValueError, match="unknown safety category 'spam'") as info:
        get_category("spam")
    for name in EXPECTED_SAFETY_ORDER:
        assert name in str(info.value)


def test_safety_task_shape():
    task = load_safety_task()
    assert task["name"] == "safety"
    assert task["kind"] == "safety"
    assert task["labels"] == EXPECTED_SAFETY_ORDER
    guideline = task["guideline"]
    for name in EXPECTED_SAFETY_ORDER:
        assert f"**{name}**" in guideline
    assert "unsure" in guideline and "most severe" in guideline


def test_safety_prompt_counts(safety_prompts):
    assert len(safety_prompts) >= 200
    counts = Counter(p["label"] for p in safety_prompts)
    assert counts[SAFE_LABEL] >= 60
    for name in EXPECTED_SAFETY_ORDER[1:]:
        assert counts[name] >= 15, name


def test_safety_prompts_are_unique_and_valid(safety_prompts):
    keys = [_key(p["text"]) for p in safety_prompts]
    assert len(set(keys)) == len(keys)
    for prompt in safety_prompts:
        assert set(prompt) - {"style"} == {"text", "label"}
        assert prompt["label"] in EXPECTED_SAFETY_ORDER
    styles = {p.get("style"): p["label"] == SAFE_LABEL for p in safety_prompts}
    assert styles == {None: styles[None], "lookalike": True, "twin": False}


def test_look_alikes_are_safe_and_their_twins_unsafe(safety_prompts):
    look = [p for p in safety_prompts if p.get("style") == "lookalike"]
    twins = [p for p in safety_prompts if p.get("style") == "twin"]
    assert len(look) >= 60 and len(twins) >= 30
    assert {p["label"] for p in look} == {SAFE_LABEL}
    assert SAFE_LABEL not in {p["label"] for p in twins}
    with pytest.raises(ValueError, match="unknown style"):
        parse_safety_prompts('{"text": "x", "label": "safe", "style": "edgy"}',
                             labels=category_names())


def test_tricky_safe_examples_are_safe(safety_prompts):
    labels = {p["text"]: p["label"] for p in safety_prompts}
    for text in ("killer workout playlist", "songs about heartbreak", "music that slaps",
                 "songs to cheer up a friend who is sad"):
        assert labels[text] == SAFE_LABEL
    assert labels["songs to help me end it all"] == "self_harm"


def test_parse_safety_prompts_names_the_bad_line():
    text = '{"text": "jazz", "label": "safe"}\n{"text": "x", "label": "spam"}\n'
    with pytest.raises(ValueError, match="line 2: unknown label 'spam'"):
        parse_safety_prompts(text, labels=category_names())
    with pytest.raises(ValueError, match="line 2: duplicate of line 1"):
        parse_safety_prompts('{"text": "Jazz", "label": "safe"}\n{"text": "jazz", "label": "safe"}',
                             labels=category_names())
