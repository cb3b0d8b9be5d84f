"""Accounts, roles and sign-in with argon2-hashed passwords.

Who may change accounts: leads and admins; only an admin grants the admin role or changes an
admin's account, and nobody disables or demotes the last active admin. The acting account is
read again in the same unit of work as the change (its current role, and that it is still
active), never taken from what a page cached at sign-in. The command line acts as an
``Operator``: someone holding the database's credentials, trusted as an admin and audited by name.
Every change is audited with the actor's account id and before/after values that hold no
password material; the clear password only ever reaches argon2.

Sign-in counts wrong passwords in a row; at ``max_failures`` the account is locked for
``lockout`` (audited as ``account.lock``, and ``account.unlock`` when it ends or an admin lifts
it). While locked no password is checked, so guessing cannot go on during a lockout. An unknown
name gets the same answer as a wrong password. A reset password or a disabled account raises the
account's ``session_version``, which ends the browser sessions signed in before.

Services take the engine and return ``AccountInfo`` (never the password hash); ``add_account``
works inside a caller's unit of work (the demo project).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Engine
from sqlmodel import Session

from labeling.exceptions import AccountError, AuthenticationError
from labeling.project import authz
from labeling.project.authz import (
    Actor,
    Capability,
    PermissionDenied,
    before_sign_in,
    requires,
)
from storage.db import session_scope, write_scope
from storage.models import Account, Role, utcnow
from storage.repositories import accounts as account_repo
from storage.repositories import audit

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._\-]{0,63}$")
ROLES = tuple(role.value for role in Role)
"""The roles, least privileged first: rater, reviewer, lead, admin."""
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
WRONG_CREDENTIALS = "wrong username or password"


class AccountPermissionError(AccountError, PermissionDenied):
    """The acting account may not make this change."""


class AccountLockedError(AuthenticationError):
    """Too many wrong passwords in a row: sign-in is refused until ``until``."""

    def __init__(self, until: datetime) -> None:
        self.until = until
        super().__init__(
            f"this account is locked after too many wrong passwords until "
            f"{until:%Y-%m-%d %H:%M} UTC; try again then, or ask an admin to enable it")


class SessionEndedError(AuthenticationError):
    """A signed-in session is no longer valid (account gone, disabled, or password reset)."""




@dataclass(frozen=True)
class AccountInfo:
    id: int
    username: str
    display_name: str
    role: str
    active: bool
    locked_until: datetime | None = None
    """Set while a lockout lasts."""
    session_version: int = 0


def _info(account: Account, now: datetime | None = None) -> AccountInfo:
    now = now or utcnow()
    locked = account.locked_until if account.locked_until and account.locked_until > now \
        else None
    return AccountInfo(id=account.id, username=account.username,
                       display_name=account.display_name or account.username,
                       role=str(account.role), active=account.active, locked_until=locked,
                       session_version=account.session_version)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@functools.cache
def _decoy_hash() -> str:
    return hash_password("a password nobody has")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# --- checks -----------------------------------------------------------------------------------


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"password must have at most {MAX_PASSWORD_LENGTH} characters")


def _check_role(role: str) -> Role:
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; valid roles: {', '.join(ROLES)}")
    return Role(role)


def _acting(session: Session, actor: Actor) -> tuple[str, Role]:
    """The actor's audit name and current role; refused unless it may manage accounts."""
    who = authz.check(session, actor, Capability.manage_accounts)
    return who.audit_name, who.role or Role.admin


def _target(session: Session, username: str) -> Account:
    name = username.strip().lower()
    account = account_repo.get_by_username(session=session, username=name, for_update=True)
    if account is None:
        raise AccountError(f"no account named {name!r}")
    return account


def _may_change(acting_role: Role, target: Account) -> None:
    if target.role == Role.admin and acting_role != Role.admin:
        raise AccountPermissionError("only an admin can change an admin's account")


def _may_grant(acting_role: Role, role: Role) -> None:
    if role == Role.admin and acting_role != Role.admin:
        raise AccountPermissionError("only an admin can grant the admin role")


def _keep_an_admin(session: Session, target: Account) -> None:
    """Refuse to take the last active admin away (disable or demote)."""
    if target.role != Role.admin or not target.active:
        return
    admins = account_repo.active_admin_ids(session=session, for_update=True)
    if not [i for i in admins if i != target.id]:
        raise AccountError(f"{target.username} is the last active admin: make another account "
                           "admin first")


