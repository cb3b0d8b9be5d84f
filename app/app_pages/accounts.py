"""Accounts (leads and admins): who can sign in, with which role; create accounts, change roles,
disable and enable them, reset passwords. Only admins grant admin or change an admin's account;
the services check it again with the acting account's current role."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict

import pandas as pd
import streamlit as st

from app import auth, resources
from app.errors import SERVICE_ERRORS, describe
from labeling.project import accounts as account_service
from labeling.project.accounts import AccountInfo
from labeling.project.authz import Capability

COLUMNS = ["username", "display_name", "role", "active", "locked_until", "id"]
NOTICE = "accounts_notice"


def _done(message: str) -> None:
    st.session_state[NOTICE] = message
    st.rerun()


def _call(action: Callable[[], AccountInfo], message: Callable[[AccountInfo], str]) -> None:
    """One service call for one user action: a message and a fresh page, or the refusal."""
    try:
        changed = action()
    except SERVICE_ERRORS as exc:
        message = describe(exc)
        st.error(message[:1].upper() + message[1:] + ".", icon=":material/error:")
        return
    _done(message(changed))


def _grantable(user: auth.SignedIn) -> tuple[str, ...]:
    if user.role == "admin":
        return account_service.ROLES
    return tuple(r for r in account_service.ROLES if r != "admin")


def _table(accounts: Sequence[AccountInfo]) -> None:
    frame = pd.DataFrame([asdict(a) for a in accounts], columns=COLUMNS)
    frame["locked_until"] = [
        "" if a.locked_until is None else f"{a.locked_until:%Y-%m-%d %H:%M} UTC"
        for a in accounts]
    st.dataframe(frame, hide_index=True, width="stretch", key="accounts_table")


def _create_form(user: auth.SignedIn) -> None:
    with st.form("create_account", clear_on_submit=True):
        st.subheader("New account")
        username = st.text_input("Username", key="new_username")
        display_name = st.text_input("Display name", key="new_display_name")
        role = st.selectbox("Role", _grantable(user), key="new_role")
        password = st.text_input("Initial password", type="password", key="new_password")
        submitted = st.form_submit_button("Create account", type="primary", key="create_account")
    if not submitted:
        return
    _call(lambda: account_service.create_account(
        engine=resources.engine(), username=username, password=password, role=role,
        display_name=display_name, actor=user),
        lambda a: f"Created `{a.username}` ({a.role}).")


def _role(user: auth.SignedIn, account: AccountInfo) -> None:
    roles = _grantable(user)
    role = st.selectbox("Role", roles, key=f"manage_role_{account.id}",
                        index=roles.index(account.role))
    if st.button("Change role", key="change_role"):
        _call(lambda: account_service.set_role(
            engine=resources.engine(), actor=user, username=account.username, role=role),
            lambda a: f"`{a.username}` is now a {a.role}; it applies at their next request.")


def _access(user: auth.SignedIn, account: AccountInfo) -> None:
    engine = resources.engine()
    if account.active and account.locked_until is None:
        if st.button("Disable", key="disable_account", icon=":material/block:"):
            _call(lambda: account_service.disable_account(
                engine=engine, actor=user, username=account.username),
                lambda a: f"Disabled `{a.username}`: signed out at their next request.")
        return
    label = "Enable" if not account.active else "Unlock"
    if st.button(label, key="enable_account", icon=":material/lock_open:"):
        _call(lambda: account_service.enable_account(
            engine=engine, actor=user, username=account.username),
            lambda a: f"`{a.username}` can sign in again.")


def _reset(user: auth.SignedIn, account: AccountInfo) -> None:
    with st.form("reset_password", clear_on_submit=True):
        password = st.text_input("New password", type="password", key="reset_password_new")
        repeat = st.text_input("New password again", type="password",
                               key="reset_password_repeat")
        submitted = st.form_submit_button("Reset password", key="reset_password")
    if not submitted:
        return
    if password != repeat:
        st.error("The two passwords differ; nothing was changed.", icon=":material/error:")
        return
    _call(lambda: account_service.reset_password(
        engine=resources.engine(), actor=user, username=account.username, password=password),
        lambda a: f"New password set for `{a.username}`; their open sessions are signed out.")


def _manage(user: auth.SignedIn, accounts: Sequence[AccountInfo]) -> None:
    st.subheader("Change an account")
    by_name = {a.username: a for a in accounts}
    name = st.selectbox("Account", list(by_name), key="manage_account")
    if name is None:
        return
    account = by_name[name]
    state = "active" if account.active else "disabled"
    if account.locked_until is not None:
        state += f", locked until {account.locked_until:%Y-%m-%d %H:%M} UTC"
    st.caption(f"{account.role} · {state}")
    if account.role not in _grantable(user):
        st.caption("Only an admin changes an admin's account.")
        return
    left, right = st.columns(2)
    with left:
        _role(user, account)
    with right:
        _access(user, account)
    _reset(user, account)


def render() -> None:
    user = auth.require(Capability.manage_accounts)
    st.title("Accounts")
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        st.success(notice, icon=":material/check_circle:")
    if user.role != "admin":
        st.caption("Only an admin grants the admin role or changes an admin's account.")
    try:
        accounts = account_service.list_accounts(engine=resources.engine(), actor=user)
    except SERVICE_ERRORS as exc:
        st.error(f"Could not load the accounts: {describe(exc)}. Reload the page.")
        return
    _table(accounts)
    _create_form(user)
    _manage(user, accounts)


render()
