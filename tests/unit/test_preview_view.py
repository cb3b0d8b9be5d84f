"""The Preview's prompt markup: each slot's phrases marked with their slot and value."""

from __future__ import annotations

from app.components.preview_view import marked_slots
from routing.default_lexicon import default_entries
from routing.lexicon import Lexicon

LEXICON = Lexicon(1, default_entries())


def test_the_preview_marks_a_slot_s_later_phrases_too():
    text = "no explicit pop for the kids"
    slots = [m.as_dict() for m in LEXICON.match(text)]
    marked = marked_slots(text, slots)
    assert marked.count("explicit&#61;avoid</sub></mark>") == 2 and ">kids<sub" in marked
    assert marked.count("genre&#61;pop</sub></mark>") == 1
