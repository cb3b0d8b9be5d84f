"""The one helper that shows untrusted text literally: every character kept, nothing formed,
in Markdown and in HTML (and in the marked-up prompts built from it)."""

from __future__ import annotations

import html
import re

import pytest

from app.components.preview_view import marked_slots
from app.components.safety_view import marked_text
from app.components.untrusted import as_html, as_markdown

PROMPT = "![x](http://example.com/a.png) **bold** <img src=x onerror=alert(1)>"
FORMED = re.compile(r"!\[|\]\(|\*\*bold|(?<!\\)<img|<b>|<i>|_now_")
PUNCTUATION = re.compile(r"[!-/:-@\[-`{-~]")


def _read_markdown(source: str) -> str:
    """The characters a Markdown source shows when every mark in it is escaped."""
    return re.sub(r"\\(.)", r"\1", source.replace("  \n", "\n"))


def _read_html(source: str) -> str:
    """The characters an HTML source shows, tags (and the preview's slot tags) dropped."""
    text = re.sub(r"<sub[^>]*>.*?</sub>", "", source.replace("<br>", "\n"))
    return html.unescape(re.sub(r"<[^>]+>", "", text))


@pytest.mark.parametrize("text", [
    PROMPT, "see ![y](http://example.com/b.png) _now_ <b>x</b>", "# heading", "- item",
    "1. first", "> quote", "`code`", "$x^2$",
    ":red[alert] :material/flag: :smile:", "a | b\n--|--", "line one\n\nline two\r\rthree",
    "back\\slash", "[link](javascript:alert(1))", "~~gone~~", "&lt;escaped&gt; &amp;",
])
def test_the_helper_keeps_every_character_and_forms_nothing(text):
    markdown, markup = as_markdown(text), as_html(text)
    assert _read_markdown(markdown) == text.replace("\r", "\n")
    assert html.unescape(markup.replace("<br>", "\n")) == text.replace("\r", "\n")
    assert not PUNCTUATION.search(re.sub(r"\\[!-/:-@\[-`{-~]", "", markdown)), markdown
    assert not PUNCTUATION.search(re.sub(r"&#\d+;", "", markup.replace("<br>", ""))), markup
    assert "\n" not in markup and "\r" not in markup  # no blank line can end an HTML block
    assert "\n" not in as_markdown(text, one_line=True)


def test_marked_spans_keep_the_rest_of_the_text_inert():
    start = PROMPT.index("**bold**")
    hits = [{"start": start, "end": start + 8}]
    slots = [{"start": start, "end": start + 8, "slot": "mood<x>", "value": "a\"b"}]
    for marked in (marked_text(PROMPT, hits), marked_slots(PROMPT, slots)):
        assert not FORMED.search(marked) and 'a"b' not in marked and "<x>" not in marked
        assert _read_html(marked) == PROMPT


def test_a_service_message_quoting_what_the_user_typed_shows_as_text():
    from app.errors import describe
    from labeling.exceptions import LabelingError

    refused = LabelingError(f"an account named {PROMPT} exists already")
    markdown = describe(refused)
    assert _read_markdown(markdown) == str(refused) and not FORMED.search(markdown)
    assert describe(refused, markdown=False) == str(refused)  # for callers that escape a line
