"""Who runs tasks and models: leads and admins change tasks, import, export (which names the
raters), keep the gold answers and train, promote and roll back models; everyone reads tasks and
what serves. Audit rows and records name the acting account by id, never by username."""

from __future__ import annotations

import random

import pytest
from sqlmodel import select

from labeling.lifecycle import registry
from labeling.lifecycle.training import retrain
from labeling.project import accounts, exporting, gold, importing, tasks
from labeling.project.authz import PermissionDenied
from labeling.queue import assignments as queue
from storage.db import session_scope
from storage.models import AuditEvent, GuidelineVersion, ImportRecord, ModelVersion
from tests.factories import (
    CLI,
    WORDS,
    acting,
    labeled_rows,
    make_account,
    make_queue_task,
    make_task,
    snapshot,
    write_jsonl,
)

REFUSED = "only leads and admins may"


@pytest.fixture
def people(engine):
    return {name: make_account(engine, username=name, role=role)
            for name, role in (("ana", "rater"), ("rosa", "reviewer"), ("leo", "lead"),
                               ("ada", "admin"))}


def _audit(engine, action: str) -> list[str]:
    with session_scope(engine) as session:
        return [e.actor for e in session.exec(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))]


def test_only_leads_and_admins_export_and_the_export_names_the_raters(engine, encoder,
                                                                      tmp_path, people):
    make_queue_task(engine, encoder, tmp_path, n_items=4, batch_size=4, k=1)
    while (item := queue.next_item(engine=engine, actor=acting(people["ana"]),
                                   task_name="music", encoder=encoder,
                                   rng=random.Random(0))) is not None:
        queue.submit(engine=engine, actor=acting(people["ana"]),
                     assignment_id=item.assignment_id, value="mood")
    for name in ("ana", "rosa"):
        out = tmp_path / f"{name}.csv"
        with pytest.raises(PermissionDenied, match=f"{REFUSED} create tasks, import, export"):
            exporting.export_task(engine=engine, actor=acting(people[name]), task_name="music",
                                  fmt="csv", out=out)
        assert not out.exists()
        with pytest.raises(PermissionDenied, match=REFUSED):
            exporting.label_rows(engine=engine, actor=acting(people[name]), task_name="music")
    for name in ("leo", "ada"):
        rows = exporting.label_rows(engine=engine, actor=acting(people[name]),
                                    task_name="music")
        assert [r["rater"] for r in rows] == ["ana"] * 4
    out = tmp_path / "lead.csv"
    assert exporting.export_task(engine=engine, actor=acting(people["leo"]), task_name="music",
                                 fmt="csv", out=out) == 4
    assert "ana" in out.read_text()
    with session_scope(engine) as session:
        [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "task.export"))
        assert (event.actor, event.after) == (str(people["leo"]),
                                              {"format": "csv", "labels": 4, "to": "lead.csv"})


def test_gold_answers_are_kept_by_leads_and_admins_only(engine, encoder, tmp_path, people):
    make_queue_task(engine, encoder, tmp_path, n_items=4)
    [item] = gold.find_items(engine=engine, actor=acting(people["leo"]), task_name="music",
                             words="number 3")
    before = snapshot(engine)
    for name in ("ana", "rosa"):
        rater = acting(people[name])
        with pytest.raises(PermissionDenied, match=REFUSED):
            gold.gold_items(engine=engine, actor=rater, task_name="music")
        with pytest.raises(PermissionDenied, match=REFUSED):
            gold.find_items(engine=engine, actor=rater, task_name="music", words="songs")
        with pytest.raises(PermissionDenied, match=REFUSED):
            gold.mark_gold(engine=engine, actor=rater, task_name="music", item_id=item.item_id,
                           answer="sleep")
    assert snapshot(engine) == before
    gold.mark_gold(engine=engine, actor=acting(people["ada"]), task_name="music",
                   item_id=item.item_id, answer="sleep")
    assert [g.gold_label for g in gold.gold_items(engine=engine, actor=acting(people["leo"]),
                                                  task_name="music")] == ["sleep"]
    assert _audit(engine, "item.gold") == [str(people["ada"])]


def test_everyone_reads_tasks_and_guidelines_and_only_leads_and_admins_change_them(
        engine, people):
    make_task(engine)
    before = snapshot(engine)
    for name in ("ana", "rosa"):
        actor = acting(people[name])
        assert [t.name for t in tasks.list_tasks(engine=engine, actor=actor)] == ["music"]
        assert tasks.task_info(engine=engine, actor=actor, name="music").guideline_version == 1
        assert len(tasks.guideline_versions(engine=engine, actor=actor, task_name="music")) == 1
        with pytest.raises(PermissionDenied, match=REFUSED):
            tasks.update_settings(engine=engine, actor=actor, task_name="music",
                                  changes={"overlap_k": 3})
        with pytest.raises(PermissionDenied, match=REFUSED):
            tasks.save_guideline(engine=engine, actor=actor, task_name="music", text="# mine")
        with pytest.raises(PermissionDenied, match=REFUSED):
            tasks.create_task(engine=engine, actor=actor, name="other", kind="intent",
                              labels=["a", "b"])
    assert snapshot(engine) == before
    version = tasks.save_guideline(engine=engine, actor=acting(people["leo"]), task_name="music",
                                   text="# music\n\nSleep means winding down.")
    with session_scope(engine) as session:
        written = session.exec(select(GuidelineVersion).where(
            GuidelineVersion.version == version)).one()
    assert written.created_by == people["leo"]
    assert _audit(engine, "task.guideline") == [str(people["leo"])]


