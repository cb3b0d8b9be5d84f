"""Account commands."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from app.cli import common
from labeling.project import accounts as account_service


def account_create(
    username: str,
    role: Annotated[str, typer.Option(help="rater, reviewer, lead or admin")],
    display_name: Annotated[str, typer.Option(help="name shown in the app")] = "",
    password_stdin: Annotated[bool, typer.Option(help="read the password from stdin")] = False,
) -> None:
    """Create an account (the password is asked for, or read from stdin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    account = account_service.create_account(
        engine=common.engine(), username=username, password=password, role=role,
        display_name=display_name, actor=getpass.getuser(),
    )
    typer.echo(f"created account {account.username} ({account.role})")


def account_list() -> None:
    """List the accounts."""
    for account in account_service.list_accounts(engine=common.engine()):
        state = "" if account.active else "\t(disabled)"
        typer.echo(f"{account.username}\t{account.role}\t{account.display_name}{state}")




def register(account_app: typer.Typer) -> None:
    account_app.command("create")(common.friendly(account_create))
    account_app.command("list")(common.friendly(account_list))
