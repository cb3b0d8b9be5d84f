"""Clear passwords never reach the database, the logs or an export: accounts are created,
signed in to (right and wrong), re-passworded and locked through the CLI, the app and the
services, with every SQL statement and its parameters logged; then every column of every table,
the database files, the captured logs and output, and every export are searched for them."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import MetaData, select
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from app.cli import app
from labeling.exceptions import AuthenticationError
from labeling.ml.encoders import HashingEncoder
from labeling.project import accounts as svc
from storage.db import is_sqlite, make_engine, session_scope
from storage.repositories import audit
from tests.factories import label_all, make_queue_task, signed_in_app

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
SECRETS = {
    "ada": "Ada-Secret-Pw-7731",          # admin, created by the CLI
    "ana": "Ana-Secret-Pw-8842",          # rater, created by the CLI
    "ana_reset": "Ana-Reset-Pw-9953",     # set by the CLI's reset-password
    "mia": "Mia-Secret-Pw-1064",          # created in the Accounts page
    "mia_reset": "Mia-Reset-Pw-2175",     # set in the Accounts page
    "wrong": "Wrong-Guess-Pw-3286",       # typed at the sign-in page
    "lockout": "Lockout-Guess-Pw-4397",   # five wrong guesses
}
runner = CliRunner()


def _cli(*args: str, input: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == 0, result.output
    return result.output


def _through_the_cli(engine, tmp_path: Path) -> list[str]:
    out = [_cli("init"),
           _cli("account", "create", "ada", "--role", "admin", "--password-stdin",
                input=SECRETS["ada"] + "\n"),
           _cli("account", "create", "ana", "--role", "rater", "--password-stdin",
                input=SECRETS["ana"] + "\n")]
    ana = svc.authenticate(engine=engine, username="ana", password=SECRETS["ana"])
    make_queue_task(engine, HashingEncoder(), tmp_path, n_items=6, batch_size=3, k=1)
    label_all(engine, HashingEncoder(), [ana.id], lambda _r, item: "mood")
    out.append(_cli("account", "reset-password", "ana", "--password-stdin",
                    input=SECRETS["ana_reset"] + "\n"))
    return out


def _through_the_app() -> None:
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    at.text_input(key="sign_in_username").input("ada")
    at.text_input(key="sign_in_password").input(SECRETS["wrong"])
    at.button(key="sign_in").click()
    assert "Wrong username or password" in at.run().error[0].value
    at = signed_in_app(MAIN, "ada", SECRETS["ada"])
    at.switch_page("app_pages/accounts.py").run()
    at.text_input(key="new_username").input("mia")
    at.selectbox(key="new_role").select("lead")
    at.text_input(key="new_password").input(SECRETS["mia"])
    at.button(key="create_account").click()
    at.run()
    at.selectbox(key="manage_account").select("mia")
    at.run()
    at.text_input(key="reset_password_new").input(SECRETS["mia_reset"])
    at.text_input(key="reset_password_repeat").input(SECRETS["mia_reset"])
    at.button(key="reset_password").click()
    at.run()
    assert not at.exception
    assert "New password set for `mia`" in at.success[0].value


def _exports(tmp_path: Path) -> list[bytes]:
    files = []
    for fmt in ("csv", "jsonl", "parquet", "label-studio"):
        path = tmp_path / f"labels.{fmt}"
        _cli("export", "--task", "music", "--format", fmt, "--out", str(path))
        files.append(path.read_bytes())
    assert b"ana" in files[0]  # the export names the rater: accounts are in it
    files.append(_cli("export", "--task", "music").encode())
    files.append(_cli("account", "list").encode())
    return files


def _audit_trail(engine) -> bytes:
    with session_scope(engine) as session:
        events = [e.model_dump(mode="json") for e in audit.recent(session=session, limit=10_000)]
    assert {"account.create", "account.reset_password", "account.lock"} <= \
        {e["action"] for e in events}
    return json.dumps(events).encode()


def _every_cell(engine) -> list[tuple[str, str]]:
    metadata = MetaData()
    metadata.reflect(bind=engine)
    cells = []
    with engine.connect() as connection:
        for name, table in metadata.tables.items():
            for row in connection.execute(select(table)):
                cells += [(f"{name}.{column}", repr(value))
                          for column, value in row._mapping.items()]
    return cells


def _database_files(engine) -> list[bytes]:
    if not is_sqlite(engine):
        return []
    database = Path(engine.url.database)
    return [p.read_bytes() for p in database.parent.glob(database.name + "*")]


@pytest.fixture
def logged(caplog):
    """Every log record, SQL statements with their parameters included."""
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    caplog.set_level(logging.DEBUG)  # last: it sets the capturing handler's level too
    return caplog


def test_clear_passwords_are_nowhere(workbench_env, tmp_path, logged, capfd):
    engine = make_engine(workbench_env)
    cli_output = _through_the_cli(engine, tmp_path)
    _through_the_app()
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            svc.authenticate(engine=engine, username="ana", password=SECRETS["lockout"])
    exports = [*_exports(tmp_path), _audit_trail(engine)]
    captured = capfd.readouterr()

    assert "INSERT INTO account" in logged.text  # the SQL log was on: parameters are in it
    assert any(cell.startswith("'$argon2id$") for _, cell in _every_cell(engine))
    for label, secret in SECRETS.items():
        assert [where for where, cell in _every_cell(engine) if secret in cell] == [], label
        assert all(secret.encode() not in blob for blob in _database_files(engine)), label
        assert secret not in logged.text, label
        assert all(secret not in text for text in cli_output), label
        assert secret not in captured.out + captured.err, label
        assert all(secret.encode() not in blob for blob in exports), label
