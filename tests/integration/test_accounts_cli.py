"""`workbench account create|list|disable|enable|role|reset-password`: a password only from
standard input, never from the command line; refusals in one line, changing nothing."""

from __future__ import annotations

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from app.cli import app
from labeling.exceptions import AuthenticationError
from labeling.project.accounts import authenticate
from storage.db import make_engine, session_scope
from storage.models import AuditEvent
from tests.factories import snapshot

runner = CliRunner()


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


@pytest.fixture
def cli_db(workbench_env, monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "operator")
    assert run("init").exit_code == 0
    engine = make_engine(workbench_env)
    created = run("account", "create", "ada", "--role", "admin", "--password-stdin",
                  input="ada-password\n")
    assert created.exit_code == 0, created.output
    assert created.stdout == "created account ada (admin)\n"
    return engine


def _one_error_line(result, message: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert "Traceback" not in result.output


def test_every_account_command(cli_db):
    ok = run("account", "create", "zoe", "--role", "rater", "--display-name", "Zoe",
             "--password-stdin", input="zoe-password\r\n")
    assert ok.exit_code == 0, ok.output
    assert authenticate(engine=cli_db, username="zoe", password="zoe-password").role == "rater"
    assert run("account", "role", "zoe", "reviewer").stdout == "zoe is now a reviewer\n"
    assert run("account", "disable", "zoe").stdout == "disabled account zoe\n"
    assert "zoe\treviewer\tZoe\t(disabled)" in run("account", "list").stdout
    assert run("account", "enable", "zoe").stdout == "enabled account zoe\n"
    reset = run("account", "reset-password", "zoe", "--password-stdin", input="new-zoe-pass\n")
    assert reset.exit_code == 0, reset.output
    assert "new password set for zoe" in reset.stdout
    assert authenticate(engine=cli_db, username="zoe", password="new-zoe-pass").role \
        == "reviewer"
    with pytest.raises(AuthenticationError):
        authenticate(engine=cli_db, username="zoe", password="zoe-password")
    with session_scope(cli_db) as session:
        actors = {e.action: e.actor for e in session.exec(select(AuditEvent))
                  if e.action.startswith("account.")}
    assert set(actors) == {"account.create", "account.role", "account.disable",
                           "account.enable", "account.reset_password"}
    assert set(actors.values()) == {"cli:operator"}


def test_an_account_list_shows_a_lockout(cli_db):
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            authenticate(engine=cli_db, username="ada", password="wrong-password")
    assert "(locked until " in run("account", "list").stdout
    assert run("account", "enable", "ada").exit_code == 0
    assert "locked" not in run("account", "list").stdout


@pytest.mark.parametrize("args", [
    ["account", "create", "eve", "--role", "rater", "--password", "s3cret-on-argv"],
    ["account", "create", "eve", "--role", "rater", "--password=s3cret-on-argv"],
    ["account", "create", "eve", "s3cret-on-argv", "--role", "rater", "--password-stdin"],
    ["account", "reset-password", "ada", "s3cret-on-argv"],
    ["account", "reset-password", "ada", "--password", "s3cret-on-argv"],
    ["account", "reset-password", "ada", "-p", "s3cret-on-argv", "--password-stdin"],
])
def test_a_password_on_the_command_line_is_refused_and_not_echoed(cli_db, args):
    before = snapshot(cli_db)
    result = run(*args, input="other-password\n")
    _one_error_line(result, "a password is never taken on the command line")
    assert "s3cret-on-argv" not in result.output
    assert snapshot(cli_db) == before


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["account", "create", "eve", "--role", "rater"], "eve-password\n",
     "give the password with --password-stdin"),
    (["account", "reset-password", "ada"], "new-password\n",
     "give the password with --password-stdin"),
    (["account", "create", "eve", "--role", "rater", "--password-stdin"], "",
     "no password on standard input"),
    (["account", "create", "eve", "--role", "rater", "--password-stdin"], "short\n",
     "at least 8"),
    (["account", "create", "eve", "--role", "boss", "--password-stdin"], "eve-password\n",
     "unknown role 'boss'"),
    (["account", "role", "ada", "boss"], None, "unknown role 'boss'"),
    (["account", "role", "nobody", "rater"], None, "no account named 'nobody'"),
    (["account", "disable", "nobody"], None, "no account named 'nobody'"),
    (["account", "enable", "ada"], None, "enabled and not locked already"),
    (["account", "reset-password", "nobody", "--password-stdin"], "long-enough\n",
     "no account named 'nobody'"),
    (["account", "disable", "ada"], None, "ada is the last active admin"),
    (["account", "role", "ada", "lead"], None, "ada is the last active admin"),
])
def test_bad_account_commands_give_one_line_and_change_nothing(cli_db, args, stdin, message):
    before = snapshot(cli_db)
    _one_error_line(run(*args, input=stdin), message)
    assert snapshot(cli_db) == before
