"""Accounts, roles and sign-in with argon2-hashed passwords.

Services take the engine and return ``AccountInfo`` (never the password hash); ``add_account``
works inside a caller's unit of work (the demo project).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Engine
from sqlmodel import Session

from labeling.exceptions import AccountError, AuthenticationError
from storage.db import session_scope, write_scope
from storage.models import Account, Role
from storage.repositories import accounts as account_repo
from storage.repositories import audit

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 8
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._\-]{0,63}$")
ROLES = tuple(role.value for role in Role)
"""The roles, least privileged first: rater, reviewer, lead, admin."""


@dataclass(frozen=True)
class AccountInfo:
    id: int
    username: str
    display_name: str
    role: str
    active: bool


def _info(account: Account) -> AccountInfo:
    return AccountInfo(id=account.id, username=account.username,
                       display_name=account.display_name or account.username,
                       role=str(account.role), active=account.active)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def add_account(
    *,
    session: Session,
    username: str,
    password: str,
    role: str,
    display_name: str = "",
    actor: str = "system",
) -> AccountInfo:
    """Create an account in the caller's unit of work (audited)."""
    username = username.strip().lower()
    if not USERNAME_PATTERN.match(username):
        raise AccountError("username must be 1-64 letters, digits, '.', '_' or '-'")
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; valid roles: {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if account_repo.get_by_username(session=session, username=username) is not None:
        raise AccountError(f"an account named {username!r} exists already")
    account = account_repo.add(session=session, account=Account(
        username=username, display_name=display_name or username, role=Role(role),
        password_hash=hash_password(password),
    ))
    audit.record(session=session, actor=actor, action="account.create", entity="account",
                 entity_id=account.id, after={"username": username, "role": role})
    return _info(account)


def create_account(
    *,
    engine: Engine,
    username: str,
    password: str,
    role: str,
    display_name: str = "",
    actor: str = "system",
) -> AccountInfo:
    """Create an account; ``AccountError`` (and nothing written) for a bad name, role or
    password, or a name already taken."""
    with write_scope(engine) as session:
        return add_account(session=session, username=username, password=password, role=role,
                           display_name=display_name, actor=actor)


def authenticate(*, engine: Engine, username: str, password: str) -> AccountInfo:
    """The account for these credentials; ``AuthenticationError`` otherwise."""
    with session_scope(engine) as session:
        account = account_repo.get_by_username(session=session,
                                               username=username.strip().lower())
        if account is None or not account.active:
            raise AuthenticationError("wrong username or password")
        try:
            _hasher.verify(account.password_hash, password)
        except (VerificationError, InvalidHashError):
            raise AuthenticationError("wrong username or password") from None
        if _hasher.check_needs_rehash(account.password_hash):
            account.password_hash = hash_password(password)
            session.add(account)
        return _info(account)


def list_accounts(*, engine: Engine) -> list[AccountInfo]:
    with session_scope(engine) as session:
        return [_info(a) for a in account_repo.list_accounts(session=session)]
