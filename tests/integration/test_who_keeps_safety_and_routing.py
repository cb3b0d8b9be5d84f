"""Who may change the safety rules and policy, promote a ranker configuration, import a
catalogue, edit the lexicon and triage flags, checked on the services themselves (the pages are
a second line): a refused call raises ``PermissionDenied`` and changes nothing, an allowed one
is audited under the account id of whoever made it."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlmodel import select

from labeling.ml.encoders import HashingEncoder
from labeling.project.authz import PermissionDenied
from labeling.project.tasks import create_task
from routing.lexicon import add_phrase
from routing.promotion import BY_INTENT, preview_default, promote_config
from routing.tracks import EXAMPLE_MAPPINGS, import_catalogue
from safety import policy as policy_service
from safety import rules as rule_service
from safety import triage
from safety.policy import SafetyGate
from safety.taxonomy import category_names
from storage.db import session_scope
from storage.models import AuditEvent, Flag, Label, RankerPromotion, RuleListVersion
from tests.factories import CLI, acting, make_account, snapshot

MAPPING = EXAMPLE_MAPPINGS / "spotify_songs.json"


@pytest.fixture
def team(engine):
    """A safety task, the rule lists stored, one flag waiting, and one account per role."""
    create_task(engine=engine, actor=CLI, name="safety", kind="safety",
                labels=category_names())
    gate = SafetyGate.load(engine=engine, encoder=HashingEncoder(), actor=CLI)
    [flag_id] = triage.flag_verdicts(engine=engine, actor=CLI,
                                     verdicts=[gate.check("buy fake streams for my song")])
    people = {role: acting(make_account(engine, username=role, role=role))
              for role in ("rater", "reviewer", "lead", "admin")}
    return engine, people, flag_id


def _catalogue(tmp_path) -> dict:
    row = {"track_id": "a", "track_name": "Song", "track_artist": "Band",
           "track_album_release_date": "1994-05-01", "playlist_genre": "rap",
           "playlist_subgenre": "gangster rap", "playlist_name": "90s Rap", "energy": "0.7",
           "valence": "0.5", "danceability": "0.8", "acousticness": "0.1",
           "instrumentalness": "0", "speechiness": "0.3", "tempo": "92.5", "loudness": "-6",
           "duration_ms": "215000", "track_popularity": "55"}
    path = tmp_path / "tracks.csv"
    pd.DataFrame([row]).to_csv(path, index=False)
    return {"path": path, "mapping_path": MAPPING}


def test_a_rater_cannot_change_the_rules_policy_ranker_catalogue_or_lexicon(team, tmp_path):
    engine, people, _ = team
    rater = people["rater"]
    catalogue = _catalogue(tmp_path)
    before = snapshot(engine)
    refused = [
        lambda: rule_service.add_rule(engine=engine, actor=rater, kind="block",
                                      phrase="fake plays", category="illicit"),
        lambda: rule_service.remove_rule(engine=engine, actor=rater, rule_id="b1"),
        lambda: policy_service.set_policy(engine=engine, actor=rater, task_name="safety",
                                          block=0.99),
        lambda: promote_config(engine=engine, actor=rater, name="discovery",
                               reason="I like discovery"),
        lambda: import_catalogue(engine=engine, actor=rater, **catalogue),
        lambda: add_phrase(engine=engine, actor=rater, slot="mood", value="calm",
                           phrase="lofi beats"),
    ]
    for call in refused:
        with pytest.raises(PermissionDenied, match="only"):
            call()
    assert snapshot(engine) == before
    assert preview_default(engine=engine, actor=rater) == BY_INTENT  # reading is the preview's


def test_a_reviewer_cannot_promote_or_import_but_an_admin_imports(team, tmp_path):
    engine, people, _ = team
    with pytest.raises(PermissionDenied, match="only leads may evaluate and promote"):
        promote_config(engine=engine, actor=people["reviewer"], name="discovery",
                       reason="better")
    with pytest.raises(PermissionDenied, match="only leads and admins may import"):
        import_catalogue(engine=engine, actor=people["reviewer"], **_catalogue(tmp_path))
    done = import_catalogue(engine=engine, actor=people["admin"], **_catalogue(tmp_path))
    with session_scope(engine) as session:
        event = session.exec(select(AuditEvent).where(
            AuditEvent.action == "catalogue.import")).one()
    assert done.tracks == 1 and event.actor == str(people["admin"].id)


def test_rule_and_policy_changes_are_audited_under_the_account_id(team):
    engine, people, _ = team
    lead = people["lead"]
    version, _ = rule_service.add_rule(engine=engine, actor=lead, kind="block",
                                       phrase="fake plays", category="illicit")
    policy = policy_service.set_policy(engine=engine, actor=people["reviewer"],
                                       task_name="safety", block=0.97)
    with session_scope(engine) as session:
        stored = session.exec(select(RuleListVersion).where(
            RuleListVersion.version == version)).one()
        actors = {e.action: e.actor for e in session.exec(select(AuditEvent).where(
            AuditEvent.action.in_(("rules.change", "policy.change"))))}
    assert stored.created_by == str(lead.id)
    assert actors == {"rules.change": str(lead.id), "policy.change": str(people["reviewer"].id)}
    assert policy == 2


def test_a_ranker_promotion_by_a_lead_is_audited_under_the_account_id(team):
    engine, people, _ = team
    lead = people["lead"]
    promoted = promote_config(engine=engine, actor=lead, name="discovery",
                              reason="more saves in November")
    with session_scope(engine) as session:
        row = session.exec(select(RankerPromotion)).one()
        event = session.exec(select(AuditEvent).where(
            AuditEvent.action == "ranker.promote")).one()
    assert row.promoted_by == event.actor == str(lead.id)
    assert promoted.promoted_by_name == "lead"  # the name is looked up for the leads' pages


def test_a_reviewer_triages_and_the_decision_is_theirs(team):
    engine, people, flag_id = team
    reviewer = people["reviewer"]
    queue = triage.triage_queue(engine=engine, actor=reviewer, task_name="safety")
    assert [f.id for f in queue.flags] == [flag_id]
    label_id = triage.decide(engine=engine, actor=reviewer, flag_id=flag_id, decision="block",
                             category="illicit", note="stream fraud")
    with session_scope(engine) as session:
        label = session.get(Label, label_id)
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "flag.block")).one()
    assert label.rater_id == reviewer.id and event.actor == str(reviewer.id)
    [earlier] = triage.earlier_decisions(engine=engine, actor=reviewer,
                                         text_hash_=queue.flags[0].text_hash)
    assert (earlier.decision, earlier.reviewer) == ("block", "reviewer")


def test_raters_and_admins_cannot_triage_and_an_operator_cannot_decide(team):
    engine, people, flag_id = team
    before = snapshot(engine)
    for role in ("rater", "admin"):
        with pytest.raises(PermissionDenied, match="only reviewers and leads may triage"):
            triage.decide(engine=engine, actor=people[role], flag_id=flag_id,
                          decision="allow")
        with pytest.raises(PermissionDenied):
            triage.triage_queue(engine=engine, actor=people[role])
    with pytest.raises(triage.TriageError, match="sign in"):
        triage.decide(engine=engine, actor=CLI, flag_id=flag_id, decision="allow")
    assert snapshot(engine) == before


def test_anyone_using_the_preview_may_report_an_output_as_themselves(team):
    engine, people, _ = team
    gate = SafetyGate.load(engine=engine, encoder=HashingEncoder(), actor=CLI)
    for role in ("rater", "admin"):
        flag_id = triage.report(engine=engine, actor=people[role],
                                verdict=gate.check("a playlist for my ex"), note="mean list")
        with session_scope(engine) as session:
            assert session.get(Flag, flag_id).reported_by == people[role].id
