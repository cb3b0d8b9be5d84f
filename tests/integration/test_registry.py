"""The model registry: versions, gated promotion, rollback, tamper checks, crash safety."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from app.cli import app
from labeling.lifecycle import model_files, registry
from labeling.lifecycle.comparison import GateRules, compare_versions
from labeling.lifecycle.model_files import ModelFileError, save_model
from labeling.lifecycle.registry import PromotionError
from labeling.lifecycle.training import retrain
from labeling.ml.classifier import make_classifier
from labeling.ml.encoders import HashingEncoder
from storage.db import session_scope
from storage.models import AuditEvent, ModelVersion
from tests.factories import (
    CLI,
    WORDS,
    acting,
    import_labeled,
    label_all,
    labeled_rows,
    make_account,
    make_queue_task,
    make_task,
    register_confused_model,
    run_and_kill,
    run_together,
)

pytestmark = pytest.mark.slow(seconds=110)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def trained(engine, encoder, tmp_path):
    """A task with settled labels and one serving model (v1)."""
    make_queue_task(engine, encoder, tmp_path, n_items=16, batch_size=8)
    raters = [make_account(engine, username=n) for n in ("ana", "ben")]
    label_all(engine, encoder, raters, lambda r, i: ("mood", "sleep")[i % 2])
    first = retrain(engine=engine, task_name="music", encoder=encoder,
                    models_dir=tmp_path / "models", actor=CLI)
    assert first.serving
    return engine, encoder, tmp_path / "models"


def _set_f1(engine, version: int, value: float) -> None:
    with session_scope(engine) as session:
        row = session.exec(select(ModelVersion).where(ModelVersion.version == version)).one()
        row.metrics = {**row.metrics, "macro_f1": value}
        session.add(row)


def _serving(engine) -> int:
    with session_scope(engine) as session:
        return session.exec(select(ModelVersion.version).where(ModelVersion.serving)).one()


@pytest.fixture
def grown(engine, encoder, tmp_path):
    """v1 trained while the task had 15 labels (nothing held out: scored on its own training
    rows), v2 after the task grew to 255 (a held-out split)."""
    make_task(engine, labels=tuple(WORDS), oos_label=None)
    import_labeled(engine, encoder, tmp_path, labeled_rows(15), name="first.jsonl")
    first = retrain(engine=engine, task_name="music", encoder=encoder,
                    models_dir=tmp_path / "models", actor=CLI)
    assert first.metrics["n_eval"] == 15 and "training data" in first.metrics["eval_note"]
    import_labeled(engine, encoder, tmp_path, labeled_rows(240, start=15), name="more.jsonl")
    second = retrain(engine=engine, task_name="music", encoder=encoder,
                     models_dir=tmp_path / "models", actor=CLI)
    assert second.metrics["n_eval"] > 20 and not second.serving
    return engine, encoder, tmp_path / "models"


def _overlap(engine, version: int) -> list[int]:
    with session_scope(engine) as session:
        row = session.exec(select(ModelVersion).where(ModelVersion.version == version)).one()
        return list(row.settings["eval_overlap_item_ids"])


def test_promotion_is_decided_on_the_shared_current_split_not_stored_scores(grown):
    engine, encoder, _ = grown
    # the stored figures say v2 is far worse: they came from different test sets
    _set_f1(engine, 1, 1.0)
    _set_f1(engine, 2, 0.2)
    compared = compare_versions(engine=engine, actor=CLI, task_name="music", encoder=encoder,
                                candidate=2)
    assert compared.baseline == 1 and compared.enough
    seen_by_v1 = _overlap(engine, 1)
    assert seen_by_v1 and not _overlap(engine, 2)
    assert compared.n_excluded == len(seen_by_v1)  # v1's training items are not scored
    assert {m["n"] for m in compared.metrics.values()} == {compared.n_eval}
    assert compared.metrics[2]["macro_f1"] >= compared.metrics[1]["macro_f1"] - 0.01
    assert compared.problem is None
    assert {c.rule for c in compared.checks} == {"macro_f1", "class_f1", "ece"}
    assert registry.promote(engine=engine, task_name="music", version=2, actor=CLI,
                            encoder=encoder) == 2
    with session_scope(engine) as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "model.promote")).one()
    assert event.after["compared_on"] == compared.n_eval and event.after["gate"] is None


def test_a_candidate_that_loses_a_class_is_refused_naming_the_rule(grown):
    engine, encoder, models = grown
    registry.promote(engine=engine, task_name="music", version=2, actor=CLI, encoder=encoder)
    register_confused_model(engine, encoder, models, version=3)
    compared = compare_versions(engine=engine, actor=CLI, task_name="music", encoder=encoder,
                                candidate=3)
    blocking = {c.rule: c.detail for c in compared.blocking}
    assert "class_f1" in blocking and "sleep" in blocking["class_f1"]
    assert "macro_f1" in blocking  # the stored 0.99 does not count
    with pytest.raises(PromotionError,
                       match="F1 of 2 classes falls by more than 0.10: sleep 1.00 → 0.00"):
        registry.promote(engine=engine, task_name="music", version=3, actor=CLI,
                         encoder=encoder)
    assert _serving(engine) == 2
    looser = GateRules(macro_f1_drop=1.0, class_f1_drop=1.0, ece_rise=1.0)
    assert registry.promote(engine=engine, task_name="music", version=3, actor=CLI,
                            encoder=encoder, rules=looser) == 3


def test_a_task_too_small_to_compare_asks_for_an_explicit_decision(trained):
    engine, encoder, models = trained
    second = retrain(engine=engine, task_name="music", encoder=encoder, models_dir=models,
                     actor=CLI)
    assert (second.version, second.serving, _serving(engine)) == (2, False, 1)
    compared = compare_versions(engine=engine, actor=CLI, task_name="music", encoder=encoder,
                                candidate=2)
    assert not compared.enough and compared.metrics == {2: None, 1: None}
    with pytest.raises(PromotionError, match="not enough held-out items to compare: 0"):
        registry.promote(engine=engine, task_name="music", version=2, actor=CLI,
                         encoder=encoder)
    with pytest.raises(PromotionError, match="needs a reason"):
        registry.promote(engine=engine, task_name="music", version=2, actor=CLI,
                         encoder=encoder, force=True)
    assert _serving(engine) == 1
    lead = make_account(engine, username="leo", role="lead")
    registry.promote(engine=engine, task_name="music", version=2, actor=acting(lead),
                     encoder=encoder, force=True,
                     reason="fixes the sleep/mood confusion users reported")
    assert _serving(engine) == 2
    with session_scope(engine) as session:
        event = session.exec(select(AuditEvent).where(
            AuditEvent.action == "model.force_promote")).one()
    assert event.after["reason"].startswith("fixes") and event.actor == str(lead)
    assert "not enough held-out items" in event.after["gate"]
    registry.rollback(engine=engine, task_name="music", version=1, actor=CLI)
    assert _serving(engine) == 1


def test_a_tampered_model_file_is_refused_and_the_serving_model_stays(trained):
    engine, encoder, models = trained
    retrain(engine=engine, task_name="music", encoder=encoder, models_dir=models, actor=CLI)
    with session_scope(engine) as session:
        path = model_files.resolved_path(session.exec(
            select(ModelVersion.file_path).where(ModelVersion.version == 2)).one())
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ModelFileError, match="changed after it was registered"):
        registry.promote(engine=engine, task_name="music", version=2, actor=CLI,
                         encoder=encoder, force=True, reason="small task")
    assert _serving(engine) == 1
    with session_scope(engine) as session:
        v2 = session.exec(select(ModelVersion).where(ModelVersion.version == 2)).one()
    with pytest.raises(ModelFileError):
        model_files.load_model(v2.file_path, expected_sha256=v2.file_hash)


def test_killing_a_promotion_midway_leaves_the_serving_model(trained, db_url, tmp_path):
    engine, encoder, models = trained
    retrain(engine=engine, task_name="music", encoder=encoder, models_dir=models, actor=CLI)
    engine.dispose()
    run_and_kill(db_url, """
        import os, time, pathlib
        from storage.db import make_engine
        from storage.repositories import audit
        from labeling.lifecycle import registry
        from labeling.ml.encoders import HashingEncoder
        from labeling.project.authz import Operator

        def stall(**kwargs):  # runs after set_serving, inside the transaction
            pathlib.Path(os.environ["MARKER"]).touch()
            time.sleep(60)

        registry.audit.record = stall
        registry.promote(engine=make_engine(os.environ["DB_URL"]), task_name="music",
                         version=2, actor=Operator("killed"), encoder=HashingEncoder(), force=True,
                         reason="small task")
    """, tmp_path / "promote.marker")
    assert _serving(engine) == 1
    assert registry.promote(engine=engine, task_name="music", version=2, actor=CLI,
                            encoder=encoder, force=True, reason="small task") == 2


def test_killing_training_midway_leaves_the_registry_consistent(trained, db_url, tmp_path):
    engine, encoder, models = trained
    engine.dispose()
    run_and_kill(db_url, f"""
        import os, time, pathlib
        from storage.db import make_engine
        from labeling.lifecycle import training
        from labeling.ml.encoders import HashingEncoder
        from labeling.project.authz import Operator

        real_save = training.save_content_addressed

        def save_then_stall(model, folder):  # the file is written; the row is not committed
            saved = real_save(model, folder)
            pathlib.Path(os.environ["MARKER"]).touch()
            time.sleep(60)
            return saved

        training.save_content_addressed = save_then_stall
        training.retrain(engine=make_engine(os.environ["DB_URL"]), task_name="music",
                         encoder=HashingEncoder(), models_dir=pathlib.Path({str(models)!r}),
                         actor=Operator("killed"))
    """, tmp_path / "train.marker")
    with session_scope(engine) as session:
        versions = session.exec(select(ModelVersion)).all()
    assert [(v.version, v.serving) for v in versions] == [(1, True)]
    for v in versions:
        model_files.load_model(v.file_path, expected_sha256=v.file_hash)
    again = retrain(engine=engine, task_name="music", encoder=encoder, models_dir=models,
                    actor=CLI)
    assert again.version == 2 and not again.serving


def test_cli_compares_on_the_shared_split_and_promotes(grown, workbench_env):
    engine, _, models = grown
    register_confused_model(engine, HashingEncoder(), models, version=3)
    runner = CliRunner()
    shown = runner.invoke(app, ["models", "compare", "--task", "music", "--version", "3",
                                "--against", "2", "--json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert data["candidate"] == 3 and data["baseline"] == 2 and data["enough"]
    assert {row["rule"] for row in data["checks"] if not row["passed"]} >= {"class_f1"}
    assert data["metrics"]["v3"]["n"] == data["metrics"]["v2"]["n"] == data["n_eval"]
    refused = runner.invoke(app, ["models", "promote", "--task", "music", "--version", "3"])
    assert refused.exit_code == 1 and "class" in refused.output and _serving(engine) == 1
    assert "Traceback" not in refused.output
    text = runner.invoke(app, ["models", "compare", "--task", "music", "--version", "2"])
    assert text.exit_code == 0 and "gate: passes" in text.output
    done = runner.invoke(app, ["models", "promote", "--task", "music", "--version", "2"])
    assert done.exit_code == 0 and "v2 serves" in done.output and _serving(engine) == 2


def test_a_version_against_itself_or_of_another_width_is_compared_without_a_crash(grown):
    engine, encoder, models = grown
    itself = compare_versions(engine=engine, actor=CLI, task_name="music", encoder=encoder,
                              candidate=2, baseline=2)
    assert itself.baseline is None and itself.checks == [] and itself.metrics[2] is not None
    narrow = make_classifier().fit(np.random.default_rng(0).normal(size=(30, 8)),
                                   list(WORDS) * 10)  # trained on 8-d vectors, not 64-d
    path = models / "music" / "v3.skops"
    with session_scope(engine) as session:
        task_id = session.exec(select(ModelVersion.task_id)).first()
        session.add(ModelVersion(task_id=task_id, version=3, label_snapshot_hash="x",
                                 file_path=str(path), file_hash=save_model(narrow, path),
                                 trained_by="test", metrics={}, settings={}))
    compared = compare_versions(engine=engine, actor=CLI, task_name="music", encoder=encoder,
                                candidate=3)
    assert compared.metrics[3] is None
    assert [c.rule for c in compared.blocking] == ["scored"]


def test_two_trainings_at_once_register_two_versions_whose_files_both_load(trained,
                                                                         monkeypatch):
    """Both read the next version number at the same moment (widened by a pause): with the
    task locked for the registration they get v2 and v3, each file named by its content."""
    from storage.repositories import models as model_repo

    engine, encoder, models = trained
    reading = model_repo.next_version

    def slow_next_version(**kwargs):
        number = reading(**kwargs)
        time.sleep(0.5)  # the other training reads meanwhile unless the task is locked
        return number

    monkeypatch.setattr(model_repo, "next_version", slow_next_version)
    outcomes = run_together(*(
        lambda seed=seed: retrain(engine=engine, task_name="music", encoder=encoder,
                                  models_dir=models, actor=CLI, seed=seed).version
        for seed in (1, 2)))
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert sorted(outcomes) == [2, 3]  # no version number twice
    with session_scope(engine) as session:
        versions = session.exec(select(ModelVersion).order_by(ModelVersion.version)).all()
    assert [(v.version, v.serving) for v in versions] == [(1, True), (2, False), (3, False)]
    for v in versions:
        assert Path(v.file_path).name == f"{v.file_hash}.skops"
        model_files.load_model(v.file_path, expected_sha256=v.file_hash)


def test_two_promotions_at_once_leave_one_serving_version(trained, monkeypatch):
    engine, encoder, models = trained
    for _ in range(2):
        retrain(engine=engine, task_name="music", encoder=encoder, models_dir=models,
                actor=CLI)
    reading = registry.model_repo.serving

    def slow_serving(**kwargs):
        found = reading(**kwargs)
        time.sleep(0.3)  # the other promotion reads meanwhile unless the task is locked
        return found

    monkeypatch.setattr(registry.model_repo, "serving", slow_serving)
    outcomes = run_together(*(
        lambda version=version: registry.promote(
            engine=engine, task_name="music", version=version, actor=CLI, encoder=encoder,
            force=True, reason="race test")
        for version in (2, 3)))
    with session_scope(engine) as session:
        serving = session.exec(select(ModelVersion.version).where(ModelVersion.serving)).all()
    # The second to decide sees the first's promotion and refuses: nobody's choice is lost
    # silently behind another's.
    [won] = [o for o in outcomes if isinstance(o, int)]
    [lost] = [o for o in outcomes if isinstance(o, PromotionError)]
    assert serving == [won] and "another version was promoted" in str(lost), outcomes


def test_the_database_refuses_a_second_serving_version(trained):
    from sqlalchemy.exc import IntegrityError

    engine, encoder, models = trained
    retrain(engine=engine, task_name="music", encoder=encoder, models_dir=models, actor=CLI)
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        v2 = session.exec(select(ModelVersion).where(ModelVersion.version == 2)).one()
        v2.serving = True
        session.add(v2)
        session.flush()
    assert _serving(engine) == 1


def test_model_paths_inside_the_data_folder_are_relative_and_load_after_a_move(
        engine, encoder, tmp_path, monkeypatch):
    import shutil

    data = tmp_path / "data"
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(data))
    make_queue_task(engine, encoder, tmp_path, n_items=16, batch_size=8)
    raters = [make_account(engine, username=n) for n in ("ana", "ben")]
    label_all(engine, encoder, raters, lambda r, i: ("mood", "sleep")[i % 2])
    retrain(engine=engine, task_name="music", encoder=encoder, models_dir=data / "models",
            actor=CLI)
    with session_scope(engine) as session:
        stored = session.exec(select(ModelVersion.file_path)).one()
    assert not Path(stored).is_absolute() and stored.startswith("models/music/")
    moved = tmp_path / "mounted-elsewhere"
    shutil.move(data, moved)
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(moved))
    model_files.MODEL_CACHE._models.clear()
    info, model = registry.load_serving(engine=engine, actor=CLI, task_name="music")
    assert info.version == 1 and list(model.classes_) == ["mood", "sleep"]



def test_migration_0011_repairs_what_breaks_the_rules_then_enforces_them(
        engine, encoder, tmp_path, monkeypatch):
    """A database from before 0011 with two serving versions, two live labels of one rater on
    one item, two open leases of one item for one rater, an item in two active batches and
    absolute model paths: the migration keeps the newest of each, makes the paths relative,
    and the rules then hold."""
    from alembic import command
    from sqlalchemy.exc import IntegrityError

    from storage.db import alembic_config, is_sqlite, migrate
    from storage.models import Assignment, Label, Selection

    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path))
    make_queue_task(engine, encoder, tmp_path, n_items=16, batch_size=8)
    raters = [make_account(engine, username=n) for n in ("ana", "ben")]
    label_all(engine, encoder, raters, lambda r, i: ("mood", "sleep")[i % 2])
    for _ in range(2):
        retrain(engine=engine, task_name="music", encoder=encoder,
                models_dir=tmp_path / "models", actor=CLI)
    with engine.connect() as connection:
        raw = connection.connection.driver_connection if is_sqlite(engine) else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")  # SQLite copies the table to drop a column
        with connection.begin():
            cfg = alembic_config(engine)
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, "0010")
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=ON")
    with session_scope(engine) as session:
        models = session.exec(select(ModelVersion).order_by(ModelVersion.id)).all()
        for model in models:
            model.serving = True  # v1 and v2 serve
            model.file_path = str((tmp_path / model.file_path).resolve())  # as before 0011
            session.add(model)
        old = session.exec(select(Label).order_by(Label.id)).first()
        twin = Label(**{**old.model_dump(exclude={"id"}), "value": "sleep"})
        session.add(twin)
        lease = session.exec(select(Assignment).order_by(Assignment.id)).first()
        for _ in range(2):
            session.add(Assignment(task_id=lease.task_id, item_id=lease.item_id,
                                   rater_id=lease.rater_id, status="leased",
                                   leased_at=lease.leased_at, expires_at=lease.expires_at))
        chosen = session.exec(select(Selection).where(Selection.active)).first()
        again = Selection(**{**chosen.model_dump(exclude={"id"}), "batch_id": "again"})
        session.add(again)
        session.flush()
        twin_id, old_id, model_ids = twin.id, old.id, [m.id for m in models]
        selections = (chosen.id, again.id)
    migrate(engine)
    with session_scope(engine) as session:
        serving = session.exec(select(ModelVersion.id).where(ModelVersion.serving)).all()
        assert serving == [model_ids[-1]]
        assert session.get(Label, old_id).superseded and not session.get(Label, twin_id).superseded
        open_leases = session.exec(select(Assignment).where(
            Assignment.item_id == lease.item_id, Assignment.rater_id == lease.rater_id,
            Assignment.status == "leased")).all()
        assert len(open_leases) == 1
        paths = session.exec(select(ModelVersion.file_path)).all()
        assert [session.get(Selection, i).active for i in selections] == [False, True]
    assert all(p.startswith("models/music/") for p in paths)
    model_files.MODEL_CACHE._models.clear()
    assert registry.load_serving(engine=engine, actor=CLI, task_name="music")[0].version == 2
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        twin = session.get(Label, twin_id)
        session.add(Label(**{**twin.model_dump(exclude={"id"}), "value": "mood"}))
        session.flush()
