"""The ``workbench`` CLI end to end; every bad input gives one line and changes nothing."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from app.cli import app
from storage.db import make_engine
from tests.factories import SAMPLE_ROWS, snapshot, write_jsonl

runner = CliRunner()


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


@pytest.fixture
def cli_db(workbench_env, tmp_path):
    assert run("init").exit_code == 0
    result = run("task", "create", "music", "--kind", "intent",
                 "--labels", "mood,workout,sleep,out_of_scope", "--oos-label", "out_of_scope")
    assert result.exit_code == 0, result.output
    return make_engine(workbench_env)


def test_import_then_export_jsonl_with_provenance(cli_db, tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", SAMPLE_ROWS)
    result = run("import", str(path), "--task", "music")
    assert result.exit_code == 0, result.output
    assert "5 new items, 5 new labels" in result.output
    exported = run("export", "--task", "music", "--format", "jsonl")
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert len(rows) == 5
    for key in ("rater", "source", "submitted_at", "guideline_version", "strategy",
                "model_version_id", "selection_score", "batch_id", "is_gold", "seconds"):
        assert key in rows[0]


def test_task_create_from_a_label_file_and_duplicate_name(cli_db, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("safe\nhate\nviolence\n")
    ok = run("task", "create", "mod", "--kind", "safety", "--labels", str(labels))
    assert ok.exit_code == 0, ok.output
    again = run("task", "create", "mod", "--kind", "safety", "--labels", "a,b")
    assert again.exit_code == 1 and "exists already" in again.stderr


def _bad_inputs(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("text,label\ncaf\xe9 music,mood\n".encode("latin-1"))
    huge = write_jsonl(tmp_path / "huge.jsonl", [{"text": "a" * 1_000_000, "label": "mood"}])
    good = write_jsonl(tmp_path / "good.jsonl", SAMPLE_ROWS)
    return {
        "missing file": (["import", str(tmp_path / "nope.jsonl"), "--task", "music"],
                         "no such file"),
        "unknown column": (["import", str(good), "--task", "music", "--text-col", "prompt"],
                           "no column 'prompt'"),
        "unknown label column": (["import", str(good), "--task", "music", "--label-col", "y"],
                                 "no column 'y'"),
        "empty file": (["import", str(empty), "--task", "music"], "is empty"),
        "undecodable bytes": (["import", str(latin1), "--task", "music"], "not UTF-8"),
        "1 MB prompt": (["import", str(huge), "--task", "music"], "longer than 10,000"),
        "unknown task": (["import", str(good), "--task", "nope"], "unknown task 'nope'"),
        "unknown export task": (["export", "--task", "nope"], "unknown task 'nope'"),
        "unknown kind": (["task", "create", "x", "--kind", "vibes", "--labels", "a,b"],
                         "unknown kind"),
    }


@pytest.mark.parametrize("case", [
    "missing file", "unknown column", "unknown label column", "empty file", "undecodable bytes",
    "1 MB prompt", "unknown task", "unknown export task", "unknown kind",
])
def test_bad_input_gives_one_clear_line_and_changes_nothing(cli_db, tmp_path, case):
    args, message = _bad_inputs(tmp_path)[case]
    before = snapshot(cli_db)
    result = run(*args)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in result.output
    assert snapshot(cli_db) == before


def test_commands_refuse_an_uninitialised_database(workbench_env, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    result = run("task", "list")
    assert result.exit_code == 1 and "workbench init" in result.stderr


def test_account_create_reads_the_password_from_stdin(cli_db):
    result = run("account", "create", "zoe", "--role", "lead", "--password-stdin",
                 input="long-enough-pw\n")
    assert result.exit_code == 0, result.output
    short = run("account", "create", "zed", "--role", "lead", "--password-stdin", input="x\n")
    assert short.exit_code == 1 and "at least 8" in short.stderr
    listed = run("account", "list")
    assert "zoe\tlead" in listed.stdout and "zed" not in listed.stdout


def test_task_settings_and_guideline_versions_from_the_cli(cli_db, tmp_path):
    ok = run("task", "set", "music", "--overlap-k", "3", "--strategy", "entropy",
             "--aggregation", "dawid_skene", "--suggestions", "--no-collect-preview",
             "--self-training")
    assert ok.exit_code == 0, ok.output
    shown = dict(line.split("\t", 1) for line in run("task", "show", "music").stdout.splitlines())
    assert (shown["overlap_k"], shown["strategy"], shown["aggregation"],
            shown["show_suggestions"]) == ("3", "entropy", "dawid_skene", "True")
    assert (shown["collect_preview_prompts"], shown["self_training"]) == ("False", "True")
    before = snapshot(cli_db)
    bad = run("task", "set", "music", "--overlap-k", "4", "--strategy", "vibes")
    assert bad.exit_code == 1 and "valid" in bad.stderr and "margin" in bad.stderr
    assert snapshot(cli_db) == before
    guideline = tmp_path / "g.md"
    guideline.write_text("# Music\n\nv2 rules")
    assert "guideline version 2" in run("task", "guideline", "music", "--file",
                                         str(guideline)).stdout
    assert shown["labels"].startswith("[")


def test_gold_settings_from_the_cli(cli_db):
    ok = run("task", "set", "music", "--gold-accuracy-threshold", "0.9",
             "--min-gold-answers", "8")
    assert ok.exit_code == 0, ok.output
    assert "gold_accuracy_threshold=0.9" in ok.stdout and "min_gold_answers=8" in ok.stdout
    shown = dict(line.split("\t", 1) for line in run("task", "show", "music").stdout.splitlines())
    assert (shown["gold_accuracy_threshold"], shown["min_gold_answers"]) == ("0.9", "8")
    before = snapshot(cli_db)
    for option, value, message in (("--min-gold-answers", "0", "min_gold_answers must be"),
                                   ("--gold-accuracy-threshold", "1.2",
                                    "gold_accuracy_threshold must be between 0 and 1")):
        bad = run("task", "set", "music", "--overlap-k", "3", option, value)
        assert bad.exit_code == 1 and message in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1
    assert snapshot(cli_db) == before
