"""Who is signed in: only the account id, name and role live in ``st.session_state``."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from labeling.project.accounts import AccountInfo

_KEY = "signed_in"


@dataclass(frozen=True)
class SignedIn:
    id: int
    username: str
    display_name: str
    role: str


def current() -> SignedIn | None:
    return st.session_state.get(_KEY)


def sign_in(account: AccountInfo) -> None:
    st.session_state[_KEY] = SignedIn(
        id=account.id, username=account.username,
        display_name=account.display_name or account.username, role=account.role,
    )


def sign_out() -> None:
    for key in list(st.session_state.keys()):
        del st.session_state[key]


def require_role(*roles: str) -> SignedIn:
    """The signed-in user if their role is one of ``roles``; otherwise stop the page."""
    user = current()
    if user is None or user.role not in roles:
        st.error("This page is for: " + ", ".join(roles) + ".")
        st.stop()
    return user
