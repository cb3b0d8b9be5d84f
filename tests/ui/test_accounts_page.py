"""Accounts in the app: the Accounts page for admins and leads, and sessions that end at the next
request when they idle too long, the account is disabled or its password reset, and that follow
a changed role at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from labeling.project import accounts as svc
from labeling.project.authz import Operator
from storage.db import make_engine
from tests.factories import add_team, shown, signed_in_app

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
CLI = Operator("cli:test")
SEEN = "signed_in_seen_at"  # app.auth keeps the time of the session's last request here
pytestmark = pytest.mark.ui


@pytest.fixture
def engine(sqlite_env):
    engine = make_engine(sqlite_env)
    add_team(engine)
    return engine


def _signed_in(name: str) -> AppTest:
    at = signed_in_app(MAIN, name, f"{name}-password")
    assert not at.exception and at.title[0].value == "Project overview"
    return at


def _signed_out(at: AppTest, message: str) -> None:
    assert not at.exception
    assert at.title[0].value == "Prompt Workbench"  # the sign-in page
    assert message in at.warning[0].value
    assert "signed_in" not in at.session_state


def _accounts_page(name: str) -> AppTest:
    at = _signed_in(name)
    at.switch_page("app_pages/accounts.py").run()
    assert not at.exception and at.title[0].value == "Accounts"
    return at


def _manage(at: AppTest, username: str) -> AppTest:
    at.selectbox(key="manage_account").select(username)
    return at.run()


def test_an_idle_session_is_signed_out_at_its_next_request(engine, monkeypatch):
    monkeypatch.setenv("WORKBENCH_SESSION_IDLE_MINUTES", "5")
    at = _signed_in("ana")
    at.session_state[SEEN] = datetime.now(UTC) - timedelta(minutes=4)
    at.run()
    assert at.title[0].value == "Project overview"  # 4 minutes idle: still signed in
    at.session_state[SEEN] = datetime.now(UTC) - timedelta(minutes=6)
    at.run()
    _signed_out(at, "signed out after 5 minutes without activity")


def test_the_idle_time_defaults_to_an_hour(engine):
    at = _signed_in("ana")
    at.session_state[SEEN] = datetime.now(UTC) - timedelta(minutes=59)
    at.run()
    assert at.title[0].value == "Project overview"
    at.session_state[SEEN] = datetime.now(UTC) - timedelta(minutes=61)
    at.run()
    _signed_out(at, "after 60 minutes")


def test_a_disabled_account_is_signed_out_at_its_next_request(engine):
    at = _signed_in("ana")
    svc.disable_account(engine=engine, actor=CLI, username="ana")
    at.run()
    _signed_out(at, "your account has been disabled")
    at.text_input(key="sign_in_username").input("ana")
    at.text_input(key="sign_in_password").input("ana-password")
    at.button(key="sign_in").click()
    at.run()
    assert "This account is disabled" in at.error[0].value


def test_a_reset_password_ends_open_sessions(engine):
    at = _signed_in("ana")
    svc.reset_password(engine=engine, actor=CLI, username="ana", password="brand-new-pw")
    at.run()
    _signed_out(at, "your password was reset")


def test_a_new_role_shows_its_pages_at_the_next_request(engine):
    at = _signed_in("ana")
    with pytest.raises(ValueError, match="Known pages"):
        at.switch_page("app_pages/accounts.py")
    svc.set_role(engine=engine, actor=CLI, username="ana", role="lead")
    at.run()  # the next request, no new sign-in
    assert "lead" in at.sidebar.caption[0].value
    at.switch_page("app_pages/accounts.py").run()
    assert at.title[0].value == "Accounts"
    svc.set_role(engine=engine, actor=CLI, username="ana", role="rater")
    at.run()  # still on the Accounts page: refused now
    assert not at.exception
    assert at.title[0].value != "Accounts"
    assert "rater" in at.sidebar.caption[0].value
    with pytest.raises(ValueError, match="Known pages"):
        at.switch_page("app_pages/accounts.py")


def test_sign_in_locks_after_wrong_passwords_and_says_until_when(engine, monkeypatch):
    monkeypatch.setenv("WORKBENCH_LOCKOUT_FAILURES", "2")
    monkeypatch.setenv("WORKBENCH_LOCKOUT_MINUTES", "30")
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    for password in ("guess-one", "guess-two", "ana-password"):
        at.text_input(key="sign_in_username").input("ana")
        at.text_input(key="sign_in_password").input(password)
        at.button(key="sign_in").click()
        at.run()
    assert not at.exception
    assert at.title[0].value == "Prompt Workbench"
    [locked] = [a.locked_until for a in svc.list_accounts(engine=engine, actor=CLI)
                if a.username == "ana"]
    assert f"locked after too many wrong passwords until {locked:%Y-%m-%d %H:%M} UTC" \
        in shown(at.error[0].value)
    assert timedelta(minutes=29) < locked - datetime.now(UTC) <= timedelta(minutes=30)


def test_an_admin_creates_re_roles_disables_enables_and_resets(engine):
    at = _accounts_page("ada")
    at.text_input(key="new_username").input("mia")
    at.selectbox(key="new_role").select("admin")
    at.text_input(key="new_password").input("mia-password")
    at.button(key="create_account").click()
    at.run()
    assert "Created `mia` (admin)" in at.success[0].value
    mia = next(a for a in svc.list_accounts(engine=engine, actor=CLI) if a.username == "mia")
    _manage(at, "mia")
    at.selectbox(key=f"manage_role_{mia.id}").select("reviewer")
    at.button(key="change_role").click()
    at.run()
    assert "`mia` is now a reviewer" in at.success[0].value
    at.button(key="disable_account").click()
    at.run()
    assert "Disabled `mia`" in at.success[0].value
    assert not next(a for a in svc.list_accounts(engine=engine, actor=CLI)
                    if a.username == "mia").active
    at.button(key="enable_account").click()
    at.run()
    assert "`mia` can sign in again" in at.success[0].value
    at.text_input(key="reset_password_new").input("mias-new-password")
    at.text_input(key="reset_password_repeat").input("mias-new-password")
    at.button(key="reset_password").click()
    at.run()
    assert not at.exception
    assert "New password set for `mia`" in at.success[0].value
    assert svc.authenticate(engine=engine, username="mia", password="mias-new-password").role \
        == "reviewer"


def test_mismatched_new_passwords_change_nothing(engine):
    at = _manage(_accounts_page("ada"), "ana")
    at.text_input(key="reset_password_new").input("first-password")
    at.text_input(key="reset_password_repeat").input("other-password")
    at.button(key="reset_password").click()
    at.run()
    assert "The two passwords differ" in at.error[0].value
    assert svc.authenticate(engine=engine, username="ana", password="ana-password")


def test_the_last_admin_cannot_disable_themselves_in_the_page(engine):
    at = _manage(_accounts_page("ada"), "ada")
    at.button(key="disable_account").click()
    at.run()
    assert not at.exception
    assert "Ada is the last active admin: make another account admin first" \
        in shown(at.error[0].value)
    assert _signed_in("ada")


def test_a_lead_is_offered_no_admin_role_and_cannot_change_an_admin(engine):
    at = _accounts_page("leo")
    assert "admin" not in at.selectbox(key="new_role").options
    _manage(at, "ada")
    assert "Only an admin changes an admin's account." in [c.value for c in at.caption]
    assert not [b for b in at.button if b.key in ("disable_account", "change_role")]
    _manage(at, "ana")
    ana = next(a for a in svc.list_accounts(engine=engine, actor=CLI) if a.username == "ana")
    assert "admin" not in at.selectbox(key=f"manage_role_{ana.id}").options
    at.selectbox(key=f"manage_role_{ana.id}").select("reviewer")
    at.button(key="change_role").click()
    at.run()
    assert "`ana` is now a reviewer" in at.success[0].value
