"""Who sees and changes which labels: a rater only their own, and never another rater's on an
item before answering it; rater names only for leads; nobody settles an item they labeled."""

from __future__ import annotations

import random
from dataclasses import fields

import pytest
from sqlmodel import select

from labeling.project.authz import PermissionDenied
from labeling.queue import assignments as queue
from labeling.review import adjudication
from labeling.review.consensus import recompute
from storage.db import session_scope
from storage.models import AuditEvent, Label, LabelSource
from tests.factories import CLI, acting, make_account, make_queue_task, snapshot


@pytest.fixture
def team(engine, encoder, tmp_path):
    """Task "music" with 4 prompts (one batch, k=2); raters ana and ben, reviewer rosa and
    lead leo."""
    make_queue_task(engine, encoder, tmp_path, n_items=4, batch_size=4, k=2)
    people = {name: make_account(engine, username=name, role=role)
              for name, role in (("ana", "rater"), ("ben", "rater"), ("rosa", "reviewer"),
                                 ("leo", "lead"))}
    return engine, encoder, people


def _next(engine, encoder, account: int):
    return queue.next_item(engine=engine, actor=acting(account), task_name="music",
                           encoder=encoder, rng=random.Random(0))


def _label_everything(engine, encoder, answers: dict[int, str]) -> None:
    """Each account in ``answers`` labels every item it is given with its answer."""
    for account, value in answers.items():
        while (item := _next(engine, encoder, account)) is not None:
            queue.submit(engine=engine, actor=acting(account),
                         assignment_id=item.assignment_id, value=value)


def test_history_is_the_actors_own_unless_a_lead_asks_for_a_rater(team):
    engine, encoder, p = team
    _label_everything(engine, encoder, {p["ana"]: "mood", p["ben"]: "sleep"})

    def values(actor, **kwargs):
        entries = queue.history(engine=engine, actor=actor, task_name="music", **kwargs)
        return [e.value for e in entries]

    assert values(acting(p["ana"])) == ["mood"] * 4
    assert values(acting(p["ben"])) == ["sleep"] * 4
    for asker in ("ana", "rosa"):
        with pytest.raises(PermissionDenied, match="only see your own labels"):
            values(acting(p[asker]), rater_id=p["ben"])
    assert values(acting(p["ana"]), rater_id=p["ana"]) == ["mood"] * 4
    assert values(acting(p["leo"]), rater_id=p["ben"]) == ["sleep"] * 4
    assert values(CLI, rater_id=p["ben"]) == ["sleep"] * 4


def test_a_rater_cannot_submit_skip_or_correct_another_raters_work(team):
    engine, encoder, p = team
    ana, ben = acting(p["ana"]), acting(p["ben"])
    held = _next(engine, encoder, p["ana"])
    before = snapshot(engine)
    with pytest.raises(PermissionDenied, match="assigned to another rater"):
        queue.submit(engine=engine, actor=ben, assignment_id=held.assignment_id, value="mood")
    with pytest.raises(PermissionDenied, match="assigned to another rater"):
        queue.skip(engine=engine, actor=ben, assignment_id=held.assignment_id, reason="mine")
    assert snapshot(engine) == before
    label_id = queue.submit(engine=engine, actor=ana, assignment_id=held.assignment_id,
                            value="mood")
    before = snapshot(engine)
    with pytest.raises(PermissionDenied, match="only correct your own labels"):
        queue.correct(engine=engine, actor=ben, label_id=label_id, value="sleep")
    assert snapshot(engine) == before


def test_an_operator_has_no_account_and_cannot_label(team):
    engine, encoder, p = team
    held = _next(engine, encoder, p["ana"])
    with pytest.raises(PermissionDenied, match="cli:test .* cannot label"):
        queue.next_item(engine=engine, actor=CLI, task_name="music", encoder=encoder)
    with pytest.raises(PermissionDenied, match="cannot label"):
        queue.submit(engine=engine, actor=CLI, assignment_id=held.assignment_id, value="mood")
    with pytest.raises(PermissionDenied, match="cannot label"):
        queue.progress(engine=engine, actor=CLI, task_name="music")
    with pytest.raises(PermissionDenied, match="no labels of its own"):
        queue.history(engine=engine, actor=CLI, task_name="music")


def test_an_item_comes_without_the_labels_others_gave_it(team):
    engine, encoder, p = team
    first = _next(engine, encoder, p["ana"])
    queue.submit(engine=engine, actor=acting(p["ana"]), assignment_id=first.assignment_id,
                 value="sleep", slots={"duration": "ana-said-ninety-minutes"})
    assert {f.name for f in fields(queue.QueueItem)} == {
        "assignment_id", "item_id", "task", "text", "leased_at", "expires_at", "suggestion"}
    given = []
    while (item := _next(engine, encoder, p["ben"])) is not None:
        given.append(item.item_id)
        assert "ana-said-ninety-minutes" not in repr(item) and item.suggestion is None
        queue.submit(engine=engine, actor=acting(p["ben"]), assignment_id=item.assignment_id,
                     value="mood")
    assert first.item_id in given


