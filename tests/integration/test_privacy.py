"""End users' data: the right of access (export), erasure and retention.

Three end users: ``alice`` and ``bob`` arrive with an import's user column, and a Preview user
(``account:N``) whose prompts were collected, shown lists, liked a track and reported an output
that a reviewer triaged. Curated data without end users sits beside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlmodel import select

from labeling.exceptions import PrivacyError
from labeling.lifecycle.training import retrain
from labeling.privacy import linking
from labeling.privacy.access import export_end_user
from labeling.privacy.erasure import erase_end_user, erasure_reference
from labeling.privacy.retention import apply_retention
from labeling.project.authz import Operator
from labeling.project.importing import import_file
from labeling.project.items import add_texts, pseudonymise
from labeling.project.tasks import create_task, get_task, update_settings
from labeling.review.consensus import recompute
from routing.preview import PREVIEW_SOURCE, collect_prompt, record_feedback
from safety import triage
from safety.demo_content import load_safety_task
from safety.policy import SafetyGate
from storage.db import session_scope, write_scope
from storage.models import AuditEvent, Impression, Item, utcnow
from storage.repositories import routing as routing_repo
from tests.factories import (
    CLI,
    acting,
    label_all,
    labeled_rows,
    make_account,
    make_task,
    snapshot,
    write_jsonl,
)

pytestmark = pytest.mark.slow(seconds=160)
KEY = "privacy-test-secret-key"
DPO = Operator("dpo")
"""The data protection officer at the command line."""
CRON = Operator("cron")
ALICE = ["gym run lift fast zanzibar one", "fall asleep quiet night zanzibar two",
         "songs feeling zanzibar three"]
BOB = ["gym run lift fast quokka one", "songs feeling quokka two"]
PIA = ["xylophone songs feeling for the bus", "xylophone fall asleep quiet night"]


@dataclass(frozen=True)
class World:
    engine: object
    pia: str
    pia_account: int
    other_account: int


def _import_users(engine, encoder, tmp_path):
    rows = [{"text": ALICE[0], "label": "workout", "user": "alice@example.org"},
            {"text": ALICE[1], "label": "sleep", "user": "alice@example.org"},
            {"text": ALICE[2], "label": None, "user": "alice@example.org"},
            {"text": BOB[0], "label": "workout", "user": "bob@example.org"},
            {"text": BOB[1], "label": None, "user": "bob@example.org"}]
    import_file(engine=engine, actor=CLI, task_name="music",
                path=write_jsonl(tmp_path / "u.jsonl", rows), encoder=encoder,
                label_col="label", user_col="user", pseudonym_key=KEY)
    import_file(engine=engine, actor=CLI, task_name="safety",
                path=write_jsonl(tmp_path / "s.jsonl", [rows[2], rows[4]]), encoder=encoder,
                user_col="user", pseudonym_key=KEY)


def _preview_user(engine, encoder, account: int, other: int) -> None:
    """What the Preview stores for a person: collected prompts, lists shown, a like, a report
    that a reviewer allows; plus lists without an account, one with the same text."""
    user = pseudonymise(linking.preview_end_user_id(account), key=KEY)
    with write_scope(engine) as session:
        for name in ("music", "safety"):
            add_texts(session=session, task=get_task(session=session, name=name), texts=PIA,
                      labels=[None, None], source=PREVIEW_SOURCE, encoder=encoder, vectors={},
                      end_user_ids=[user, user])
    ids = []
    for prompt, owner in ((PIA[0], account), (PIA[1], account), (PIA[0], None),
                          ("other listener's prompt", other), ("anonymous prompt", None)):
        with write_scope(engine) as session:
            ids.append(routing_repo.add_impression(session=session, row=Impression(
                prompt_id="p", prompt=prompt, session_id=f"s-{owner}", account_id=owner,
                shown=["t1", "t2"], propensities=[1.0, 1.0])).id)
    record_feedback(engine=engine, actor=acting(account), impression_id=ids[0], track_id="t2",
                    action="like")
    record_feedback(engine=engine, actor=acting(other), impression_id=ids[3], track_id="t1",
                    action="save")
    gate = SafetyGate.load(engine=engine, encoder=encoder, actor=CLI, task_name="safety")
    flag = triage.report(engine=engine, actor=acting(account),
                         verdict=gate.check("xylophone made me sad, report"), note="odd list")
    triage.decide(engine=engine, actor=acting(other), flag_id=flag, decision="allow",
                  note="fine")


def _label_for(engine, item_id: int) -> str:
    """What the raters answer: the label the words carry (as ``labeled_rows`` writes them)."""
    with session_scope(engine) as session:
        text = session.get(Item, item_id).text
    return "workout" if "gym" in text else "sleep" if "asleep" in text else "mood"


@pytest.fixture
def world(engine, encoder, tmp_path) -> World:
    make_task(engine)
    create_task(engine=engine, actor=CLI, name="safety", kind="safety",
                labels=load_safety_task()["labels"])
    update_settings(engine=engine, task_name="music", actor=CLI,
                    changes={"batch_size": 50, "overlap_k": 2, "gold_share": 0.0})
    raters = [make_account(engine, username="ana"), make_account(engine, username="ben")]
    reviewer = make_account(engine, username="rosa", role="reviewer")
    pia = make_account(engine, username="pia")
    import_file(engine=engine, actor=CLI, task_name="music", encoder=encoder, label_col="label",
                path=write_jsonl(tmp_path / "curated.jsonl", labeled_rows(30)))
    _import_users(engine, encoder, tmp_path)
    _preview_user(engine, encoder, pia, reviewer)
    label_all(engine, encoder, raters, lambda rater, item: _label_for(engine, item))
    recompute(engine=engine, actor=CLI, task_name="music")
    retrain(engine=engine, task_name="music", encoder=encoder, models_dir=tmp_path / "models",
            actor=CLI)
    # a report by someone else on alice's prompt: the flag is on her item
    gate = SafetyGate.load(engine=engine, encoder=encoder, actor=CLI, task_name="safety")
    triage.report(engine=engine, actor=acting(raters[0]), verdict=gate.check(ALICE[2]))
    return World(engine=engine, pia=linking.preview_end_user_id(pia), pia_account=pia,
                 other_account=reviewer)


def _everything(engine) -> str:
    """Every value of every row of every table, as text."""
    return "\n".join(value for rows in snapshot(engine).values() for row in rows
                     for value in row)


def _without_time(held: dict) -> dict:
    return {k: v for k, v in held.items() if k != "exported_at"}


def _export(engine, end_user: str) -> dict:
    return _without_time(export_end_user(engine=engine, end_user_id=end_user, key=KEY,
                                         actor=DPO))


def test_the_scenario_holds_what_the_tests_look_for(world):
    text = _everything(world.engine)
    for prompt in ALICE + BOB + PIA:
        assert prompt in text
    for user in ("alice@example.org", world.pia):
        assert pseudonymise(user, key=KEY) in text
    assert "alice@example.org" not in text  # ids are stored only as pseudonyms


def test_export_holds_the_users_data_and_nobody_elses(world):
    held = _export(world.engine, "alice@example.org")
    assert sorted({i["text"] for i in held["items"]}) == sorted(ALICE)
    assert {i["task"] for i in held["items"]} == {"music", "safety"}
    assert held["end_user"]["pseudonym"] == pseudonymise("alice@example.org", key=KEY)
    by_text = {(i["task"], i["text"]): i for i in held["items"]}
    assert {label["value"] for label in by_text["music", ALICE[0]]["labels"]} >= {"workout"}
    assert by_text["music", ALICE[2]]["labels"]  # the raters' labels
    assert all("rater" not in label for i in held["items"] for label in i["labels"])
    assert [f["prompt"] for f in held["flags"]] == [ALICE[2]]  # the report on her prompt
    assert held["impressions"] == [] and held["vectors"] >= 3
    dumped = repr(held)
    assert not any(word in dumped for word in ("quokka", "xylophone", "curated"))


def test_export_of_a_preview_user_holds_lists_feedback_and_reports(world):
    held = _export(world.engine, world.pia)
    assert {i["text"] for i in held["items"]} >= set(PIA)
    assert sorted(i["prompt"] for i in held["impressions"]) == sorted([PIA[0], PIA[1], PIA[0]])
    assert [f["action"] for i in held["impressions"] for f in i["feedback"]] == ["like"]
    [flag] = held["flags"]
    assert flag["origin"] == "user_report" and flag["decisions"][0]["decision"] == "allow"
    assert "other listener" not in repr(held) and "anonymous prompt" not in repr(held)
    with session_scope(world.engine) as session:
        [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "privacy.export"))
    assert event.entity_id == erasure_reference(held["end_user"]["pseudonym"])
    assert world.pia not in repr(event.model_dump())


@pytest.mark.parametrize("who", ["alice", "pia"])
def test_erase_leaves_no_trace_of_the_user_and_keeps_everyone_else(world, who):
    engine = world.engine
    end_user, prompts = ("alice@example.org", ALICE) if who == "alice" else (world.pia, PIA)
    pseudonym = pseudonymise(end_user, key=KEY)
    others = {name: _export(engine, name) for name in ("bob@example.org",
                                                      "alice@example.org", world.pia)
              if name != end_user}
    with session_scope(engine) as session:
        items_before = len(session.exec(select(Item)).all())
    summary = erase_end_user(engine=engine, end_user_id=end_user, key=KEY, actor=DPO)
    text = _everything(engine)
    assert pseudonym not in text
    assert [p for p in prompts if p in text] == []
    assert ("zanzibar" if who == "alice" else "xylophone") not in text
    for name, held in others.items():
        assert _export(engine, name) == held, name
    assert "other listener's prompt" in text and "anonymous prompt" in text
    with session_scope(engine) as session:
        assert len(session.exec(select(Item)).all()) == items_before - summary.deleted["items"]
        [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "privacy.erase"))
    assert event.actor == "dpo" and event.entity_id == summary.reference
    assert event.after["deleted"] == summary.deleted and summary.deleted["items"] >= 3
    if who == "alice":
        assert summary.models == ["music v1"]  # trained on her settled prompts
        assert summary.deleted["labels"] >= 4 and summary.deleted["flags"] == 1
    else:
        assert summary.deleted["impressions"] == 3 and summary.deleted["feedback"] == 1
        assert summary.deleted["triage_decisions"] == 1


@pytest.mark.parametrize("action", ["export", "erase"])
def test_an_unknown_end_user_is_refused_and_nothing_changes(world, action):
    before = snapshot(world.engine)
    call = export_end_user if action == "export" else erase_end_user
    with pytest.raises(PrivacyError, match="nothing is held about end user 'carol'"):
        call(engine=world.engine, end_user_id="carol", key=KEY, actor=DPO)
    with pytest.raises(PrivacyError, match="give the end user's id"):
        call(engine=world.engine, end_user_id="  ", key=KEY, actor=DPO)
    assert snapshot(world.engine) == before


def test_an_erased_user_is_reported_as_erased(world):
    erase_end_user(engine=world.engine, end_user_id="bob@example.org", key=KEY, actor=DPO)
    before = snapshot(world.engine)
    with pytest.raises(PrivacyError, match="nothing is held .* erased on "):
        erase_end_user(engine=world.engine, end_user_id="bob@example.org", key=KEY,
                       actor=DPO)
    assert snapshot(world.engine) == before


def test_another_key_finds_nobody(world):
    with pytest.raises(PrivacyError, match="nothing is held"):
        export_end_user(engine=world.engine, end_user_id="alice@example.org",
                        key="another-installation-key", actor=DPO)


def _age(engine, texts: list[str], days: int) -> None:
    with write_scope(engine) as session:
        for item in session.exec(select(Item).where(Item.text.in_(texts))):
            item.created_at = utcnow() - timedelta(days=days)
            session.add(item)


def test_retention_deletes_old_raw_prompts_once_and_keeps_the_rest(world):
    engine = world.engine
    _age(engine, ALICE, 60)
    _age(engine, [r["text"] for r in labeled_rows(30)], 400)  # curated: not raw prompts
    now = utcnow()
    bob = _export(engine, "bob@example.org")
    first = apply_retention(engine=engine, days=30, actor=CRON, now=now)
    assert first.deleted["items"] == 4  # alice's three in music and one in safety
    text = _everything(engine)
    assert [p for p in ALICE if p in text] == []
    assert all(r["text"] in text for r in labeled_rows(30))
    assert _export(engine, "bob@example.org") == bob
    assert first.line().startswith("retention 30 days (before ") and "4 items" in first.line()
    after_first = snapshot(engine)
    second = apply_retention(engine=engine, days=30, actor=CRON, now=now)
    assert second.deleted == {} and second.line().endswith("nothing to delete")
    assert snapshot(engine) == after_first
    with session_scope(engine) as session:
        events = session.exec(select(AuditEvent).where(
            AuditEvent.action == "privacy.retention")).all()
    assert len(events) == 1 and events[0].after["deleted"] == first.deleted


def test_retention_takes_old_impressions_and_reports(world):
    later = utcnow() + timedelta(days=31)
    summary = apply_retention(engine=world.engine, days=30, actor=CRON, now=later)
    assert summary.deleted["impressions"] == 5 and summary.deleted["feedback"] == 2
    text = _everything(world.engine)
    assert not any(p in text for p in ALICE + BOB + PIA)
    assert "xylophone made me sad" not in text  # the report and its triage item
    with session_scope(world.engine) as session:
        assert session.exec(select(Item).where(Item.source.startswith("import:curated"))).all()


@pytest.mark.parametrize("days", [0, -3])
def test_retention_refuses_a_period_under_a_day(world, days):
    before = snapshot(world.engine)
    with pytest.raises(PrivacyError, match="at least 1"):
        apply_retention(engine=world.engine, days=days, actor=CRON)
    assert snapshot(world.engine) == before


def test_the_sources_linking_relies_on_are_the_ones_the_writers_use():
    assert linking.PREVIEW_SOURCE == PREVIEW_SOURCE
    assert linking.USER_REPORT in triage.ORIGINS
    assert linking.preview_account(linking.preview_end_user_id(7)) == 7
    assert linking.preview_account("alice@example.org") is None


def test_a_prompt_collected_by_the_preview_is_erased_without_trace(world, encoder):
    result = SimpleNamespace(decision=SimpleNamespace(
        prompt="xylophone for a rainy walk", fallback=None, safety={"pii_types": []},
        prompt_id="p-walk"))
    assert collect_prompt(engine=world.engine, encoder=encoder,
                          actor=acting(world.pia_account), result=result,
                          end_user_id=world.pia, pseudonym_key=KEY) == ["music", "safety"]
    erase_end_user(engine=world.engine, end_user_id=world.pia, key=KEY, actor=DPO)
    assert pseudonymise(world.pia, key=KEY) not in _everything(world.engine)
