"""The rater's pages as a rater meets them: label, skip, unsure, suggestions, corrections."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from app.components.label_form import shortcut_for
from app.components.untrusted import as_markdown
from labeling.lifecycle.training import retrain
from labeling.ml.encoders import HashingEncoder
from labeling.project.importing import import_file
from labeling.project.tasks import update_settings
from labeling.queue import assignments as queue
from labeling.queue.assignments import QueueError
from storage.db import make_engine, session_scope
from storage.models import Assignment, Item, Label
from tests.factories import CLI, acting, make_account, make_queue_task, make_task, write_jsonl

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
pytestmark = pytest.mark.ui


@pytest.fixture
def project(sqlite_env, tmp_path):
    """Task "music" with 8 prompts (batches of 4, k=2) and the rater ana."""
    engine = make_engine(sqlite_env)
    make_queue_task(engine, HashingEncoder(), tmp_path, n_items=8, batch_size=4, k=2)
    ana = make_account(engine, username="ana", role="rater", password="ana-password")
    yield engine, ana
    engine.dispose()


def _open(page: str = "label") -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=30).run()
    at.text_input(key="sign_in_username").input("ana")
    at.text_input(key="sign_in_password").input("ana-password")
    at.button(key="sign_in").click()
    at.run()
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception
    return at


def _prompt(at: AppTest) -> str | None:
    """The prompt text shown in the card, or ``None`` when no card is shown."""
    for md in at.markdown:
        if md.value.startswith("<div style="):
            return html.unescape(re.sub(r"<[^>]+>", "", md.value.replace("<br>", "\n")))
    return None


def _button(at: AppTest, label: str):
    matches = [b for b in at.button if b.label == as_markdown(label, one_line=True)]
    assert matches, f"no button {label!r}; buttons: {[b.label for b in at.button]}"
    return matches[0]


def _lease(engine, rater: int) -> Assignment:
    with session_scope(engine) as session:
        return session.exec(select(Assignment).where(Assignment.rater_id == rater,
                                                     Assignment.status == "leased")).one()


def _labels(engine) -> list[Label]:
    with session_scope(engine) as session:
        return list(session.exec(select(Label).order_by(Label.id)))


def _item_text(engine, item_id: int) -> str:
    with session_scope(engine) as session:
        return session.get(Item, item_id).text


def test_a_label_button_with_its_shortcut_saves_the_label_and_shows_the_next_prompt(project):
    engine, ana = project
    at = _open()
    shown = _prompt(at)
    assert shown and "Model suggests" not in " ".join(c.value for c in at.caption)
    shortcuts = {label: _button(at, label).proto.shortcut
                 for label in ("mood", "workout", "sleep", "out_of_scope")}
    assert shortcuts == {"mood": "1", "workout": "2", "sleep": "3", "out_of_scope": "4"}
    mood = _button(at, "mood")
    assert _button(at, "Unsure").proto.shortcut == "u"
    assert _button(at, "Skip").proto.shortcut == "s"
    mood.click()
    at.run()
    assert not at.exception and not at.error
    [label] = _labels(engine)
    assert (label.value, label.rater_id, label.source, label.unsure) == ("mood", ana, "rater",
                                                                          False)
    assert _item_text(engine, label.item_id) == shown
    assert label.shown_at is not None and label.seconds is not None
    assert label.guideline_version == 1 and label.batch_id and label.strategy
    assert _prompt(at) not in (None, shown)
    assert {m.label: m.value for m in at.metric}["Labeled today"] == "1"
    assert any(f"Saved **mood** for prompt #{label.item_id}" in c.value for c in at.caption)


def test_label_keys_skip_the_letters_taken_by_skip_unsure_and_streamlit():
    keys = [shortcut_for(i) for i in range(40)]
    given = [k for k in keys if k]
    assert given[:11] == [*"1234567890", "Q"] and len(set(given)) == len(given) == 32
    assert not {"S", "U", "C", "R"} & set(given) and keys[-1] is None


def test_slots_are_saved_with_the_label_and_a_failed_save_keeps_the_input(project, monkeypatch):
    engine, ana = project
    at = _open()
    key = f"label_{_lease(engine, ana).id}"
    shown = _prompt(at)
    at.selectbox(key=f"{key}_slots_slot_mood").select("sad")
    at.text_input(key=f"{key}_slots_slot_duration").input("45 min")
    at.run()

    def refuse(**_):
        raise QueueError("your time on this item ran out and others labeled it")

    submit = queue.submit
    monkeypatch.setattr(queue, "submit", refuse)
    _button(at, "workout").click()
    at.run()
    assert not at.exception
    assert "ran out and others labeled it" in at.error[0].value
    assert _prompt(at) == shown and not _labels(engine)
    assert at.selectbox(key=f"{key}_slots_slot_mood").value == "sad"
    assert at.text_input(key=f"{key}_slots_slot_duration").value == "45 min"

    monkeypatch.setattr(queue, "submit", submit)  # not undo(): that would drop sqlite_env
    _button(at, "workout").click()
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    [label] = _labels(engine)
    assert label.value == "workout" and label.slots == {"mood": "sad", "duration": "45 min"}
    fresh = f"label_{_lease(engine, ana).id}"
    assert fresh != key and at.selectbox(key=f"{fresh}_slots_slot_mood").value == "—"


def test_skip_needs_a_reason_and_the_skipped_prompt_never_comes_back(project):
    engine, ana = project
    at = _open()
    skipped = _prompt(at)
    assignment_id = _lease(engine, ana).id
    _button(at, "Skip").click()
    at.run()
    assert "Choose a reason" in at.warning[0].value
    assert _prompt(at) == skipped and _lease(engine, ana).id == assignment_id

    at.selectbox(key=f"label_{assignment_id}_skip_reason").select("Not English")
    _button(at, "Skip").click()
    at.run()
    assert not at.exception and not at.error
    with session_scope(engine) as session:
        done = session.get(Assignment, assignment_id)
    assert (done.status, done.skip_reason) == ("skipped", "Not English")
    assert not _labels(engine)

    seen = []
    while (shown := _prompt(at)) is not None:
        seen.append(shown)
        _button(at, "mood").click()
        at.run()
        assert not at.exception and len(seen) < 20
    assert len(seen) == 7 and skipped not in seen
    assert "Nothing left to label in **music** — thank you" in at.success[0].value


def test_unsure_stores_an_unsure_label(project):
    engine, ana = project
    at = _open()
    shown = _prompt(at)
    _button(at, "Unsure").click()
    at.run()
    assert not at.exception
    [label] = _labels(engine)
    assert label.unsure and label.value == queue.UNSURE and label.rater_id == ana
    assert _item_text(engine, label.item_id) == shown
    assert _prompt(at) != shown


def test_an_empty_queue_thanks_the_rater(sqlite_env, tmp_path):
    engine = make_engine(sqlite_env)
    make_queue_task(engine, HashingEncoder(), tmp_path, n_items=2, batch_size=2, k=1)
    make_account(engine, username="ana", role="rater", password="ana-password")
    at = _open()
    for _ in range(2):
        _button(at, "sleep").click()
        at.run()
    assert not at.exception and _prompt(at) is None
    assert "Nothing left to label in **music** — thank you" in at.success[0].value
    assert "You labeled 2 today" in at.success[0].value
    assert not [b for b in at.button if b.label == "sleep"]
    engine.dispose()


def test_the_suggestion_shows_only_when_the_lead_turns_it_on(sqlite_env, tmp_path):
    engine = make_engine(sqlite_env)
    encoder = HashingEncoder()
    make_queue_task(engine, encoder, tmp_path, n_items=12, batch_size=6, k=1)
    make_account(engine, username="ana", role="rater", password="ana-password")
    ben = make_account(engine, username="ben", role="rater")
    for n in range(6):
        item = queue.next_item(engine=engine, task_name="music", actor=acting(ben), encoder=encoder)
        queue.submit(engine=engine, assignment_id=item.assignment_id, actor=acting(ben),
                     value=("mood", "workout")[n % 2])
    retrain(engine=engine, task_name="music", encoder=encoder, models_dir=tmp_path / "m",
            actor=CLI)

    at = _open()
    assert _prompt(at) and not [c for c in at.caption if "Model suggests" in c.value]
    update_settings(engine=engine, task_name="music", actor=CLI,
                    changes={"show_suggestions": True})
    at.run()
    [hint] = [c.value for c in at.caption if "Model suggests" in c.value]
    assert re.search(r"Model suggests: \*\*(mood|workout)\*\* \(\d+%\)", hint)
    engine.dispose()


def _shown_text(at: AppTest) -> str:
    elements = (*at.markdown, *at.caption, *at.text, *at.info, *at.success, *at.warning,
                *at.error, *at.metric, *at.dataframe, *at.text_input, *at.selectbox)
    return "\n".join(str(element.value) for element in elements)


def test_a_rater_never_sees_another_raters_label_before_answering(project):
    engine, ana = project
    ben = make_account(engine, username="ben", role="rater")
    item = queue.next_item(engine=engine, task_name="music", actor=acting(ben),
                           encoder=HashingEncoder())
    queue.submit(engine=engine, assignment_id=item.assignment_id, actor=acting(ben),
                 value="workout", slots={"mood": "dark", "duration": "ben-said-ninety-minutes"})
    at = _open()
    assert _lease(engine, ana).item_id == item.item_id  # the item ben answered (k=2)
    assert _prompt(at) == _item_text(engine, item.item_id)
    shown = _shown_text(at)
    assert "ben-said-ninety-minutes" not in shown and "ben" not in shown
    key = f"label_{_lease(engine, ana).id}_slots_slot"
    assert at.text_input(key=f"{key}_duration").value == ""
    assert at.selectbox(key=f"{key}_mood").value == "—"


def test_a_past_label_is_corrected_on_the_history_page(project):
    engine, ana = project
    ben = make_account(engine, username="ben", role="rater")
    encoder = HashingEncoder()
    item = queue.next_item(engine=engine, task_name="music", actor=acting(ben), encoder=encoder)
    queue.submit(engine=engine, assignment_id=item.assignment_id, actor=acting(ben), value="sleep")
    at = _open()
    _button(at, "mood").click()
    at.run()
    [old] = [label for label in _labels(engine) if label.rater_id == ana]

    at.switch_page("app_pages/history.py").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["Label #"]) == [old.id] and list(table["Label"]) == ["mood"]  # not ben's
    assert at.selectbox(key="history_music_pick").value == old.id
    at.selectbox(key=f"correct_{old.id}_value").select("workout")
    at.selectbox(key=f"correct_{old.id}_slots_slot_mood").select("calm")
    at.button(key=f"correct_{old.id}_save").click()
    at.run()
    assert not at.exception and not at.error
    assert "old label is kept in the provenance" in at.success[0].value
    mine = {label.id: label for label in _labels(engine) if label.rater_id == ana}
    assert mine[old.id].superseded and mine[old.id].value == "mood"
    [new] = [label for label in mine.values() if label.corrects_label_id == old.id]
    assert (new.value, new.slots, new.superseded) == ("workout", {"mood": "calm"}, False)
    assert list(at.dataframe[0].value["Label"]) == ["workout"]


def test_the_task_choice_is_remembered_and_a_safety_task_has_no_slots(project, tmp_path):
    engine, _ = project
    make_task(engine, name="safety", kind="safety", labels=("safe", "hate"), oos_label=None)
    import_file(engine=engine, actor=CLI, task_name="safety", encoder=HashingEncoder(),
                path=write_jsonl(tmp_path / "safety.jsonl", [{"text": "a playlist for my gran"}]))
    at = _open()
    at.selectbox(key="label_task").select("safety").run()
    assert _prompt(at) == "a playlist for my gran"
    assert [b.label for b in at.button if b.proto.shortcut in {"1", "2"}] == ["safe", "hate"]
    assert not [s for s in at.selectbox if "_slots_" in (s.key or "")]
    at.switch_page("app_pages/history.py").run()
    assert at.selectbox(key="history_task").value == "safety"
    assert "no labels in **safety** yet" in at.info[0].value
