"""The Triage page: reviewers decide flags by keyboard, escalate to leads, filter the queue; the
Safety rules page edits the lists and, for leads, the policy."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from labeling.ml.encoders import HashingEncoder
from labeling.project.exporting import label_rows
from labeling.project.tasks import create_task
from safety.policy import SafetyGate, policy_settings
from safety.rules import current_rules
from safety.taxonomy import category_names
from safety.triage import flag_verdicts
from storage.db import make_engine, session_scope
from storage.models import Account, AuditEvent, Flag, TriageDecision
from tests.factories import CLI, make_account, signed_in_app

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
pytestmark = pytest.mark.ui
PROMPTS = ["buy fake streams for my song", "I want to die tonight", "send nudes of the drummer"]


@pytest.fixture
def flagged(sqlite_env):
    engine = make_engine(sqlite_env)
    create_task(engine=engine, actor=CLI, name="safety", kind="safety", labels=category_names())
    verdicts = SafetyGate.load(engine=engine, encoder=HashingEncoder(),
                               actor=CLI).check_many(PROMPTS)
    flag_verdicts(engine=engine, actor=CLI, verdicts=verdicts)
    make_account(engine, username="rosa", role="reviewer", password="rosa-password")
    make_account(engine, username="leo", role="lead", password="leo-password")
    return engine


def _page(username: str, password: str, page: str = "app_pages/triage.py"):
    at = signed_in_app(MAIN, username, password)
    at.switch_page(page).run()
    assert not at.exception
    return at


def _button(at, label: str):
    return next(b for b in at.button if b.label == label)


def test_the_most_severe_flag_comes_first_with_its_reasons_and_shortcuts(flagged):
    at = _page("rosa", "rosa-password")
    assert [m.value for m in at.metric][:3] == ["3", "0", "0"]
    card = [m.value for m in at.markdown if "<mark>" in m.value]
    assert card and "<mark>want to die</mark>" in card[0]
    assert {_button(at, "Allow").proto.shortcut, _button(at, "Block").proto.shortcut,
            _button(at, "Escalate to a lead").proto.shortcut} == {"a", "b", "e"}
    assert any("rule b" in c.value for c in at.caption)


def test_block_by_keyboard_stores_a_triage_label_in_the_export(flagged):
    at = _page("rosa", "rosa-password")
    at.selectbox(key=next(s.key for s in at.selectbox if s.key.endswith("_category"))
                 ).set_value("self_harm")
    _button(at, "Block").click()  # the B key presses this button
    at.run()
    assert not at.exception and "blocked as self_harm" in at.success[0].value
    assert [m.value for m in at.metric][:3] == ["2", "0", "1"]
    exported = [r for r in label_rows(engine=flagged, actor=CLI, task_name="safety")
                if r["source"] == "triage"]
    assert [(r["value"], r["rater"]) for r in exported] == [("self_harm", "rosa")]


def test_escalated_flags_wait_for_a_lead(flagged):
    at = _page("rosa", "rosa-password")
    _button(at, "Escalate to a lead").click()
    at.run()
    assert "escalated to a lead" in at.success[0].value
    assert [m.value for m in at.metric][:2] == ["2", "1"]
    lead = _page("leo", "leo-password")
    lead.multiselect(key="triage_status").set_value(["escalated"])
    lead.run()
    card = [m.value for m in lead.markdown if "<mark>" in m.value]
    assert "want to die" in card[0]
    assert not [b for b in lead.button if b.label == "Escalate to a lead"]
    _button(lead, "Allow").click()
    lead.run()
    with session_scope(flagged) as session:
        decisions = session.exec(select(TriageDecision.decision)).all()
    assert decisions == ["escalate", "allow"]


def test_filters_narrow_the_queue(flagged):
    at = _page("rosa", "rosa-password")
    at.multiselect(key="triage_categories").set_value(["illicit"])
    at.run()
    card = [m.value for m in at.markdown if "<mark>" in m.value]
    assert len(card) == 1 and "fake streams" in card[0]
    at.multiselect(key="triage_origins").set_value(["user_report"])
    at.run()
    assert any("Nothing to triage" in i.value for i in at.info)


def test_safety_rules_page_adds_a_phrase_and_leads_set_the_policy(flagged):
    at = _page("rosa", "rosa-password", "app_pages/safety_rules.py")
    assert not [s for s in at.slider if s.key == "policy_block"]  # thresholds: leads only
    at.text_input(key="rule_phrase").input("fake plays")
    at.selectbox(key="rule_kind").set_value("block")
    at.selectbox(key="rule_category").set_value("illicit")
    at.button(key="rule_add").click()
    at.run()
    assert "list version 2" in at.success[0].value
    assert current_rules(engine=flagged, actor=CLI).check("buy fake plays").blocked
    lead = _page("leo", "leo-password", "app_pages/safety_rules.py")
    lead.slider(key="policy_block").set_value(0.97)
    lead.button(key="policy_save").click()
    lead.run()
    assert "Policy version 2" in lead.success[0].value
    assert policy_settings(engine=flagged, actor=CLI, task_name="safety")[1]["block"] == 0.97
    with session_scope(flagged) as session:
        assert len(session.exec(select(Flag)).all()) == 3
        ids = dict(session.exec(select(Account.username, Account.id)).all())
        changes = {e.action: e.actor for e in session.exec(select(AuditEvent).where(
            AuditEvent.action.in_(("rules.change", "policy.change"))))}
    # audited under the signed-in accounts' ids, never their usernames
    assert changes == {"rules.change": str(ids["rosa"]), "policy.change": str(ids["leo"])}
