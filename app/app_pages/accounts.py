"""Accounts (leads and admins): who can sign in, with which role."""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd
import streamlit as st

from app import auth, resources
from labeling.exceptions import AccountError
from labeling.project import accounts as account_service

COLUMNS = ["username", "display_name", "role", "active", "id"]


def _create_form(actor: str) -> None:
    with st.form("create_account", clear_on_submit=True):
        st.subheader("New account")
        username = st.text_input("Username", key="new_username")
        display_name = st.text_input("Display name", key="new_display_name")
        role = st.selectbox("Role", account_service.ROLES, key="new_role")
        password = st.text_input("Initial password", type="password", key="new_password")
        submitted = st.form_submit_button("Create account", type="primary", key="create_account")
    if not submitted:
        return
    try:
        created = account_service.create_account(
            engine=resources.engine(), username=username, password=password, role=role,
            display_name=display_name, actor=actor,
        )
    except AccountError as exc:
        st.error(str(exc).capitalize())
    else:
        st.success(f"Created {created.username} ({created.role}).")


def render() -> None:
    user = auth.require_role("lead", "admin")
    st.title("Accounts")
    accounts = account_service.list_accounts(engine=resources.engine())
    frame = pd.DataFrame([asdict(a) for a in accounts], columns=COLUMNS)
    st.dataframe(frame, hide_index=True, width="stretch", key="accounts_table")
    _create_form(user.username)


render()