def _stamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def _unlock(session: Session, account: Account, *, actor: str, reason: str) -> None:
    audit.record(session=session, actor=actor, action="account.unlock", entity="account",
                 entity_id=account.id,
                 before={"locked_until": _stamp(account.locked_until),
                         "failed_sign_ins": account.failed_sign_ins},
                 after={"locked_until": None, "failed_sign_ins": 0, "reason": reason})
    account.locked_until = None
    account.failed_sign_ins = 0


def _lift_lock(session: Session, account: Account, *, actor: str, reason: str,
               now: datetime) -> bool:
    """Lift ``account``'s lockout (audited) if it has one; whether it was still on."""
    if account.locked_until is None:
        return False
    on = account.locked_until > now
    _unlock(session, account, actor=actor if on else "system",
            reason=reason if on else "the lockout ended")
    return on


# --- changes ------------------------------------------------------------------------------------


def add_account(
    *,
    session: Session,
    username: str,
    password: str,
    role: str,
    display_name: str = "",
    actor: Actor,
) -> AccountInfo:
    """Create an account in the caller's unit of work (audited)."""
    username = username.strip().lower()
    if not USERNAME_PATTERN.match(username):
        raise AccountError("username must be 1-64 letters, digits, '.', '_' or '-'")
    new_role = _check_role(role)
    _check_password(password)
    who, acting_role = _acting(session, actor)
    _may_grant(acting_role, new_role)
    if account_repo.get_by_username(session=session, username=username) is not None:
        raise AccountError(f"an account named {username!r} exists already")
    account = account_repo.add(session=session, account=Account(
        username=username, display_name=display_name.strip() or username, role=new_role,
        password_hash=hash_password(password),
    ))
    audit.record(session=session, actor=who, action="account.create", entity="account",
                 entity_id=account.id,
                 after={"username": username, "display_name": account.display_name,
                        "role": role, "active": True})
    return _info(account)


@requires(Capability.manage_accounts)
def create_account(
    *,
    engine: Engine,
    username: str,
    password: str,
    role: str,
    display_name: str = "",
    actor: Actor,
) -> AccountInfo:
    """Create an account; ``AccountError`` (and nothing written) for a bad name, role or
    password, a name already taken, or an actor who may not grant ``role``."""
    with write_scope(engine) as session:
        return add_account(session=session, username=username, password=password, role=role,
                           display_name=display_name, actor=actor)


def _change(engine: Engine, actor: Actor, username: str, apply: Any) -> AccountInfo:
    """One audited change of one account in one unit of work: ``apply(session, target, who,
    acting_role)`` checks and changes the target, or raises and nothing is written."""
    with write_scope(engine) as session:
        who, acting_role = _acting(session, actor)
        target = _target(session, username)
        _may_change(acting_role, target)
        apply(session, target, who, acting_role)
        session.add(target)
        return _info(target)


@requires(Capability.manage_accounts)
def set_role(*, engine: Engine, actor: Actor, username: str, role: str) -> AccountInfo:
    """Give ``username`` another role; it takes effect at the account's next request."""
    new_role = _check_role(role)

    def apply(session: Session, target: Account, who: str, acting_role: Role) -> None:
        _may_grant(acting_role, new_role)
        if target.role == new_role:
            raise AccountError(f"{target.username} is a {role} already")
        if new_role != Role.admin:
            _keep_an_admin(session, target)
        audit.record(session=session, actor=who, action="account.role", entity="account",
                     entity_id=target.id, before={"role": str(target.role)},
                     after={"role": role})
        target.role = new_role

    return _change(engine, actor, username, apply)


@requires(Capability.manage_accounts)
def disable_account(*, engine: Engine, actor: Actor, username: str) -> AccountInfo:
    """Disable ``username``: it cannot sign in, and its open sessions end at their next
    request."""

    def apply(session: Session, target: Account, who: str, _role: Role) -> None:
        if not target.active:
            raise AccountError(f"{target.username} is disabled already")
        _keep_an_admin(session, target)
        audit.record(session=session, actor=who, action="account.disable", entity="account",
                     entity_id=target.id, before={"active": True}, after={"active": False})
        target.active = False
        target.session_version += 1

    return _change(engine, actor, username, apply)


@requires(Capability.manage_accounts)
def enable_account(*, engine: Engine, actor: Actor, username: str,
                   now: datetime | None = None) -> AccountInfo:
    """Enable ``username`` again, lifting any lockout."""
    now = now or utcnow()

    def apply(session: Session, target: Account, who: str, _role: Role) -> None:
        locked = _lift_lock(session, target, actor=who, reason="enabled by an admin", now=now)
        if target.active and not locked:
            raise AccountError(f"{target.username} is enabled and not locked already")
        if not target.active:
            audit.record(session=session, actor=who, action="account.enable",
                         entity="account", entity_id=target.id, before={"active": False},
                         after={"active": True})
            target.active = True

    return _change(engine, actor, username, apply)


