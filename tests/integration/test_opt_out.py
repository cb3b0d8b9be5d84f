"""Opting out of human review: an end user's prompts never enter a labeling pool, those stored
leave the queues, the opt-out outlives an erasure, and only admins (or the command line) record it.
"""

from __future__ import annotations

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from app.cli import app as cli_app
from labeling.privacy.access import export_end_user
from labeling.privacy.erasure import erase_end_user
from labeling.privacy.opt_out import opt_in, opt_out
from labeling.project.authz import Operator, PermissionDenied
from labeling.project.importing import import_file
from labeling.project.items import pseudonymise
from labeling.project.tasks import update_settings
from labeling.queue import assignments as queue
from storage.db import make_engine, session_scope
from storage.models import AuditEvent, Item
from tests.factories import CLI, acting, make_account, make_task, snapshot, write_jsonl

KEY = "opt-out-test-secret-key"
DPO = Operator("dpo")


def _import(engine, encoder, tmp_path, rows, name="u.jsonl"):
    return import_file(engine=engine, actor=CLI, task_name="music", encoder=encoder,
                       path=write_jsonl(tmp_path / name, rows), user_col="user",
                       pseudonym_key=KEY)


def _texts(engine) -> dict[str, bool]:
    with session_scope(engine) as session:
        return {i.text: i.opted_out for i in session.exec(select(Item))}


def _handed_out(engine, encoder, rater: int) -> list[str]:
    """Every text the queue hands ``rater``, labeling each as it comes."""
    seen = []
    while (item := queue.next_item(engine=engine, actor=acting(rater), task_name="music",
                                   encoder=encoder)) is not None:
        seen.append(item.text)
        queue.submit(engine=engine, actor=acting(rater), assignment_id=item.assignment_id,
                     value="mood")
    return seen


@pytest.fixture
def team(engine, encoder, tmp_path):
    make_task(engine)
    update_settings(engine=engine, actor=CLI, task_name="music",
                    changes={"batch_size": 20, "overlap_k": 1, "gold_share": 0.0})
    _import(engine, encoder, tmp_path, [
        {"text": "alice calm songs one", "user": "alice"},
        {"text": "alice calm songs two", "user": "alice"},
        {"text": "bob gym songs one", "user": "bob"},
    ])
    return make_account(engine, username="ana")


def test_an_opted_out_end_users_prompts_leave_the_queue_and_never_enter_again(
        engine, encoder, tmp_path, team):
    summary = opt_out(engine=engine, actor=DPO, end_user_id="alice", key=KEY)
    assert summary.changed and summary.items == 2
    assert _texts(engine) == {"alice calm songs one": True, "alice calm songs two": True,
                              "bob gym songs one": False}
    _import(engine, encoder, tmp_path, [{"text": "alice calm songs three", "user": "alice"},
                                        {"text": "bob gym songs two", "user": "bob"}], "v2.jsonl")
    assert "alice calm songs three" not in _texts(engine)
    assert sorted(_handed_out(engine, encoder, team)) == ["bob gym songs one",
                                                          "bob gym songs two"]
    again = opt_out(engine=engine, actor=DPO, end_user_id="alice", key=KEY)
    assert not again.changed and "already" in again.line()


def test_opting_back_in_returns_the_stored_prompts_to_the_queue(engine, encoder, team):
    opt_out(engine=engine, actor=DPO, end_user_id="alice", key=KEY)
    back = opt_in(engine=engine, actor=DPO, end_user_id="alice", key=KEY)
    assert back.changed and back.items == 2 and not back.opted_out
    assert len(_handed_out(engine, encoder, team)) == 3


def test_the_opt_out_is_audited_by_digest_and_outlives_an_erasure(engine, encoder, tmp_path,
                                                                  team):
    pseudonym = pseudonymise("alice", key=KEY)
    summary = opt_out(engine=engine, actor=DPO, end_user_id="alice", key=KEY)
    assert export_end_user(engine=engine, actor=DPO, end_user_id="alice",
                           key=KEY)["end_user"]["opted_out_of_review"] is True
    erase_end_user(engine=engine, actor=DPO, end_user_id="alice", key=KEY)
    everything = "\n".join(v for rows in snapshot(engine).values() for row in rows for v in row)
    assert pseudonym not in everything and "alice calm songs" not in everything
    with session_scope(engine) as session:
        [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "privacy.opt_out"))
        assert (event.actor, event.entity_id) == ("dpo", summary.reference)
    _import(engine, encoder, tmp_path, [{"text": "alice calm songs four", "user": "alice"}],
            "v3.jsonl")
    assert "alice calm songs four" not in _texts(engine)


def test_only_admins_and_the_command_line_record_an_opt_out(engine, team):
    lead = make_account(engine, username="leo", role="lead")
    admin = make_account(engine, username="ada", role="admin")
    before = snapshot(engine)
    for who in (team, lead):
        with pytest.raises(PermissionDenied, match="only admins may"):
            opt_out(engine=engine, actor=acting(who), end_user_id="alice", key=KEY)
    assert snapshot(engine) == before
    assert opt_out(engine=engine, actor=acting(admin), end_user_id="alice", key=KEY).changed


def test_the_cli_records_and_lifts_an_opt_out(sqlite_env, encoder, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_SECRET_KEY", KEY)
    engine = make_engine(sqlite_env)
    make_task(engine)
    _import(engine, encoder, tmp_path, [{"text": "alice calm songs one", "user": "alice"}])
    runner = CliRunner()
    result = runner.invoke(cli_app, ["privacy", "opt-out", "--end-user", "alice"])
    assert result.exit_code == 0, result.output
    assert "1 stored prompts taken out of the labeling queues" in result.output
    assert _texts(engine) == {"alice calm songs one": True}
    result = runner.invoke(cli_app, ["privacy", "opt-in", "--end-user", "alice"])
    assert result.exit_code == 0 and "back in human review" in result.output
    result = runner.invoke(cli_app, ["privacy", "opt-out", "--end-user", "  "])
    assert result.exit_code == 1 and "give the end user's id" in result.output
