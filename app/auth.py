"""Who is signed in: only the account id, name, role and session version live in
``st.session_state``, with the time of the session's last request.

Every run of the app (``current``) checks the account again in the database: a session idle for
longer than ``WORKBENCH_SESSION_IDLE_MINUTES``, or whose account was disabled, removed or given a
new password, is signed out with a message; the role is the account's current one, so a changed
role shows its pages at the next request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import streamlit as st

from app import outage, resources
from app.errors import describe
from labeling.project import accounts as account_service
from labeling.project import authz
from labeling.project.accounts import AccountInfo, SessionEndedError
from labeling.project.authz import Capability
from storage.db import DatabaseError, DatabaseUnavailableError

_KEY = "signed_in"
_SEEN_KEY = "signed_in_seen_at"


@dataclass(frozen=True)
class SignedIn:
    id: int
    username: str
    display_name: str
    role: str
    session_version: int = 0


def _now() -> datetime:
    return datetime.now(UTC)


def _signed_in(account: AccountInfo) -> SignedIn:
    return SignedIn(id=account.id, username=account.username,
                    display_name=account.display_name or account.username, role=account.role,
                    session_version=account.session_version)


def _end(message: str) -> None:
    sign_out()
    st.warning(message, icon=":material/logout:")


def current() -> SignedIn | None:
    """The signed-in user as the database has them now, or None (signed out, with a message,
    when the session was idle too long or the account was disabled or its password reset)."""
    user = st.session_state.get(_KEY)
    if user is None:
        return None
    now = _now()
    idle = timedelta(minutes=resources.settings().session_idle_minutes)
    seen = st.session_state.get(_SEEN_KEY)
    if seen is None or now - seen > idle:
        minutes = int(idle.total_seconds() // 60)
        _end(f"You were signed out after {minutes} minutes without activity. Sign in again.")
        return None
    try:
        account = account_service.session_account(
            engine=resources.engine(), account_id=user.id, session_version=user.session_version)
    except SessionEndedError as exc:
        _end(f"You were signed out: {exc}.")
        return None
    except DatabaseUnavailableError:
        outage.wait_for_database("your session could not be checked")
    except DatabaseError as exc:
        st.error(describe(exc).capitalize() + "; try again.")
        st.stop()
    fresh = _signed_in(account)
    st.session_state[_KEY] = fresh
    st.session_state[_SEEN_KEY] = now
    return fresh


def sign_in(account: AccountInfo) -> None:
    st.session_state[_KEY] = _signed_in(account)
    st.session_state[_SEEN_KEY] = _now()


def authenticate(username: str, password: str) -> AccountInfo:
    """Check the credentials with the configured lockout (``WORKBENCH_LOCKOUT_FAILURES`` wrong
    passwords in a row lock the account for ``WORKBENCH_LOCKOUT_MINUTES``); raises
    ``AuthenticationError`` with the message to show."""
    settings = resources.settings()
    return account_service.authenticate(
        engine=resources.engine(), username=username, password=password,
        max_failures=settings.lockout_failures,
        lockout=timedelta(minutes=settings.lockout_minutes))


def sign_out() -> None:
    for key in list(st.session_state.keys()):
        del st.session_state[key]


def require(capability: Capability) -> SignedIn:
    """The signed-in user if their current role holds ``capability``; otherwise a message naming
    the roles that do, and the page stops. The services check again on every call."""
    user = current()
    if user is None or not authz.may(user.role, capability):
        roles = ", ".join(authz.roles_with(capability))
        st.error(f"This page is for: {roles}.")
        st.stop()
    return user