@requires(Capability.manage_accounts)
def reset_password(*, engine: Engine, actor: Actor, username: str, password: str,
                   now: datetime | None = None) -> AccountInfo:
    """Give ``username`` a new password: its open sessions end and any lockout is lifted."""
    _check_password(password)
    now = now or utcnow()

    def apply(session: Session, target: Account, who: str, _role: Role) -> None:
        _lift_lock(session, target, actor=who, reason="password reset", now=now)
        audit.record(session=session, actor=who, action="account.reset_password",
                     entity="account", entity_id=target.id,
                     before={"session_version": target.session_version},
                     after={"session_version": target.session_version + 1,
                            "sessions_ended": True})
        target.password_hash = hash_password(password)
        target.failed_sign_ins = 0
        target.session_version += 1

    return _change(engine, actor, username, apply)


# --- sign-in ------------------------------------------------------------------------------------


def _record_attempt(session: Session, account: Account, *, correct: bool, password: str,
                    now: datetime, max_failures: int, lockout: timedelta) -> Exception | None:
    """Book one sign-in attempt on ``account``; the error to raise once it is stored."""
    if account.locked_until is not None and account.locked_until > now:
        return AccountLockedError(account.locked_until)  # locked by another attempt meanwhile
    _lift_lock(session, account, actor="system", reason="the lockout ended", now=now)
    if not correct:
        account.failed_sign_ins += 1
        if account.failed_sign_ins >= max_failures:
            account.locked_until = now + lockout
            audit.record(session=session, actor="system", action="account.lock",
                         entity="account", entity_id=account.id,
                         after={"locked_until": _stamp(account.locked_until),
                                "failed_sign_ins": account.failed_sign_ins})
        return AuthenticationError(WRONG_CREDENTIALS)
    if not account.active:
        return AuthenticationError("this account is disabled; ask an admin to enable it")
    account.failed_sign_ins = 0
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
    return None


@before_sign_in
def authenticate(
    *,
    engine: Engine,
    username: str,
    password: str,
    max_failures: int = MAX_FAILURES,
    lockout: timedelta = LOCKOUT,
    now: datetime | None = None,
) -> AccountInfo:
    """The account for these credentials; ``AuthenticationError`` otherwise (the same message
    for an unknown name as for a wrong password), ``AccountLockedError`` while locked."""
    now = now or utcnow()
    with session_scope(engine) as session:
        found = account_repo.get_by_username(session=session,
                                             username=username.strip().lower())
    if found is None:
        _verify(_decoy_hash(), password)  # as slow as a real check
        raise AuthenticationError(WRONG_CREDENTIALS)
    if found.locked_until is not None and found.locked_until > now:
        raise AccountLockedError(found.locked_until)
    correct = _verify(found.password_hash, password)  # outside the write lock: argon2 is slow
    with write_scope(engine) as session:
        account = account_repo.get(session=session, account_id=found.id, for_update=True)
        if account is None:
            raise AuthenticationError(WRONG_CREDENTIALS)
        refused = _record_attempt(
            session, account, correct=correct and account.password_hash == found.password_hash,
            password=password, now=now, max_failures=max_failures, lockout=lockout)
        session.add(account)
        info = _info(account, now)
    if refused is not None:
        raise refused
    return info


@before_sign_in
def session_account(*, engine: Engine, account_id: int, session_version: int) -> AccountInfo:
    """The signed-in account as it is now (its current role); ``SessionEndedError`` when it is
    gone or disabled, or its password was reset since the session signed in."""
    with session_scope(engine) as session:
        account = account_repo.get(session=session, account_id=account_id)
        if account is None:
            raise SessionEndedError("your account no longer exists")
        if not account.active:
            raise SessionEndedError("your account has been disabled; ask an admin")
        if account.session_version != session_version:
            raise SessionEndedError("your password was reset or your account disabled since "
                                    "you signed in; sign in again")
        return _info(account)


@requires(Capability.manage_accounts)
def list_accounts(*, engine: Engine, actor: Actor, now: datetime | None = None
                  ) -> list[AccountInfo]:
    with session_scope(engine) as session:
        return [_info(a, now) for a in account_repo.list_accounts(session=session)]
