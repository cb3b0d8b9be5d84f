"""Entry point: page config, sign-in, and navigation with the pages of the user's role."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

if __package__ in (None, ""):  # `streamlit run app/main.py` runs this file as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import auth, outage, resources  # noqa: E402
from app.components.untrusted import as_markdown  # noqa: E402
from labeling.project.authz import Capability, may  # noqa: E402
from storage.db import DatabaseError, DatabaseUnavailableError, check_schema  # noqa: E402

# The capability each page needs: a role sees the pages its capabilities open (authz's table),
# and each page checks it again (auth.require), as do the services it calls. (No bare string
# here: Streamlit's magic would print it on every page.)
PAGE_CAPABILITY = {
    "home": Capability.read_tasks, "label": Capability.label, "history": Capability.label,
    "quality": Capability.view_quality, "adjudicate": Capability.adjudicate,
    "triage": Capability.triage, "safety_rules": Capability.edit_safety,
    "models": Capability.manage_models, "task_settings": Capability.manage_tasks,
    "simulation": Capability.simulate, "experiments": Capability.run_experiments,
    "accounts": Capability.manage_accounts, "audit": Capability.read_audit,
    "preview": Capability.preview,
}
PAGE_ORDER = ("home", "label", "history", "triage", "adjudicate", "quality", "models", "preview",
              "task_settings", "safety_rules", "simulation", "experiments", "accounts", "audit")


def pages_for(role: str) -> tuple[str, ...]:
    return tuple(name for name in PAGE_ORDER if may(role, PAGE_CAPABILITY[name]))


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
    except DatabaseUnavailableError:
        outage.wait_for_database("nothing can be shown or saved")
    except DatabaseError as exc:
        st.error(f"The database is not ready: {exc}")
        st.stop()
    user = auth.current()
    if user is None:
        st.navigation([st.Page(PAGES_DIR / "sign_in.py", title="Sign in")],
                      position="hidden").run()
        return
    pages = _pages()
    visible = [pages[name] for name in pages_for(user.role)]
    _sidebar(user)
    st.navigation(visible).run()


run()
