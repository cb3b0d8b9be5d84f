"""Account services: who may create, disable, enable, re-role and reset which account; every
change audited by the actor's id; lockout after wrong passwords, with the clock injected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from labeling.exceptions import AccountError, AuthenticationError
from labeling.project import accounts as svc
from labeling.project.accounts import (
    AccountLockedError,
    SessionEndedError,
)
from labeling.project.authz import Operator, PermissionDenied
from storage.db import session_scope
from storage.models import AuditEvent
from tests.factories import snapshot

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
CLI = Operator("cli:root")


@pytest.fixture
def people(engine):
    """An admin, a lead and a rater, created by the console operator."""
    made = {name: svc.create_account(engine=engine, username=name, password=f"{name}-password",
                                     role=role, actor=CLI)
            for name, role in (("ada", "admin"), ("leo", "lead"), ("ana", "rater"))}
    return made


def _events(engine, action: str) -> list[AuditEvent]:
    with session_scope(engine) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)
                                 .order_by(AuditEvent.id)))


def _role(engine, username: str) -> str:
    return next(a.role for a in svc.list_accounts(engine=engine, actor=CLI)
                if a.username == username)


def test_an_admin_changes_every_part_of_an_account_and_each_change_is_audited(engine, people):
    ada = people["ada"]
    mia = svc.create_account(engine=engine, username="Mia", password="mia-password",
                             role="reviewer", display_name="Mia R.", actor=ada)
    assert (mia.username, mia.role, mia.active) == ("mia", "reviewer", True)
    assert svc.set_role(engine=engine, actor=ada, username="mia", role="lead").role == "lead"
    assert not svc.disable_account(engine=engine, actor=ada, username="mia").active
    with pytest.raises(AuthenticationError, match="disabled"):
        svc.authenticate(engine=engine, username="mia", password="mia-password")
    assert svc.enable_account(engine=engine, actor=ada, username="mia").active
    svc.reset_password(engine=engine, actor=ada, username="mia", password="a-new-password")
    with pytest.raises(AuthenticationError, match="wrong username or password"):
        svc.authenticate(engine=engine, username="mia", password="mia-password")
    assert svc.authenticate(engine=engine, username="mia", password="a-new-password").id == mia.id

    expected = {"account.create": ({}, {"username": "mia", "display_name": "Mia R.",
                                        "role": "reviewer", "active": True}),
                "account.role": ({"role": "reviewer"}, {"role": "lead"}),
                "account.disable": ({"active": True}, {"active": False}),
                "account.enable": ({"active": False}, {"active": True}),
                "account.reset_password": ({"session_version": 1},
                                           {"session_version": 2, "sessions_ended": True})}
    for action, (before, after) in expected.items():
        [event] = [e for e in _events(engine, action) if e.entity_id == str(mia.id)]
        assert event.actor == str(ada.id)  # the acting account's id, not its name
        assert (event.before or {}, event.after) == (before, after)
        assert event.entity == "account"


def test_a_lead_manages_non_admins_but_never_grants_or_touches_admin(engine, people):
    leo, ada = people["leo"], people["ada"]
    assert svc.set_role(engine=engine, actor=leo, username="ana", role="reviewer").role \
        == "reviewer"
    before = snapshot(engine)
    refusals = [
        (lambda: svc.create_account(engine=engine, username="eve", password="eve-password",
                                    role="admin", actor=leo), "only an admin can grant"),
        (lambda: svc.set_role(engine=engine, actor=leo, username="ana", role="admin"),
         "only an admin can grant"),
        (lambda: svc.set_role(engine=engine, actor=leo, username="leo", role="admin"),
         "only an admin can grant"),
        (lambda: svc.disable_account(engine=engine, actor=leo, username="ada"),
         "only an admin can change an admin"),
        (lambda: svc.reset_password(engine=engine, actor=leo, username="ada",
                                    password="taken-over-pw"), "only an admin can change"),
        (lambda: svc.set_role(engine=engine, actor=leo, username="ada", role="rater"),
         "only an admin can change"),
    ]
    for call, message in refusals:
        with pytest.raises(PermissionDenied, match=message):
            call()
    assert snapshot(engine) == before
    assert svc.authenticate(engine=engine, username="ada", password="ada-password").id == ada.id


def test_raters_reviewers_and_disabled_accounts_change_nothing(engine, people):
    ana = people["ana"]
    before = snapshot(engine)
    with pytest.raises(PermissionDenied, match="only leads and admins"):
        svc.disable_account(engine=engine, actor=ana, username="leo")
    with pytest.raises(PermissionDenied, match="only leads and admins"):
        svc.create_account(engine=engine, username="zed", password="zed-password",
                           role="rater", actor=ana)
    assert snapshot(engine) == before
    svc.disable_account(engine=engine, actor=people["ada"], username="leo")
    with pytest.raises(PermissionDenied, match="disabled or no longer exists"):
        svc.set_role(engine=engine, actor=people["leo"], username="ana", role="reviewer")


def test_the_role_is_read_now_not_at_sign_in(engine, people):
    leo = people["leo"]  # an AccountInfo from when leo was a lead
    svc.set_role(engine=engine, actor=people["ada"], username="leo", role="rater")
    with pytest.raises(PermissionDenied, match="only leads and admins"):
        svc.disable_account(engine=engine, actor=leo, username="ana")
    svc.set_role(engine=engine, actor=people["ada"], username="leo", role="admin")
    assert svc.create_account(engine=engine, username="bea", password="bea-password",
                              role="admin", actor=leo).role == "admin"


def test_the_last_active_admin_stays(engine, people):
    ada = people["ada"]
    before = snapshot(engine)
    with pytest.raises(AccountError, match="ada is the last active admin"):
        svc.disable_account(engine=engine, actor=ada, username="ada")
    with pytest.raises(AccountError, match="ada is the last active admin"):
        svc.set_role(engine=engine, actor=ada, username="ada", role="lead")
    with pytest.raises(AccountError, match="last active admin"):
        svc.disable_account(engine=engine, actor=CLI, username="ada")
    assert snapshot(engine) == before
    svc.set_role(engine=engine, actor=ada, username="leo", role="admin")
    assert svc.set_role(engine=engine, actor=ada, username="ada", role="lead").role == "lead"
    # leo is the only admin now; a disabled admin does not count
    svc.create_account(engine=engine, username="bea", password="bea-password", role="admin",
                       actor=CLI)
    svc.disable_account(engine=engine, actor=CLI, username="bea")
    with pytest.raises(AccountError, match="leo is the last active admin"):
        svc.disable_account(engine=engine, actor=CLI, username="leo")


@pytest.mark.parametrize(("call", "message"), [
    (lambda e, a: svc.disable_account(engine=e, actor=a, username="nobody"),
     "no account named 'nobody'"),
    (lambda e, a: svc.enable_account(engine=e, actor=a, username="nobody"), "no account named"),
    (lambda e, a: svc.set_role(engine=e, actor=a, username="nobody", role="rater"),
     "no account named"),
    (lambda e, a: svc.reset_password(engine=e, actor=a, username="nobody",
                                     password="long-enough"), "no account named"),
    (lambda e, a: svc.set_role(engine=e, actor=a, username="ana", role="boss"),
     "unknown role 'boss'; valid roles: rater, reviewer, lead, admin"),
    (lambda e, a: svc.create_account(engine=e, username="zed", password="zed-password",
                                     role="boss", actor=a), "unknown role"),
    (lambda e, a: svc.set_role(engine=e, actor=a, username="ana", role="rater"),
     "ana is a rater already"),
    (lambda e, a: svc.enable_account(engine=e, actor=a, username="ana"),
     "enabled and not locked already"),
    (lambda e, a: svc.reset_password(engine=e, actor=a, username="ana", password="short"),
     "at least 8"),
    (lambda e, a: svc.create_account(engine=e, username="ana", password="ana-password",
                                     role="rater", actor=a), "exists already"),
    (lambda e, a: svc.create_account(engine=e, username="no spaces", password="long-enough",
                                     role="rater", actor=a), "username must be"),
])
def test_bad_requests_are_refused_and_change_nothing(engine, people, call, message):
    before = snapshot(engine)
    with pytest.raises(AccountError, match=message):
        call(engine, people["ada"])
    assert snapshot(engine) == before


def test_disabling_twice_is_refused(engine, people):
    svc.disable_account(engine=engine, actor=CLI, username="ana")
    with pytest.raises(AccountError, match="ana is disabled already"):
        svc.disable_account(engine=engine, actor=CLI, username="ana")


def _wrong(engine, name: str, at: datetime, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(AuthenticationError) as refused:
            svc.authenticate(engine=engine, username=name, password="not-it-at-all", now=at)
        assert str(refused.value) == "wrong username or password"


def test_five_wrong_passwords_lock_the_account_until_the_time_is_up(engine, people):
    _wrong(engine, "ana", T0, times=4)
    assert svc.authenticate(engine=engine, username="ana", password="ana-password", now=T0)
    _wrong(engine, "ana", T0, times=4)  # the count started again after the success
    assert not _events(engine, "account.lock")
    _wrong(engine, "ana", T0 + timedelta(minutes=1))
    [lock] = _events(engine, "account.lock")
    until = T0 + timedelta(minutes=16)
    assert lock.actor == "system" and lock.entity_id == str(people["ana"].id)
    assert lock.after == {"locked_until": until.isoformat(timespec="seconds"),
                          "failed_sign_ins": 5}
    with pytest.raises(AccountLockedError, match="locked .* until 2026-12-03 09:16 UTC") as locked:
        svc.authenticate(engine=engine, username="ana", password="ana-password",
                         now=T0 + timedelta(minutes=15))
    assert locked.value.until == until
    # a locked account checks no password, so guessing does not go on
    with pytest.raises(AccountLockedError):
        svc.authenticate(engine=engine, username="ana", password="not-it-at-all",
                         now=T0 + timedelta(minutes=2))
    assert [a.locked_until for a in svc.list_accounts(engine=engine, actor=CLI, now=T0)
            if a.username == "ana"] == [until]
    ana = svc.authenticate(engine=engine, username="ana", password="ana-password",
                           now=until + timedelta(seconds=1))
    assert ana.locked_until is None
    [unlock] = _events(engine, "account.unlock")
    assert unlock.actor == "system" and unlock.after["reason"] == "the lockout ended"
    _wrong(engine, "ana", until + timedelta(minutes=1), times=4)  # a fresh count of five
    assert svc.authenticate(engine=engine, username="ana", password="ana-password",
                            now=until + timedelta(minutes=1))


def test_unknown_names_get_the_wrong_password_answer_and_never_lock(engine, people):
    _wrong(engine, "nobody", T0, times=7)
    assert not _events(engine, "account.lock")


def test_the_lockout_follows_its_settings(engine, people):
    _wrong(engine, "ana", T0, times=1)
    with pytest.raises(AuthenticationError):
        svc.authenticate(engine=engine, username="ana", password="nope-nope", now=T0,
                         max_failures=2, lockout=timedelta(minutes=1))
    with pytest.raises(AccountLockedError, match="09:01 UTC"):
        svc.authenticate(engine=engine, username="ana", password="ana-password", now=T0)


def test_an_admin_lifts_a_lockout_and_it_is_audited(engine, people):
    now = datetime.now(UTC)
    _wrong(engine, "ana", now, times=5)
    assert svc.enable_account(engine=engine, actor=people["ada"], username="ana",
                              now=now).locked_until is None
    [unlock] = _events(engine, "account.unlock")
    assert unlock.actor == str(people["ada"].id) and unlock.after["reason"] == \
        "enabled by an admin"
    assert not _events(engine, "account.enable")  # it was never disabled
    _wrong(engine, "ana", now, times=5)
    svc.reset_password(engine=engine, actor=people["leo"], username="ana",
                       password="fresh-password", now=now)
    assert svc.authenticate(engine=engine, username="ana", password="fresh-password")
    assert [e.after["reason"] for e in _events(engine, "account.unlock")] == [
        "enabled by an admin", "password reset"]


def test_a_session_ends_when_the_account_is_disabled_or_its_password_reset(engine, people):
    ana = svc.authenticate(engine=engine, username="ana", password="ana-password")
    assert svc.session_account(engine=engine, account_id=ana.id,
                               session_version=ana.session_version).role == "rater"
    svc.set_role(engine=engine, actor=CLI, username="ana", role="reviewer")
    assert svc.session_account(engine=engine, account_id=ana.id,
                               session_version=ana.session_version).role == "reviewer"
    svc.reset_password(engine=engine, actor=CLI, username="ana", password="new-password")
    with pytest.raises(SessionEndedError, match="password was reset"):
        svc.session_account(engine=engine, account_id=ana.id, session_version=ana.session_version)
    ana = svc.authenticate(engine=engine, username="ana", password="new-password")
    svc.disable_account(engine=engine, actor=CLI, username="ana")
    with pytest.raises(SessionEndedError, match="disabled"):
        svc.session_account(engine=engine, account_id=ana.id, session_version=ana.session_version)
    svc.enable_account(engine=engine, actor=CLI, username="ana")
    with pytest.raises(SessionEndedError, match="sign in again"):  # not resumed by enabling
        svc.session_account(engine=engine, account_id=ana.id, session_version=ana.session_version)
    with pytest.raises(SessionEndedError, match="no longer exists"):
        svc.session_account(engine=engine, account_id=999, session_version=0)


def test_the_console_is_audited_by_its_name(engine, people):
    svc.disable_account(engine=engine, actor=CLI, username="ana")
    [event] = _events(engine, "account.disable")
    assert event.actor == "cli:root"
