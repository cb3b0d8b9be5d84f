"""The privacy side of the CLI: ``workbench init`` writes the installation's secret key, imports
of end-user ids are refused without one, and ``workbench privacy export | erase | retention``."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from storage.db import make_engine
from storage.secret_key import read_secret_file
from tests.factories import SAMPLE_ROWS, snapshot, write_jsonl

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


def test_init_writes_a_private_key_once_and_keeps_it(workbench_env, tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_SECRET_KEY")
    monkeypatch.chdir(ROOT / "tests")  # no .env file is read
    key_file = tmp_path / "data" / "secret.key"
    first = run("init")
    assert first.exit_code == 0, first.output
    assert f"secret key: created {key_file}" in first.stdout
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = read_secret_file(key_file)
    again = run("init")
    assert again.exit_code == 0 and "created" not in again.stdout
    assert read_secret_file(key_file) == key


def test_init_with_the_variable_set_writes_no_file(workbench_env, tmp_path):
    result = run("init")
    assert result.exit_code == 0, result.output
    assert "secret key: from WORKBENCH_SECRET_KEY" in result.stdout
    assert not (tmp_path / "data" / "secret.key").exists()


def test_an_import_of_end_user_ids_without_a_key_is_refused(workbench_env, tmp_path,
                                                            monkeypatch):
    assert run("init").exit_code == 0
    assert run("task", "create", "music", "--kind", "intent",
               "--labels", "mood,workout,sleep,out_of_scope").exit_code == 0
    monkeypatch.delenv("WORKBENCH_SECRET_KEY")
    monkeypatch.chdir(ROOT / "tests")
    rows = [dict(r, user=f"user-{i}") for i, r in enumerate(SAMPLE_ROWS)]
    path = write_jsonl(tmp_path / "users.jsonl", rows)
    engine = make_engine(workbench_env)
    before = snapshot(engine)
    result = run("import", str(path), "--task", "music", "--user-col", "user")
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: no secret key") and "workbench init" in line
    assert snapshot(engine) == before
    without_users = run("import", str(path), "--task", "music")  # no ids: no key needed
    assert without_users.exit_code == 0, without_users.output


@pytest.fixture
def users_db(workbench_env, tmp_path):
    """A music task with prompts of two end users (alice, bob) imported by the CLI."""
    assert run("init").exit_code == 0
    assert run("task", "create", "music", "--kind", "intent",
               "--labels", "mood,workout,sleep,out_of_scope").exit_code == 0
    rows = [dict(r, user="alice" if i < 3 else "bob") for i, r in enumerate(SAMPLE_ROWS)]
    result = run("import", str(write_jsonl(tmp_path / "users.jsonl", rows)), "--task", "music",
                 "--user-col", "user")
    assert result.exit_code == 0, result.output
    return make_engine(workbench_env)


def test_export_writes_the_users_prompts_as_json(users_db, tmp_path):
    shown = run("privacy", "export", "--end-user", "alice")
    assert shown.exit_code == 0, shown.output
    held = json.loads(shown.stdout)
    assert sorted(i["text"] for i in held["items"]) == sorted(r["text"] for r in SAMPLE_ROWS[:3])
    out = tmp_path / "exports" / "alice.json"
    written = run("privacy", "export", "--end-user", "alice", "--out", str(out))
    assert written.exit_code == 0 and "wrote 3 prompts" in written.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert json.loads(out.read_text(encoding="utf-8"))["items"] == held["items"]


def test_erase_asks_first_and_then_removes_the_users_prompts(users_db):
    before = snapshot(users_db)
    declined = run("privacy", "erase", "--end-user", "alice", input="n\n")
    assert declined.exit_code == 1 and "nothing erased" in declined.stderr
    assert snapshot(users_db) == before
    erased = run("privacy", "erase", "--end-user", "alice", "--yes")
    assert erased.exit_code == 0, erased.output
    assert erased.stdout.startswith("erased: 3 items, 3 labels, 3 vectors; audit reference ")
    assert run("privacy", "export", "--end-user", "bob").exit_code == 0
    again = run("privacy", "export", "--end-user", "alice")
    assert again.exit_code == 1 and "erased on" in again.stderr


@pytest.mark.parametrize("args", [
    ["privacy", "export", "--end-user", "carol"],
    ["privacy", "erase", "--end-user", "carol", "--yes"],
    ["privacy", "retention", "--days", "0"],
])
def test_bad_privacy_requests_give_one_line_and_change_nothing(users_db, args):
    before = snapshot(users_db)
    result = run(*args)
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "Traceback" not in result.output
    assert snapshot(users_db) == before


def test_retention_from_cron_prints_one_line_and_is_idempotent(users_db):
    first = run("privacy", "retention", "--days", "30")
    assert first.exit_code == 0 and first.stdout.count("\n") == 1
    assert first.stdout.endswith("nothing to delete\n")  # the prompts are new
    before = snapshot(users_db)
    again = run("privacy", "retention", "--days", "30")
    assert again.exit_code == 0 and snapshot(users_db) == before
