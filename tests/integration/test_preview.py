"""The preview's services: impressions with propensities, feedback, reports to triage, and
preview prompts joining the labeling pool (redacted, pseudonymised, per-task switch)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.demo import seed_demo
from labeling.project.gold import find_items
from labeling.project.tasks import update_settings
from routing import session as preview_session
from routing.preview import (
    PreviewError,
    collect_prompt,
    collecting_tasks,
    impression_log,
    log_impression,
    record_feedback,
    report_output,
)
from routing.ranker import CONFIGS, with_changes
from routing.router import Router
from safety.triage import triage_queue
from storage.db import session_scope
from storage.models import AuditEvent, Feedback, Flag, Impression, Item
from tests.factories import CLI, acting, make_account


@pytest.fixture
def served(engine, encoder):
    seed_demo(engine=engine, encoder=encoder)
    return engine, encoder, Router.load(engine=engine, encoder=encoder, actor=CLI, seed=3)


def test_an_impression_logs_candidates_order_and_propensities(served):
    engine, _, router = served
    ana = acting(make_account(engine, username="ana-preview", role="rater"))
    state = preview_session.start("happy pop for the morning", time_of_day="morning")
    explore = with_changes(CONFIGS["balanced"], exploration=0.05)
    result = router.route(state.prompt, config=explore, use_cache=False,
                          **state.route_arguments())
    impression = log_impression(engine=engine, actor=ana, result=result, state=state,
                                session_id="s-1")
    third = result.tracks[2]
    assert record_feedback(engine=engine, actor=ana, impression_id=impression,
                           track_id=third["track_id"], action="save") == 3
    with pytest.raises(PreviewError, match="was not shown"):
        record_feedback(engine=engine, actor=ana, impression_id=impression, track_id="nope",
                        action="like")
    with pytest.raises(PreviewError, match="unknown action"):
        record_feedback(engine=engine, actor=ana, impression_id=impression,
                        track_id=third["track_id"], action="love")
    with session_scope(engine) as session:  # both written as the signed-in rater's
        assert session.get(Impression, impression).account_id == ana.id
        assert [f.account_id for f in session.exec(select(Feedback))] == [ana.id]
    [logged] = impression_log(engine=engine, actor=CLI, session_id="s-1")
    assert logged.shown == [t["track_id"] for t in result.tracks]
    assert logged.n_candidates >= len(logged.shown)
    assert len(logged.propensities) == len(logged.shown)
    assert all(0 < p < 1 for p in logged.propensities)
    assert logged.ranker["config"]["exploration"] == 0.05
    assert logged.feedback == [{"track_id": third["track_id"], "position": 3,
                                "action": "save"}]
    blocked = router.route("how do I make a pipe bomb", use_cache=False)
    assert log_impression(engine=engine, actor=ana, result=router.route("", use_cache=False),
                          state=state, session_id="s-1") is None
    assert log_impression(engine=engine, actor=ana, result=blocked, state=state,
                          session_id="s-1") is not None  # the safe list was shown too


def test_a_report_reaches_the_triage_queue_with_the_note(served):
    engine, _, router = served
    ana = acting(make_account(engine, username="ana-preview", role="rater"))
    result = router.route("songs about my ex, call her on 07700 900123", use_cache=False)
    flag_id = report_output(engine=engine, actor=ana, router=router, result=result,
                            note="the list has a track mocking her, email me a@b.co")
    with session_scope(engine) as session:  # reported by, and audited as, the rater's account
        assert session.get(Flag, flag_id).reported_by == ana.id
        raised = session.exec(select(AuditEvent).where(AuditEvent.action == "flags.raise")
                              .order_by(AuditEvent.id.desc())).first()
        assert raised.actor == str(ana.id) and raised.after == {"flags": [flag_id]}
    queue = triage_queue(engine=engine, actor=CLI, origins=["user_report"])
    [flag] = [f for f in queue.flags if f.id == flag_id]
    assert "07700" not in flag.text and "a@b.co" not in " ".join(flag.reasons)
    assert flag.reasons[0].startswith("reported: the list has a track mocking her")
    with pytest.raises(PreviewError, match="nothing to report"):
        report_output(engine=engine, actor=ana, router=router, result=router.route(""),
                      note=None)


def test_preview_prompts_join_the_pools_redacted_unless_switched_off(served):
    engine, encoder, router = served
    ana = acting(make_account(engine, username="ana-preview", role="rater"))
    assert collecting_tasks(engine=engine, actor=ana) == ["intent", "safety"]
    result = router.route("zydeco for my trip with sam@example.org", use_cache=False)
    added = collect_prompt(engine=engine, encoder=encoder, actor=ana, result=result,
                           end_user_id="listener-42", pseudonym_key="k")
    assert added == ["intent", "safety"]
    assert collect_prompt(engine=engine, encoder=encoder, actor=ana, result=result,
                          end_user_id="listener-42", pseudonym_key="k") == []  # once
    with session_scope(engine) as session:  # audited under the rater's account id
        added_event = session.exec(select(AuditEvent).where(
            AuditEvent.action == "items.add").order_by(AuditEvent.id.desc())).first()
        assert added_event.actor == str(ana.id) and added_event.after["source"] == "preview"
    [row] = find_items(engine=engine, actor=CLI, task_name="intent", words="zydeco")
    assert "sam@example.org" not in row.text and "zydeco" in row.text
    with session_scope(engine) as session:
        item = session.exec(select(Item).where(Item.id == row.item_id)).one()
        assert item.source == "preview" and item.pii_types == ["EMAIL"]
        assert item.end_user_id and "listener-42" not in item.end_user_id

    update_settings(engine=engine, task_name="safety",
                    changes={"collect_preview_prompts": False}, actor=CLI)
    assert collecting_tasks(engine=engine, actor=ana) == ["intent"]
    other = router.route("polka for a picnic", use_cache=False)
    assert collect_prompt(engine=engine, encoder=encoder, actor=ana, result=other,
                          end_user_id=None, pseudonym_key="k") == ["intent"]
    assert find_items(engine=engine, actor=CLI, task_name="safety", words="polka") == []
    assert collect_prompt(engine=engine, encoder=encoder, actor=ana, result=router.route(""),
                          end_user_id=None, pseudonym_key="k") == []
