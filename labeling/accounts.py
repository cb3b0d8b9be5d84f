"""Accounts, roles and sign-in with argon2-hashed passwords."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session

from labeling.exceptions import AccountError, AuthenticationError
from storage.models import Account, AccountPublic, Role
from storage.repositories import accounts as account_repo
from storage.repositories import audit

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 8
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._\-]{0,63}$")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def create_account(
    *,
    session: Session,
    username: str,
    password: str,
    role: str,
    display_name: str = "",
    actor: str = "system",
) -> AccountPublic:
    username = username.strip().lower()
    if not USERNAME_PATTERN.match(username):
        raise AccountError("username must be 1-64 letters, digits, '.', '_' or '-'")
    try:
        account_role = Role(role)
    except ValueError:
        valid = ", ".join(r.value for r in Role)
        raise AccountError(f"unknown role {role!r}; valid roles: {valid}") from None
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if account_repo.get_by_username(session=session, username=username) is not None:
        raise AccountError(f"an account named {username!r} exists already")
    account = account_repo.add(session=session, account=Account(
        username=username, display_name=display_name or username, role=account_role,
        password_hash=hash_password(password),
    ))
    audit.record(session=session, actor=actor, action="account.create", entity="account",
                 entity_id=account.id, after={"username": username, "role": role})
    return AccountPublic.model_validate(account)


def authenticate(*, session: Session, username: str, password: str) -> AccountPublic:
    """The account for these credentials; ``AuthenticationError`` otherwise."""
    account = account_repo.get_by_username(session=session, username=username.strip().lower())
    if account is None or not account.active:
        raise AuthenticationError("wrong username or password")
    try:
        _hasher.verify(account.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise AuthenticationError("wrong username or password") from None
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
        session.add(account)
    return AccountPublic.model_validate(account)


def list_accounts(*, session: Session) -> list[AccountPublic]:
    return [AccountPublic.model_validate(a) for a in account_repo.list_accounts(session=session)]


def set_active(*, session: Session, account_id: int, active: bool, actor: str) -> None:
    account = account_repo.get(session=session, account_id=account_id)
    if account is None:
        raise AccountError(f"no account with id {account_id}")
    before = account.active
    account.active = active
    session.add(account)
    audit.record(session=session, actor=actor, action="account.set_active", entity="account",
                 entity_id=account_id, before={"active": before}, after={"active": active})
