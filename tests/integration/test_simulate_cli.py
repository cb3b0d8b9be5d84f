"""``workbench simulate`` replays active learning on files alone: no database needed, none made."""

from __future__ import annotations

import json

from typer.testing import CliRunner

import labeling.ml.fitting as fitting
from app.cli import app

INTENTS = {"calm": ["calm piano", "soft lofi", "quiet evening", "mellow jazz", "gentle rain"],
           "party": ["club bangers", "dance hits", "loud party", "edm anthems", "pop to dance"],
           "gym": ["gym metal", "running beats", "workout rock", "hiit mix", "cardio songs"]}


def write(path, rounds: int) -> None:
    rows = [{"text": f"{text} {i}", "label": label} for label, texts in INTENTS.items()
            for text in texts for i in range(rounds)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")


def test_simulate_runs_without_a_database_and_creates_none(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(data_dir))
    monkeypatch.delenv("WORKBENCH_DATABASE_URL", raising=False)
    monkeypatch.setenv("WORKBENCH_ENCODER", "hashing")
    write(tmp_path / "pool.jsonl", 8)
    write(tmp_path / "test.jsonl", 2)
    result = CliRunner().invoke(app, [
        "simulate", "--data", str(tmp_path / "pool.jsonl"), "--test", str(tmp_path / "test.jsonl"),
        "--seed-size", "15", "--batch", "15", "--budgets", "30,45", "--seeds", "0",
        "--out", str(tmp_path / "sim")])
    assert result.exit_code == 0, result.output
    assert "margin" in result.stdout and "random" in result.stdout
    assert (tmp_path / "sim").is_dir() and any((tmp_path / "sim").iterdir())
    assert not (data_dir / "workbench.db").exists()


def test_simulate_can_train_as_a_self_training_task(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("WORKBENCH_DATABASE_URL", raising=False)
    monkeypatch.setenv("WORKBENCH_ENCODER", "hashing")
    write(tmp_path / "pool.jsonl", 8)
    write(tmp_path / "test.jsonl", 2)
    fits: list[bool] = []
    real = fitting.fit_calibrated

    def spy(*args, **kwargs):
        fits.append(kwargs.get("unlabeled") is not None)
        return real(*args, **kwargs)

    monkeypatch.setattr(fitting, "fit_calibrated", spy)
    base = ["simulate", "--data", str(tmp_path / "pool.jsonl"), "--test",
            str(tmp_path / "test.jsonl"), "--seed-size", "15", "--batch", "15", "--budgets",
            "30", "--seeds", "0", "--strategy", "margin", "--baseline", "margin",
            "--out", str(tmp_path / "sim")]
    assert CliRunner().invoke(app, base).exit_code == 0
    assert fits == [False, False]
    fits.clear()
    result = CliRunner().invoke(app, [*base, "--self-training"])
    assert result.exit_code == 0, result.output
    assert fits == [True, True]