def test_an_import_records_the_account_id_and_raters_cannot_import(engine, encoder, tmp_path,
                                                                   people):
    make_task(engine)
    path = write_jsonl(tmp_path / "a.jsonl", [{"text": "sad songs for a rainy day"}])
    before = snapshot(engine)
    with pytest.raises(PermissionDenied, match=REFUSED):
        importing.import_file(engine=engine, actor=acting(people["ana"]), task_name="music",
                              path=path, encoder=encoder)
    assert snapshot(engine) == before
    importing.import_file(engine=engine, actor=acting(people["ada"]), task_name="music",
                          path=path, encoder=encoder)
    with session_scope(engine) as session:
        record = session.exec(select(ImportRecord)).one()
    assert record.imported_by == str(people["ada"])
    assert _audit(engine, "items.import") == [str(people["ada"])]


@pytest.fixture
def trained(engine, encoder, tmp_path, people):
    """Task "music" with 30 imported labels and v1 trained by the lead (serving)."""
    make_task(engine, labels=tuple(WORDS), oos_label=None)
    importing.import_file(engine=engine, actor=CLI, task_name="music", encoder=encoder,
                          path=write_jsonl(tmp_path / "l.jsonl", labeled_rows(30)),
                          label_col="label")
    first = retrain(engine=engine, actor=acting(people["leo"]), task_name="music",
                    encoder=encoder, models_dir=tmp_path / "models")
    assert first.serving
    return engine, encoder, tmp_path / "models"


def _serving(engine) -> int:
    with session_scope(engine) as session:
        return session.exec(select(ModelVersion.version).where(ModelVersion.serving)).one()


def test_raters_and_reviewers_cannot_train_promote_or_roll_back(trained, people):
    engine, encoder, models = trained
    retrain(engine=engine, actor=acting(people["ada"]), task_name="music", encoder=encoder,
            models_dir=models)
    before = snapshot(engine)
    for name in ("ana", "rosa"):
        actor = acting(people[name])
        with pytest.raises(PermissionDenied, match=f"{REFUSED} train, promote and roll back"):
            retrain(engine=engine, actor=actor, task_name="music", encoder=encoder,
                    models_dir=models)
        with pytest.raises(PermissionDenied, match=REFUSED):
            registry.promote(engine=engine, actor=actor, task_name="music", version=2,
                             encoder=encoder, force=True, reason="mine")
        with pytest.raises(PermissionDenied, match=REFUSED):
            registry.rollback(engine=engine, actor=actor, task_name="music", version=1)
        with pytest.raises(PermissionDenied, match=REFUSED):  # before the version's own check
            registry.set_oos_threshold(engine=engine, actor=actor, task_name="music",
                                       version=1, threshold=0.5)
        # what serves is for everyone (the preview reads it)
        assert registry.serving_version(engine=engine, actor=actor,
                                        task_name="music").version == 1
    assert snapshot(engine) == before and _serving(engine) == 1
    assert len(list(models.rglob("*.skops"))) == 2


def test_a_promotion_and_a_rollback_are_audited_under_the_account_id(trained, people):
    engine, encoder, models = trained
    retrain(engine=engine, actor=acting(people["ada"]), task_name="music", encoder=encoder,
            models_dir=models)
    assert registry.promote(engine=engine, actor=acting(people["ada"]), task_name="music",
                            version=2, encoder=encoder, force=True, reason="small task") == 2
    registry.rollback(engine=engine, actor=acting(people["leo"]), task_name="music", version=1)
    assert _serving(engine) == 1
    assert _audit(engine, "model.train") == [str(people["leo"]), str(people["ada"])]
    promoted = _audit(engine, "model.force_promote") + _audit(engine, "model.promote")
    assert promoted == [str(people["ada"])]  # the id, not "ada"
    assert _audit(engine, "model.rollback") == [str(people["leo"])]
    with session_scope(engine) as session:
        stored = [v.trained_by for v in session.exec(
            select(ModelVersion).order_by(ModelVersion.version))]
    assert stored == [str(people["leo"]), str(people["ada"])]
    shown = registry.list_versions(engine=engine, actor=acting(people["ana"]),
                                   task_name="music")
    assert [v.trained_by for v in shown] == ["leo", "ada"]  # shown by name


def test_a_demoted_or_disabled_lead_is_refused_at_the_next_call(engine, people):
    make_task(engine)
    lead = acting(people["leo"])
    tasks.update_settings(engine=engine, actor=lead, task_name="music", changes={"overlap_k": 3})
    accounts.set_role(engine=engine, actor=CLI, username="leo", role="rater")
    with pytest.raises(PermissionDenied, match=REFUSED):
        tasks.update_settings(engine=engine, actor=lead, task_name="music",
                              changes={"overlap_k": 4})
    accounts.set_role(engine=engine, actor=CLI, username="leo", role="lead")
    accounts.disable_account(engine=engine, actor=CLI, username="leo")
    with pytest.raises(PermissionDenied, match="disabled"):
        tasks.list_tasks(engine=engine, actor=lead)
    assert tasks.task_info(engine=engine, actor=CLI, name="music").overlap_k == 3
