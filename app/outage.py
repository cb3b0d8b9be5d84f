"""The database gone away: one clear message, and the page comes back by itself when it returns.

A full run of the app checks the database first (``main.run``, ``auth.current``). When it cannot
be reached, the run shows what happened and stops there, and a small fragment asks again every
``RETRY_SECONDS``; the first answer reruns the whole app, which draws the page the user was on.
Nothing the user typed into the labeler is lost meanwhile: the browser keeps unsaved answers
(``app/app_pages/label.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from app import resources
from storage.db import DatabaseError, check_schema

RETRY_SECONDS = 5.0


@st.fragment(run_every=RETRY_SECONDS)
def _retry() -> None:
    try:
        check_schema(resources.engine())
    except DatabaseError:
        st.caption(f"Still unreachable at {datetime.now(UTC):%H:%M:%S} UTC; trying again every "
                   f"{RETRY_SECONDS:.0f} s.")
        return
    st.rerun(scope="app")


def wait_for_database(detail: str) -> None:
    """Say the database cannot be reached (``detail``: what could not be done), retry in the
    background, and stop this run."""
    st.error(f"The database cannot be reached: {detail}. This page comes back by itself when it "
             "returns; answers you gave on the Label page are kept in your browser until then.",
             icon=":material/cloud_off:")
    _retry()
    st.stop()
