"""The adjudication page: a reviewer settles a disagreement; a lead sends label errors back."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from labeling.ml.encoders import HashingEncoder
from labeling.project.exporting import label_rows
from labeling.queue import assignments as queue
from storage.db import make_engine, session_scope
from storage.models import Consensus
from tests.factories import CLI, acting, make_account, make_queue_task, signed_in_app

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
pytestmark = pytest.mark.ui


@pytest.fixture
def disagreement(sqlite_env, tmp_path):
    engine = make_engine(sqlite_env)
    make_queue_task(engine, HashingEncoder(), tmp_path, n_items=4, batch_size=4)
    raters = [make_account(engine, username=n) for n in ("ana", "ben")]
    make_account(engine, username="rosa", role="reviewer", password="rosa-password")
    for rater in raters:
        for _ in range(4):
            item = queue.next_item(engine=engine, task_name="music", actor=acting(rater),
                                   encoder=HashingEncoder(), rng=random.Random(0))
            value = "mood" if rater == raters[0] or item.item_id % 2 == 0 else "sleep"
            queue.submit(engine=engine, assignment_id=item.assignment_id, actor=acting(rater),
                         value=value)
    return engine


def _signed_in(username: str, password: str) -> AppTest:
    at = signed_in_app(MAIN, username, password)
    at.switch_page("app_pages/adjudicate.py").run()
    return at


def test_reviewer_settles_a_disagreement_and_it_is_exported(disagreement):
    at = _signed_in("rosa", "rosa-password")
    assert not at.exception
    at.button(key="recompute").click()
    at.run()
    assert "2 to adjudicate" in at.success[0].value
    shown = at.dataframe[0].value
    assert sorted(shown["rater"]) == ["rater 1", "rater 2"]  # a reviewer sees no names
    assert sorted(shown["label"]) == ["mood", "sleep"]
    assert not any(name in str(element.value) for element in (*at.markdown, *at.caption)
                   for name in ("ana", "ben"))
    assert next(r for r in at.radio if r.label == "Final label").value is None  # a tie
    at.button(key="decide").click()
    at.run()
    assert "Choose the final label first." in at.warning[0].value
    next(r for r in at.radio if r.label == "Final label").set_value("sleep")
    next(t for t in at.text_input if t.label == "Note (why)").input(
        "sleep wins: the prompt asks for rest")
    at.button(key="decide").click()
    at.run()
    assert not at.exception and "settled as sleep" in at.success[0].value
    with session_scope(disagreement) as session:
        decided = session.exec(select(Consensus).where(Consensus.method == "adjudicated")).one()
    exported = [r for r in label_rows(engine=disagreement, actor=CLI, task_name="music")
                if r["source"] == "adjudication"]
    assert decided.value == "sleep" and decided.settled
    assert len(exported) == 1 and exported[0]["rater"] == "rosa"
    assert exported[0]["consensus"] == "sleep"
    assert exported[0]["consensus_method"] == "adjudicated"
    assert exported[0]["source_detail"] == "sleep wins: the prompt asks for rest"


def test_a_lead_sees_the_raters_names(disagreement):
    make_account(disagreement, username="leo", role="lead", password="leo-password")
    at = _signed_in("leo", "leo-password")
    assert not at.exception
    assert sorted(at.dataframe[0].value["rater"]) == ["ana", "ben"]


def test_a_lead_who_labeled_the_items_leaves_them_to_another_reviewer(sqlite_env, tmp_path):
    engine = make_engine(sqlite_env)
    make_queue_task(engine, HashingEncoder(), tmp_path, n_items=4, batch_size=4)
    ana = make_account(engine, username="ana")
    leo = make_account(engine, username="leo", role="lead", password="leo-password")
    make_account(engine, username="rosa", role="reviewer", password="rosa-password")
    for rater, value in ((ana, "mood"), (leo, "sleep")):
        for _ in range(4):
            item = queue.next_item(engine=engine, task_name="music", actor=acting(rater),
                                   encoder=HashingEncoder(), rng=random.Random(0))
            queue.submit(engine=engine, assignment_id=item.assignment_id, actor=acting(rater),
                         value=value)
    lead = _signed_in("leo", "leo-password")
    assert not lead.exception and not lead.dataframe
    assert "waits for another reviewer because you labeled it" in lead.info[0].value
    reviewer = _signed_in("rosa", "rosa-password")
    assert sorted(reviewer.dataframe[0].value["label"]) == ["mood", "sleep"]


def test_nothing_to_adjudicate_says_so(sqlite_env, tmp_path):
    engine = make_engine(sqlite_env)
    make_queue_task(engine, HashingEncoder(), tmp_path, n_items=3)
    make_account(engine, username="rosa", role="reviewer", password="rosa-password")
    at = _signed_in("rosa", "rosa-password")
    assert not at.exception
    assert "Nothing to adjudicate" in at.info[0].value


def test_lead_finds_label_errors_and_sends_them_back(sqlite_env, tmp_path):
    engine = make_engine(sqlite_env)
    make_queue_task(engine, HashingEncoder(), tmp_path, n_items=30, batch_size=10)
    raters = [make_account(engine, username=n) for n in ("ana", "ben")]
    make_account(engine, username="leo", role="lead", password="leo-password")
    moods = ("sad", "happy", "calm", "angry", "dreamy", "dark")
    for _ in range(30):
        for rater in raters:
            item = queue.next_item(engine=engine, task_name="music", actor=acting(rater),
                                   encoder=HashingEncoder(), rng=random.Random(0))
            if item is None:
                continue
            calm = moods[(item.item_id - 1) % 6] in {"calm", "dreamy", "sad"}
            value = "sleep" if calm != (item.item_id == 7) else "mood"
            queue.submit(engine=engine, assignment_id=item.assignment_id, actor=acting(rater),
                         value=value)
    at = _signed_in("leo", "leo-password")
    at.button(key="find_issues").click()
    at.run()
    assert not at.exception and not at.error
    suspects = at.dataframe[-1].value
    assert 7 in set(suspects["item_id"])
    at.button(key="send_back").click()
    at.run()
    assert "back in the queue" in at.success[-1].value
    with session_scope(engine) as session:
        marked = session.exec(select(Consensus.item_id).where(Consensus.suspect)).all()
    assert 7 in marked


def test_disagreements_show_without_pressing_recompute(disagreement):
    at = _signed_in("rosa", "rosa-password")
    assert not at.exception
    assert sorted(at.dataframe[0].value["label"]) == ["mood", "sleep"]
