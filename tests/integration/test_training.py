"""Training: frozen evaluation split, gold kept out, calibrated model, metrics, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from app.cli import app
from labeling.lifecycle.model_files import load_model
from labeling.lifecycle.training import (
    evaluate_file,
    retrain,
    split_for_training,
    unlabeled_texts,
)
from labeling.ml.calibration import TemperatureScaledClassifier
from labeling.ml.classifier import predict_proba_fast
from labeling.ml.encoders import text_hash
from labeling.ml.scope import ScopedClassifier
from labeling.ml.splits import in_eval_split
from labeling.project.importing import import_file
from labeling.project.tasks import get_task, update_settings
from storage.db import make_engine, session_scope
from storage.models import ModelVersion
from tests.factories import (
    ACTIVITIES,
    CLI,
    MOODS,
    label_all,
    make_account,
    make_queue_task,
    make_task,
    write_jsonl,
)

LABELS = ("mood", "sleep", "out_of_scope")
METRIC_KEYS = {"n_train", "n_eval", "class_counts", "accuracy", "macro_f1", "ece", "per_class",
               "confusion", "reliability", "oos", "train_seconds", "settings", "eval_note"}
SETTING_KEYS = {"C", "class_weight", "temperature", "eval_share", "val_share",
                "target_oos_recall", "oos_threshold"}


def _rows(n: int, start: int = 0) -> list[dict]:
    """Labeled prompts whose words carry the label (so the hashing encoder can learn it)."""
    words = {"mood": "songs feeling", "sleep": "fall asleep quiet night",
             "out_of_scope": "weather forecast tomorrow"}
    rows = []
    for i in range(start, start + n):
        label = LABELS[i % 3]
        rows.append({"text": f"{words[label]} {MOODS[i % 6]} {ACTIVITIES[i % 4]} {i}",
                     "label": label})
    return rows


def _split(engine, task: str = "music"):
    with session_scope(engine) as session:
        found = get_task(session=session, name=task)
        return split_for_training(session=session, task=found)


@pytest.fixture
def imported(engine, encoder, tmp_path):
    """An intent task with 90 imported labels over three classes (one out of scope)."""
    make_task(engine)
    path = write_jsonl(tmp_path / "labeled.jsonl", _rows(90))
    import_file(engine=engine, actor=CLI, task_name="music", path=path, encoder=encoder,
                label_col="label")
    return engine


def test_the_frozen_split_is_stable_and_gold_never_trains(imported, encoder, tmp_path):
    engine = imported
    gold = write_jsonl(tmp_path / "gold.jsonl", _rows(6, start=1000))
    import_file(engine=engine, actor=CLI, task_name="music", path=gold, encoder=encoder,
                label_col="label", gold=True)
    retrain(engine=engine, task_name="music", encoder=encoder, models_dir=tmp_path / "m",
            actor=CLI)
    train, held, _ = _split(engine)
    gold_texts = {r["text"] for r in _rows(6, start=1000)}
    assert gold_texts <= set(held.texts) and not gold_texts & set(train.texts)
    assert held.n_gold == 6 and 0 < len(held.texts) - 6 < 45
    more = write_jsonl(tmp_path / "more.jsonl", _rows(60, start=90))
    import_file(engine=engine, actor=CLI, task_name="music", path=more, encoder=encoder,
                label_col="label")
    retrain(engine=engine, task_name="music", encoder=encoder, models_dir=tmp_path / "m",
            actor=CLI)
    train2, held2, _ = _split(engine)
    assert set(held.item_ids) <= set(held2.item_ids)
    assert set(train.item_ids) <= set(train2.item_ids)
    assert not set(train2.item_ids) & set(held2.item_ids)


def test_metrics_are_complete_json_and_the_model_loads_with_skops(imported, encoder, tmp_path):
    result = retrain(engine=imported, task_name="music", encoder=encoder,
                     models_dir=tmp_path / "m", actor=CLI)
    assert result.serving and result.n_eval > 0 and result.n_train + result.n_eval == 90
    with session_scope(imported) as session:
        row = session.exec(select(ModelVersion)).one()
        metrics, settings = row.metrics, row.settings
        path, digest = row.file_path, row.file_hash
    assert METRIC_KEYS <= set(metrics) and SETTING_KEYS <= set(metrics["settings"])
    assert json.loads(json.dumps(metrics)) == metrics
    assert metrics["n_train"] == result.n_train and 0 <= metrics["ece"] <= 1
    assert sum(r["count"] for r in metrics["reliability"]) == metrics["n_eval"]
    assert metrics["oos"] is not None and metrics["oos"]["oos_recall"] is not None
    assert settings["oos_threshold"] is not None and settings["temperature"] > 0
    model = load_model(path, expected_sha256=digest)
    # an intent task with an out-of-scope label: cross-fitted, with an in-scope score
    assert isinstance(model, ScopedClassifier) and settings["oos_score"] == "scope"
    assert isinstance(model.estimator, TemperatureScaledClassifier)
    assert metrics["oos"]["score"] == "scope" and metrics["oos_curve_cv"]
    assert metrics["n_val"] == metrics["n_train"]  # every training row is scored out of fold
    X = np.random.default_rng(0).normal(size=(7, encoder.dim)).astype(np.float32)
    np.testing.assert_allclose(predict_proba_fast(model, X), model.predict_proba(X), atol=1e-5)
    assert list(model.classes_) == sorted(LABELS)


def test_a_tiny_task_trains_and_says_its_evaluation_is_rough(engine, encoder, tmp_path):
    make_queue_task(engine, encoder, tmp_path, n_items=8, batch_size=8)
    raters = [make_account(engine, username=n) for n in ("ana", "ben")]
    label_all(engine, encoder, raters, lambda r, i: ("mood", "sleep")[i % 2])
    result = retrain(engine=engine, task_name="music", encoder=encoder,
                     models_dir=tmp_path / "m", actor=CLI)
    assert result.metrics["eval_note"]
    assert result.metrics["accuracy"] is not None


def test_evaluate_file_reports_oos_figures_with_the_stored_threshold(imported, encoder,
                                                                     tmp_path):
    retrain(engine=imported, task_name="music", encoder=encoder, models_dir=tmp_path / "m",
            actor=CLI)
    path = write_jsonl(tmp_path / "test.jsonl", _rows(30, start=500))
    out = evaluate_file(engine=imported, actor=CLI, task_name="music", encoder=encoder, path=path)
    assert out["version"] == 1 and out["oos"]["n_oos"] == 10 and out["oos"]["n_in_scope"] == 20
    assert 0 <= out["oos"]["in_scope_accuracy"] <= out["oos"]["in_scope_accuracy_no_threshold"]
    json.dumps(out)


def test_cli_train_and_evaluate(workbench_env, tmp_path):
    from labeling.ml.encoders import HashingEncoder

    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    created = runner.invoke(app, ["task", "create", "music", "--kind", "intent", "--labels",
                                  ",".join(LABELS), "--oos-label", "out_of_scope"])
    assert created.exit_code == 0, created.output
    engine = make_engine(workbench_env)
    path = write_jsonl(tmp_path / "labeled.jsonl", _rows(60))
    import_file(engine=engine, actor=CLI, task_name="music", path=path, encoder=HashingEncoder(),
                label_col="label")
    engine.dispose()
    trained = runner.invoke(app, ["train", "--task", "music"])
    assert trained.exit_code == 0, trained.output
    assert "model v1" in trained.output and "serving" in trained.output
    assert "ECE" in trained.output and "OOS recall" in trained.output
    test = write_jsonl(tmp_path / "test.jsonl", _rows(12, start=500))
    shown = runner.invoke(app, ["evaluate", "--task", "music", "--data", str(test), "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["oos"]["n_oos"] == 4
    missing = runner.invoke(app, ["evaluate", "--task", "nope", "--data", str(test)])
    assert missing.exit_code == 1


def test_a_self_training_task_pseudo_labels_only_its_unlabeled_items(engine, encoder, tmp_path):
    """Self-training reads the items with no settled label, no gold answer, and outside the
    evaluation split's hash range; retraining records how many joined as pseudo-labels."""
    make_task(engine, labels=LABELS, oos_label=None)
    labeled, gold, free = _rows(60), _rows(4, start=900), _rows(40, start=500)
    import_file(engine=engine, actor=CLI, task_name="music", encoder=encoder,
                path=write_jsonl(tmp_path / "labeled.jsonl", labeled), label_col="label")
    import_file(engine=engine, actor=CLI, task_name="music", encoder=encoder,
                path=write_jsonl(tmp_path / "gold.jsonl", gold), label_col="label", gold=True)
    import_file(engine=engine, actor=CLI, task_name="music", encoder=encoder,
                path=write_jsonl(tmp_path / "free.jsonl", [{"text": r["text"]} for r in free]))
    plain = retrain(engine=engine, task_name="music", encoder=encoder,
                    models_dir=tmp_path / "m", actor=CLI)
    assert plain.metrics["settings"]["self_training"] is False
    assert plain.metrics["settings"]["n_pseudo"] == 0
    update_settings(engine=engine, task_name="music", changes={"self_training": True},
                    actor=CLI)
    with session_scope(engine) as session:
        task = get_task(session=session, name="music")
        texts = unlabeled_texts(session=session, task=task)
        held = in_eval_split(task_name="music", text_hashes=[text_hash(r["text"]) for r in free],
                             gold=[False] * len(free))
    assert sorted(texts) == sorted(r["text"] for r, h in zip(free, held, strict=True) if not h)
    assert 0 < held.sum() < len(free)  # some of the free items lie in the split's range
    trained = retrain(engine=engine, task_name="music", encoder=encoder,
                      models_dir=tmp_path / "m", actor=CLI)
    settings = trained.metrics["settings"]
    assert settings["self_training"] is True and 0 < settings["n_pseudo"] <= len(texts)
    assert settings["class_weight"] is None and settings["pseudo_weight"] == 0.5
    assert trained.n_train == plain.n_train  # pseudo-labels are not counted as labels
