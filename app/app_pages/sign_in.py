"""Sign-in: username and password; in demo mode the demo accounts are listed."""

from __future__ import annotations

import streamlit as st

from app import auth, resources
from app.errors import SERVICE_ERRORS, describe
from labeling.project.demo import DEMO_ACCOUNTS


def _demo_accounts() -> None:
    st.info("Demo mode: sign in with one of these accounts.", icon=":material/info:")
    st.table([
        {"username": a.username, "password": a.password, "role": a.role}
        for a in DEMO_ACCOUNTS
    ])


def render() -> None:
    st.title("Prompt Workbench")
    st.caption("Label prompts, measure agreement, train and serve the router.")
    left, right = st.columns([2, 3])
    with left, st.form("sign_in_form"):
        username = st.text_input("Username", key="sign_in_username")
        password = st.text_input("Password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in", type="primary", key="sign_in")
    if submitted:
        try:
            account = auth.authenticate(username, password)
        except SERVICE_ERRORS as exc:
            message = describe(exc)
            left.error(message[:1].upper() + message[1:])
        else:
            auth.sign_in(account)
            st.rerun()
    if resources.settings().demo:
        with right:
            _demo_accounts()


render()
