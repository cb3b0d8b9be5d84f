"""Account commands: create, list, disable, enable, role, reset-password.

A password is read only from standard input: one line with ``--password-stdin``, or typed at a
hidden prompt when standard input is a terminal. It is never taken as a command-line argument
(it would stay in the shell's history and the process list); anything extra on the command line
is refused without being echoed. The command line acts as ``cli:<user>`` (an ``Operator``, with
the database's own credentials), audited by that name.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from app.cli import common
from labeling.project import accounts as account_service

PasswordStdin = Annotated[bool, typer.Option(
    "--password-stdin", help="read the password from the first line of standard input")]
# Extra arguments reach the command (and are refused there) instead of click's own message,
# which would echo them: a password typed on the command line must not be printed back.
TAKES_PASSWORD = {"allow_extra_args": True, "ignore_unknown_options": True}


def _refuse_extra(ctx: typer.Context) -> None:
    if not ctx.args:
        return
    options = sorted({a.split("=", 1)[0] for a in ctx.args if a.startswith("-")})
    named = f" ({', '.join(options)})" if options else ""
    raise ValueError(
        f"unexpected argument{'s' if len(ctx.args) > 1 else ''}{named}: a password is never "
        "taken on the command line; pipe it to --password-stdin")


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise ValueError("no password on standard input")
        return password
    if sys.stdin.isatty():
        return typer.prompt("password", hide_input=True, confirmation_prompt=True)
    raise ValueError("standard input is not a terminal: give the password with --password-stdin")


def account_create(
    ctx: typer.Context,
    username: str,
    role: Annotated[str, typer.Option(help="rater, reviewer, lead or admin")],
    display_name: Annotated[str, typer.Option(help="name shown in the app")] = "",
    password_stdin: PasswordStdin = False,
) -> None:
    """Create an account (the password is asked for, or read from stdin)."""
    _refuse_extra(ctx)
    password = _read_password(password_stdin)
    account = account_service.create_account(
        engine=common.engine(), username=username, password=password, role=role,
        display_name=display_name, actor=common.operator(),
    )
    typer.echo(f"created account {account.username} ({account.role})")


def account_list() -> None:
    """List the accounts."""
    for account in account_service.list_accounts(engine=common.engine(), actor=common.operator()):
        state = "" if account.active else "\t(disabled)"
        if account.locked_until is not None:
            state += f"\t(locked until {account.locked_until:%Y-%m-%d %H:%M} UTC)"
        typer.echo(f"{account.username}\t{account.role}\t{account.display_name}{state}")


def account_disable(username: str) -> None:
    """Disable an account: it cannot sign in, and its open sessions end at their next request."""
    account = account_service.disable_account(engine=common.engine(), actor=common.operator(),
                                              username=username)
    typer.echo(f"disabled account {account.username}")


def account_enable(username: str) -> None:
    """Enable a disabled account again, or lift a lockout after wrong passwords."""
    account = account_service.enable_account(engine=common.engine(), actor=common.operator(),
                                             username=username)
    typer.echo(f"enabled account {account.username}")


def account_role(
    username: str,
    role: Annotated[str, typer.Argument(help="rater, reviewer, lead or admin")],
) -> None:
    """Change an account's role (it applies at the account's next request)."""
    account = account_service.set_role(engine=common.engine(), actor=common.operator(),
                                       username=username, role=role)
    typer.echo(f"{account.username} is now a {account.role}")


def account_reset_password(
    ctx: typer.Context,
    username: str,
    password_stdin: PasswordStdin = False,
) -> None:
    """Set a new password (asked for, or read from stdin); the account's sessions end."""
    _refuse_extra(ctx)
    password = _read_password(password_stdin)
    account = account_service.reset_password(engine=common.engine(), actor=common.operator(),
                                             username=username, password=password)
    typer.echo(f"new password set for {account.username}; their sessions are signed out")


def register(account_app: typer.Typer) -> None:
    account_app.command("create", context_settings=TAKES_PASSWORD)(
        common.friendly(account_create))
    account_app.command("list")(common.friendly(account_list))
    account_app.command("disable")(common.friendly(account_disable))
    account_app.command("enable")(common.friendly(account_enable))
    account_app.command("role")(common.friendly(account_role))
    account_app.command("reset-password", context_settings=TAKES_PASSWORD)(
        common.friendly(account_reset_password))
