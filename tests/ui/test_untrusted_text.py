"""Untrusted text is shown as text on every page: a prompt (and a note, a reason, a display name)
carrying a Markdown image, Markdown emphasis and an HTML tag goes through the Label, Adjudicate,
Triage and Preview pages, and no element that renders Markdown gets an image, a link, emphasis
or a tag from it, while the text is still shown, character for character."""

from __future__ import annotations

import html
import json
import random
import re
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.components.untrusted import as_html
from labeling.ml.encoders import HashingEncoder
from labeling.project.accounts import create_account
from labeling.project.importing import import_file
from labeling.project.tasks import create_task, update_settings
from labeling.queue import assignments as queue
from safety import triage
from safety.policy import SafetyGate
from safety.taxonomy import category_names
from storage.db import make_engine
from tests.factories import (
    CLI,
    acting,
    demo_copy,
    demo_database,
    make_task,
    signed_in_app,
    write_jsonl,
)

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
pytestmark = [pytest.mark.ui, pytest.mark.slow(seconds=90)]
PROMPT = "![x](http://example.com/a.png) **bold** <img src=x onerror=alert(1)>"
NOTE = "see ![y](http://example.com/b.png) _now_ <b>x</b>"
NAME = "Ana ![z](http://example.com/c.png) <i>A</i>"
FORMED = re.compile(r"!\[|\]\(|\*\*bold|(?<!\\)<img|<b>|<i>|_now_")
"""What Markdown or HTML taken from the untrusted text would look like in an element's source."""


def _sources(at: AppTest) -> list[str]:
    """The source of every element and label on the page that Streamlit renders as Markdown."""
    texts = [e.value for kind in ("markdown", "caption", "info", "warning", "error", "success",
                                  "title", "header", "subheader") for e in getattr(at, kind)]
    texts += [e.label for kind in ("button", "expander", "tabs", "metric", "radio",
                                   "text_input", "selectbox") for e in getattr(at, kind)]
    texts += [str(o) for r in at.radio for o in r.options]
    return texts


def _shown(source: str) -> str:
    """What a reader sees of ``source``: for our HTML cards, the text without tags (and without
    the preview's slot tags) with references resolved; for Markdown, escapes resolved."""
    if source.startswith("<"):
        text = re.sub(r"<sub[^>]*>.*?</sub>", "", source.replace("<br>", "\n"))
        return html.unescape(re.sub(r"<[^>]+>", "", text))
    return re.sub(r"\\(.)", r"\1", source.replace("  \n", "\n"))


def _check(at: AppTest, *texts: str) -> None:
    assert not at.exception, at.exception
    sources = _sources(at)
    formed = [s for s in sources if FORMED.search(s)]
    assert formed == [], formed
    for text in texts:
        assert any(text in _shown(s) for s in sources), (text, sources)


@pytest.fixture
def project(sqlite_env, tmp_path):
    engine = make_engine(sqlite_env)
    make_task(engine)
    update_settings(engine=engine, task_name="music", actor=CLI,
                    changes={"batch_size": 4, "overlap_k": 2, "gold_share": 0.0})
    import_file(engine=engine, actor=CLI, task_name="music", encoder=HashingEncoder(),
                path=write_jsonl(tmp_path / "evil.jsonl", [{"text": PROMPT}]))
    ana = create_account(engine=engine, username="ana", password="ana-password", role="rater",
                         display_name=NAME, actor=CLI).id
    ben = create_account(engine=engine, username="ben", password="ben-password",
                         role="rater", actor=CLI).id
    rosa = create_account(engine=engine, username="rosa", password="rosa-password",
                          role="reviewer", actor=CLI).id
    return engine, ana, ben, rosa


def _label(engine, rater: int, value: str) -> None:
    item = queue.next_item(engine=engine, task_name="music", actor=acting(rater),
                           encoder=HashingEncoder(), rng=random.Random(0))
    queue.submit(engine=engine, assignment_id=item.assignment_id, actor=acting(rater), value=value)


