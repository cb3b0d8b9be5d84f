"""Every page against every role, on the demo project: the navigation offers a page only to the
roles designed for it, and the page itself refuses anyone else (a user who reaches it by its
address), while the roles allowed see it render without an error.

The design is written out here, not read from the code, so a change of who sees what must change
this table too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.auth import SignedIn
from app.main import PAGE_CAPABILITY, pages_for
from labeling.project import accounts
from tests.authz.roles import EVERYONE, LABELERS, LEADS, LEADS_ADMINS, REVIEWERS, ROLES
from tests.factories import CLI, demo_copy, demo_database

PAGES = Path(__file__).resolve().parents[2] / "app" / "app_pages"
DESIGN = {
    "home": EVERYONE, "preview": EVERYONE,
    "label": LABELERS, "history": LABELERS,
    "triage": REVIEWERS, "adjudicate": REVIEWERS, "safety_rules": REVIEWERS,
    "quality": LEADS_ADMINS, "models": LEADS_ADMINS, "task_settings": LEADS_ADMINS,
    "accounts": LEADS_ADMINS, "audit": LEADS_ADMINS,
    "simulation": LEADS, "experiments": LEADS,
}
ACCOUNT_OF = {"rater": "ana", "reviewer": "rosa", "lead": "leo", "admin": "ada"}
pytestmark = [pytest.mark.ui, pytest.mark.slow(seconds=100)]


def test_every_page_file_has_a_designed_row():
    files = {p.stem for p in PAGES.glob("*.py") if p.stem not in ("__init__", "sign_in")}
    assert files == set(DESIGN) == set(PAGE_CAPABILITY)


@pytest.mark.parametrize("role", ROLES)
def test_the_navigation_offers_each_role_its_designed_pages(role):
    assert set(pages_for(role)) == {page for page, roles in DESIGN.items() if role in roles}
    assert pages_for("visitor") == ()


@pytest.fixture
def demo(tmp_path_factory, tmp_path, monkeypatch):
    engine = demo_copy(demo_database(tmp_path_factory), tmp_path, monkeypatch)
    accounts.create_account(engine=engine, username="ada", password="ada-password",
                            role="admin", actor=CLI)
    people = {a.username: a for a in accounts.list_accounts(engine=engine, actor=CLI)}
    engine.dispose()
    return people


def _as(account) -> SignedIn:
    return SignedIn(id=account.id, username=account.username,
                    display_name=account.display_name, role=account.role,
                    session_version=account.session_version)


@pytest.mark.parametrize("page", sorted(DESIGN))
def test_each_page_renders_for_its_roles_and_refuses_the_others(page, demo):
    for role in ROLES:
        at = AppTest.from_file(str(PAGES / f"{page}.py"), default_timeout=90)
        at.session_state["signed_in"] = _as(demo[ACCOUNT_OF[role]])
        at.session_state["signed_in_seen_at"] = datetime.now(UTC)
        at.run()
        assert not at.exception, (page, role, at.exception)
        refusals = [e.value for e in at.error if e.value.startswith("This page is for")]
        if role in DESIGN[page]:
            assert not refusals and not at.error, (page, role, [e.value for e in at.error])
            assert at.title, (page, role)
        else:
            assert refusals, (page, role)
            assert not at.title, (page, role)


def test_no_script_shows_a_stray_string():
    """Streamlit's magic prints a bare string statement in a script (the entry point, each
    page): only the module docstring may be one."""
    import ast

    for path in [PAGES.parent / "main.py", *PAGES.glob("*.py")]:
        body = ast.parse(path.read_text()).body
        stray = [node.lineno for node in body[1:] if isinstance(node, ast.Expr)
                 and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)]
        assert stray == [], f"{path.name}: bare strings at lines {stray}"