def test_reviewers_see_neutral_rater_names_and_leads_see_the_names(team):
    engine, encoder, p = team
    _label_everything(engine, encoder, {p["ana"]: "mood", p["ben"]: "sleep"})
    recompute(engine=engine, actor=acting(p["rosa"]), task_name="music")
    for_reviewer = adjudication.cases(engine=engine, actor=acting(p["rosa"]), task_name="music")
    for_lead = adjudication.cases(engine=engine, actor=acting(p["leo"]), task_name="music")
    assert len(for_reviewer) == len(for_lead) == 4
    for case in for_reviewer:
        assert [(lab.rater, lab.value) for lab in case.labels] == [("rater 1", "mood"),
                                                                   ("rater 2", "sleep")]
    for case in for_lead:
        assert [(lab.rater, lab.value) for lab in case.labels] == [("ana", "mood"),
                                                                   ("ben", "sleep")]
    with pytest.raises(PermissionDenied, match="only reviewers and leads may adjudicate"):
        adjudication.cases(engine=engine, actor=acting(p["ana"]), task_name="music")


def test_a_lead_who_labeled_an_item_cannot_settle_it(team):
    engine, encoder, p = team
    _label_everything(engine, encoder, {p["ana"]: "mood", p["leo"]: "sleep"})
    leo, rosa = acting(p["leo"]), acting(p["rosa"])
    recompute(engine=engine, actor=leo, task_name="music")
    assert adjudication.cases(engine=engine, actor=leo, task_name="music") == []
    waiting = adjudication.cases(engine=engine, actor=rosa, task_name="music")
    assert len(waiting) == 4
    item_id = waiting[0].item_id
    before = snapshot(engine)
    with pytest.raises(PermissionDenied, match="you labeled item .*another reviewer must"):
        adjudication.decide(engine=engine, actor=leo, task_name="music", item_id=item_id,
                            value="sleep")
    assert snapshot(engine) == before
    label_id = adjudication.decide(engine=engine, actor=rosa, task_name="music",
                                   item_id=item_id, value="mood")
    with session_scope(engine) as session:
        decided = session.get(Label, label_id)
        assert (decided.rater_id, decided.source) == (p["rosa"], LabelSource.adjudication)


def test_a_corrected_label_still_counts_as_having_labeled_the_item(team):
    engine, encoder, p = team
    _label_everything(engine, encoder, {p["ana"]: "mood", p["leo"]: "mood"})
    leo = acting(p["leo"])
    [latest, *_] = queue.history(engine=engine, actor=leo, task_name="music")
    queue.correct(engine=engine, actor=leo, label_id=latest.label_id, value="sleep")
    with session_scope(engine) as session:
        assert session.exec(select(Label).where(Label.superseded)).one().rater_id == p["leo"]
    recompute(engine=engine, actor=leo, task_name="music")
    assert [c.item_id for c in adjudication.cases(engine=engine, actor=acting(p["rosa"]),
                                                  task_name="music")] == [latest.item_id]
    assert adjudication.cases(engine=engine, actor=leo, task_name="music") == []
    with pytest.raises(PermissionDenied, match="you labeled item"):
        adjudication.decide(engine=engine, actor=leo, task_name="music",
                            item_id=latest.item_id, value="mood")


def test_each_answer_and_skip_is_audited_under_the_raters_id(team):
    engine, encoder, p = team
    first = _next(engine, encoder, p["ana"])
    label_id = queue.submit(engine=engine, actor=acting(p["ana"]),
                            assignment_id=first.assignment_id, value="mood",
                            slots={"mood": "calm"})
    second = _next(engine, encoder, p["ana"])
    queue.skip(engine=engine, actor=acting(p["ana"]), assignment_id=second.assignment_id,
               reason="Not English")
    with session_scope(engine) as session:
        events = [(e.actor, e.action, e.entity_id, e.after) for e in session.exec(
            select(AuditEvent).where(AuditEvent.action.in_(("label.submit", "item.skip")))
            .order_by(AuditEvent.id))]
    assert events == [
        (str(p["ana"]), "label.submit", str(first.item_id),
         {"label_id": label_id, "value": "mood", "unsure": False, "slots": ["mood"]}),
        (str(p["ana"]), "item.skip", str(second.item_id),
         {"assignment_id": second.assignment_id}),
    ]
