"""Entry point: page config, sign-in, and navigation with the pages of the user's role."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

if __package__ in (None, ""):  # `streamlit run app/main.py` runs this file as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import auth, resources  # noqa: E402
from app.components.untrusted import as_markdown  # noqa: E402
from storage.db import DatabaseError, check_schema  # noqa: E402

PAGES_BY_ROLE = {
    "rater": ("home", "label", "history", "preview"),
    "reviewer": ("home", "triage", "adjudicate", "safety_rules", "label", "history", "preview"),
    "lead": ("home", "quality", "triage", "adjudicate", "models", "preview", "label", "history",
             "task_settings", "safety_rules", "simulation", "experiments", "accounts", "audit"),
    "admin": ("home", "quality", "models", "preview", "task_settings", "accounts", "audit"),
}


PAGES_DIR = Path(__file__).resolve().parent / "app_pages"


def _pages() -> dict[str, st.Page]:
    return {
        "home": st.Page(PAGES_DIR / "home.py", title="Home", icon=":material/home:",
                        default=True),
        "label": st.Page(PAGES_DIR / "label.py", title="Label", icon=":material/label:"),
        "history": st.Page(PAGES_DIR / "history.py", title="My labels",
                           icon=":material/history:"),
        "quality": st.Page(PAGES_DIR / "quality.py", title="Label quality",
                           icon=":material/monitoring:"),
        "adjudicate": st.Page(PAGES_DIR / "adjudicate.py", title="Adjudicate",
                              icon=":material/gavel:"),
        "triage": st.Page(PAGES_DIR / "triage.py", title="Triage",
                          icon=":material/shield:"),
        "safety_rules": st.Page(PAGES_DIR / "safety_rules.py", title="Safety rules",
                                icon=":material/rule:"),
        "models": st.Page(PAGES_DIR / "models.py", title="Models",
                          icon=":material/model_training:"),
        "task_settings": st.Page(PAGES_DIR / "task_settings.py", title="Task settings",
                                 icon=":material/settings:"),
        "simulation": st.Page(PAGES_DIR / "simulation.py", title="Simulation",
                              icon=":material/query_stats:"),
        "experiments": st.Page(PAGES_DIR / "experiments.py", title="Experiments",
                               icon=":material/science:"),
        "accounts": st.Page(PAGES_DIR / "accounts.py", title="Accounts",
                            icon=":material/group:"),
        "audit": st.Page(PAGES_DIR / "audit.py", title="Audit trail",
                         icon=":material/policy:"),
        "preview": st.Page(PAGES_DIR / "preview.py", title="Preview",
                           icon=":material/queue_music:"),
    }


def _sidebar(user: auth.SignedIn) -> None:
    with st.sidebar:
        st.caption(f"Signed in as **{as_markdown(user.display_name)}** · {user.role}")
        if st.button("Sign out", key="sign_out", icon=":material/logout:"):
            auth.sign_out()
            st.rerun()


def run() -> None:
    st.set_page_config(page_title="Prompt Workbench", page_icon=":material/tune:", layout="wide")
    try:
        check_schema(resources.engine())
    except DatabaseError as exc:
        st.error(f"The database is not ready: {exc}")
        st.stop()
    user = auth.current()
    if user is None:
        st.navigation([st.Page(PAGES_DIR / "sign_in.py", title="Sign in")],
                      position="hidden").run()
        return
    pages = _pages()
    visible = [pages[name] for name in PAGES_BY_ROLE.get(user.role, ("home",))]
    _sidebar(user)
    st.navigation(visible).run()


run()