def _labeler_prompts(at: AppTest) -> list[str]:
    """The prompts the Label page hands its keyboard labeler, whose script shows them as text
    only (``textContent``; see tests/ui/test_label_page.py), once the first batch is ready."""
    for _ in range(100):
        [labeler] = [e for e in _walk(at.main) if getattr(e, "type", "") == "bidi_component"]
        data = json.loads(labeler.proto.json)
        if data["status"] != "loading":
            return [item["text"] for item in data["items"]]
        time.sleep(0.05)
        at.run()
    raise AssertionError("the Label page never got its prompts")


def _walk(node):
    for child in getattr(node, "children", {}).values():
        yield child
        yield from _walk(child)


def test_the_label_page_shows_the_prompt_and_the_name_as_text(project):
    at = signed_in_app(MAIN, "ana", "ana-password")
    at.switch_page("app_pages/label.py").run()
    assert _labeler_prompts(at) == [PROMPT]
    _check(at, NAME)


def _cards(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("<div")]


def test_the_adjudicate_page_shows_the_prompt_as_raters_saw_it(project):
    engine, ana, ben, _ = project
    rater = signed_in_app(MAIN, "ben", "ben-password")
    [seen_by_rater] = _labeler_prompts(rater.switch_page("app_pages/label.py").run())
    _label(engine, ana, "mood")
    _label(engine, ben, "sleep")
    at = signed_in_app(MAIN, "rosa", "rosa-password")
    at.switch_page("app_pages/adjudicate.py").run()
    at.button(key="recompute").click().run()
    _check(at, PROMPT)
    [card] = _cards(at)
    assert seen_by_rater == PROMPT and as_html(PROMPT) in card


def test_the_triage_page_shows_prompt_reasons_notes_and_names_as_text(project):
    engine, ana, _, rosa = project
    create_task(engine=engine, actor=CLI, name="safety", kind="safety", labels=category_names())
    gate = SafetyGate.load(engine=engine, encoder=HashingEncoder(), actor=CLI)
    first = triage.report(engine=engine, actor=acting(ana), verdict=gate.check(PROMPT),
                          note=NOTE)
    triage.decide(engine=engine, actor=acting(rosa), flag_id=first, decision="allow", note=NOTE)
    triage.report(engine=engine, actor=acting(ana), verdict=gate.check(PROMPT), note=NOTE)
    at = signed_in_app(MAIN, "rosa", "rosa-password")
    at.switch_page("app_pages/triage.py").run()
    _check(at, PROMPT, f"reported: {NOTE}", f" — {NOTE}")


@pytest.fixture
def demo(tmp_path_factory, tmp_path, monkeypatch):
    engine = demo_copy(demo_database(tmp_path_factory), tmp_path, monkeypatch,
                       WORKBENCH_EXPLORATION="0", WORKBENCH_SECRET_KEY="untrusted-test-key")
    yield engine
    engine.dispose()


def test_the_preview_page_shows_the_prompt_as_text(demo):
    at = signed_in_app(MAIN, "ana", "ana-demo-pw")
    at.switch_page("app_pages/preview.py").run()
    at.text_input(key="preview_prompt").input(PROMPT)
    next(b for b in at.button if b.label == "Route").click().run()
    _check(at, PROMPT)


LEXICON_PHRASE = "[x](javascript:alert(1)) <img src=x onerror=alert(1)> **bold**"
LEXICON_VALUE = ":material/flag: $x^2$ <script>alert(1)</script>"


def test_the_models_page_shows_lexicon_phrases_and_values_as_text(project):
    engine = project[0]
    create_account(engine=engine, username="leo", password="leo-password", role="lead",
                   actor=CLI)
    at = signed_in_app(MAIN, "leo", "leo-password")
    at.switch_page("app_pages/models.py").run()
    for _ in range(2):  # the second time the phrase is mapped already: the error names it
        at.selectbox(key="lexicon_slot").set_value("mood")
        at.text_input(key="lexicon_value").input(LEXICON_VALUE)
        at.text_input(key="lexicon_phrase").input(LEXICON_PHRASE)
        next(b for b in at.button if b.label == "Add").click().run()
    assert at.error, "the second add should be refused"
    _check(at, LEXICON_PHRASE, LEXICON_VALUE)
    assert not [s for s in _sources(at) if re.search(r"(?<!\\)\]\(|(?<!\\)<script|(?<!\\):material",
                                                      s)]
