"""The model registry: versions, gated promotion, rollback, tamper checks, crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlmodel import select

from labeling.lifecycle import model_files, registry
from labeling.lifecycle.model_files import ModelFileError
from labeling.lifecycle.registry import PromotionError
from labeling.lifecycle.training import retrain
from storage.db import session_scope
from storage.models import AuditEvent, ModelVersion
from tests.factories import label_all, make_account, make_queue_task

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def trained(engine, encoder, tmp_path):
    """A task with settled labels and one serving model (v1)."""
    make_queue_task(engine, encoder, tmp_path, n_items=16, batch_size=8)
    raters = [make_account(engine, username=n) for n in ("ana", "ben")]
    label_all(engine, encoder, raters, lambda r, i: ("mood", "sleep")[i % 2])
    first = retrain(engine=engine, task_name="music", encoder=encoder,
                    models_dir=tmp_path / "models", actor="leo")
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


def test_later_versions_wait_for_promotion_and_the_gate_holds(trained):
    engine, encoder, models = trained
    second = retrain(engine=engine, task_name="music", encoder=encoder, models_dir=models,
                     actor="leo")
    assert (second.version, second.serving, _serving(engine)) == (2, False, 1)
    _set_f1(engine, 1, 0.90)
    _set_f1(engine, 2, 0.885)
    with pytest.raises(PromotionError, match="more than 1 point below"):
        registry.promote(engine=engine, task_name="music", version=2, actor="leo")
    with pytest.raises(PromotionError, match="needs a reason"):
        registry.promote(engine=engine, task_name="music", version=2, actor="leo", force=True)
    assert _serving(engine) == 1
    registry.promote(engine=engine, task_name="music", version=2, actor="leo", force=True,
                     reason="fixes the sleep/mood confusion users reported")
    assert _serving(engine) == 2
    with session_scope(engine) as session:
        event = session.exec(select(AuditEvent).where(
            AuditEvent.action == "model.force_promote")).one()
    assert event.after["reason"].startswith("fixes") and event.actor == "leo"
    registry.rollback(engine=engine, task_name="music", version=1, actor="leo")
    assert _serving(engine) == 1


def test_a_version_within_one_point_is_promoted(trained):
    engine, encoder, models = trained
    retrain(engine=engine, task_name="music", encoder=encoder, models_dir=models, actor="leo")
    _set_f1(engine, 1, 0.90)
    _set_f1(engine, 2, 0.895)
    assert registry.promote(engine=engine, task_name="music", version=None, actor="leo") == 2


def test_a_tampered_model_file_is_refused_and_the_serving_model_stays(trained):
    engine, encoder, models = trained
    retrain(engine=engine, task_name="music", encoder=encoder, models_dir=models, actor="leo")
    _set_f1(engine, 1, 0.9)
    _set_f1(engine, 2, 0.9)
    path = models / "music" / "v2.skops"
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ModelFileError, match="changed after it was registered"):
        registry.promote(engine=engine, task_name="music", version=2, actor="leo")
    assert _serving(engine) == 1
    with session_scope(engine) as session:
        v2 = session.exec(select(ModelVersion).where(ModelVersion.version == 2)).one()
    with pytest.raises(ModelFileError):
        model_files.load_model(v2.file_path, expected_sha256=v2.file_hash)


def _run_and_kill(db_url: str, script: str, marker: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DB_URL": db_url, "MARKER": str(marker)}
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not marker.exists():
        if process.poll() is not None:
            raise AssertionError(process.stderr.read().decode())
        assert time.monotonic() < deadline, "the subprocess never reached the kill point"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def test_killing_a_promotion_midway_leaves_the_serving_model(trained, db_url, tmp_path):
    engine, encoder, models = trained
    retrain(engine=engine, task_name="music", encoder=encoder, models_dir=models, actor="leo")
    _set_f1(engine, 1, 0.9)
    _set_f1(engine, 2, 0.9)
    engine.dispose()
    _run_and_kill(db_url, """
        import os, time, pathlib
        from storage.db import make_engine
        from storage.repositories import audit
        from labeling.lifecycle import registry

        def stall(**kwargs):  # runs after set_serving, inside the transaction
            pathlib.Path(os.environ["MARKER"]).touch()
            time.sleep(60)

        registry.audit.record = stall
        registry.promote(engine=make_engine(os.environ["DB_URL"]), task_name="music",
                         version=2, actor="killed")
    """, tmp_path / "promote.marker")
    assert _serving(engine) == 1
    assert registry.promote(engine=engine, task_name="music", version=2, actor="leo") == 2


def test_killing_training_midway_leaves_the_registry_consistent(trained, db_url, tmp_path):
    engine, encoder, models = trained
    engine.dispose()
    _run_and_kill(db_url, f"""
        import os, time, pathlib
        from storage.db import make_engine
        from labeling.lifecycle import training
        from labeling.ml.encoders import HashingEncoder

        real_save = training.save_model

        def save_then_stall(model, path):  # the file is written; the row is not committed
            digest = real_save(model, path)
            pathlib.Path(os.environ["MARKER"]).touch()
            time.sleep(60)
            return digest

        training.save_model = save_then_stall
        training.retrain(engine=make_engine(os.environ["DB_URL"]), task_name="music",
                         encoder=HashingEncoder(), models_dir=pathlib.Path({str(models)!r}),
                         actor="killed")
    """, tmp_path / "train.marker")
    with session_scope(engine) as session:
        versions = session.exec(select(ModelVersion)).all()
    assert [(v.version, v.serving) for v in versions] == [(1, True)]
    for v in versions:
        model_files.load_model(v.file_path, expected_sha256=v.file_hash)
    again = retrain(engine=engine, task_name="music", encoder=encoder, models_dir=models,
                    actor="leo")
    assert again.version == 2 and not again.serving
