"""The privacy side of the CLI: ``workbench init`` writes the installation's secret key, and
imports of end-user ids are refused without one."""

from __future__ import annotations

import stat
from pathlib import Path

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
