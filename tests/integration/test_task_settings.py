"""A task's gold settings: defaults, checked changes (all or none) and their audit events."""

from __future__ import annotations

import pytest
from sqlmodel import select

from labeling.exceptions import TaskDefinitionError
from labeling.project.tasks import task_info, update_settings
from storage.db import session_scope
from storage.models import AuditEvent
from tests.factories import CLI, acting, make_account, make_task, snapshot


@pytest.fixture
def music(engine):
    make_task(engine)
    return engine


def test_a_new_task_has_the_default_gold_settings(music):
    task = task_info(engine=music, actor=CLI, name="music")
    assert (task.gold_accuracy_threshold, task.min_gold_answers) == (0.8, 5)


def test_gold_settings_change_and_are_audited(music):
    lead = make_account(music, username="leo", role="lead")
    task = update_settings(engine=music, task_name="music", actor=acting(lead),
                           changes={"gold_accuracy_threshold": 0.9, "min_gold_answers": 12})
    assert (task.gold_accuracy_threshold, task.min_gold_answers) == (0.9, 12)
    assert task_info(engine=music, actor=CLI, name="music").min_gold_answers == 12
    with session_scope(music) as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "task.settings")).one()
    assert event.actor == str(lead)  # the account id, not the username
    assert event.before == {"gold_accuracy_threshold": 0.8, "min_gold_answers": 5}
    assert event.after == {"gold_accuracy_threshold": 0.9, "min_gold_answers": 12}


@pytest.mark.parametrize("changes, message", [
    ({"gold_accuracy_threshold": 1.5}, "gold_accuracy_threshold must be between 0 and 1"),
    ({"gold_accuracy_threshold": -0.1}, "gold_accuracy_threshold must be between 0 and 1"),
    ({"gold_accuracy_threshold": float("nan")}, "gold_accuracy_threshold must be between"),
    ({"gold_accuracy_threshold": "high"}, "gold_accuracy_threshold must be a number"),
    ({"min_gold_answers": 0}, "min_gold_answers must be between 1 and"),
    ({"min_gold_answers": -3}, "min_gold_answers must be between 1 and"),
    ({"min_gold_answers": 2.5}, "min_gold_answers must be a whole number"),
    # one bad value refuses the good one with it
    ({"overlap_k": 3, "min_gold_answers": 0}, "min_gold_answers must be between 1 and"),
])
def test_bad_gold_settings_are_refused_and_change_nothing(music, changes, message):
    before = snapshot(music)
    with pytest.raises(TaskDefinitionError, match=message):
        update_settings(engine=music, task_name="music", changes=changes, actor=CLI)
    assert snapshot(music) == before
