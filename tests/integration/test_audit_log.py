"""Searching the audit trail: each filter alone and together, newest first, paging with a total,
bad filters refused, only leads and admins, and a CSV export that holds the filtered rows (and is
audited itself)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from labeling.project import accounts
from labeling.project import audit_log as svc
from labeling.project.audit_log import AuditFilter, AuditLogError
from labeling.project.authz import Operator, PermissionDenied
from storage.db import session_scope
from storage.models import AuditEvent

CLI = Operator("cli:test")
T0 = datetime(2020, 3, 1, 12, 0, tzinfo=UTC)
T_END = T0 + timedelta(days=10)


@pytest.fixture
def trail(engine):
    """Accounts ada (admin), leo (lead), ana (rater), and six audit rows a day apart."""
    ids = {name: accounts.create_account(engine=engine, username=name, password="password-1",
                                         role=role, actor=CLI).id
           for name, role in (("ada", "admin"), ("leo", "lead"), ("ana", "rater"))}
    rows = [
        (str(ids["leo"]), "label.submit", "label", {"value": "Mood"}),
        (str(ids["ada"]), "account.role", "account", {"role": "lead"}),
        ("system", "account.lock", "account", {"reason": "five wrong passwords"}),
        (str(ids["leo"]), "rules.change", "rule_list", {"phrase": 'say "café" =1+1'}),
        ("cli:ops", "privacy.erase", "end_user", {"items": 2}),
        (str(ids["ada"]), "accountx.other", "account", None),
    ]
    with session_scope(engine) as session:
        for day, (actor, action, entity, after) in enumerate(rows):
            session.add(AuditEvent(actor=actor, action=action, entity=entity, entity_id=str(day),
                                   before={"was": "old"} if day == 1 else None, after=after,
                                   created_at=T0 + timedelta(days=day)))
    return ids


def _actions(engine, caller=CLI, **filters) -> list[str]:
    page = svc.search(engine=engine, actor=caller, flt=AuditFilter(**filters), limit=500)
    assert page.total == len(page.entries)
    return [e.action for e in page.entries if e.action != "account.create"]


def test_every_row_newest_first_with_account_names(engine, trail):
    page = svc.search(engine=engine, actor=CLI, flt=AuditFilter(since=T0, until=T_END),
                      limit=10)
    assert [e.action for e in page.entries] == [
        "accountx.other", "privacy.erase", "rules.change", "account.lock", "account.role",
        "label.submit"]
    assert page.total == 6
    assert page.entries[0].actor == str(trail["ada"]) and page.entries[0].actor_name == "ada"
    assert page.entries[1].actor_name == "cli:ops"
    assert page.entries[4].before == '{"was": "old"}'


def test_a_window_from_start_to_end(engine, trail):
    assert _actions(engine, since=T0 + timedelta(days=1), until=T0 + timedelta(days=3)) == [
        "account.lock", "account.role"]
    naive = datetime(2020, 3, 5, 12, 0)  # taken as UTC
    assert _actions(engine, since=naive) == ["accountx.other", "privacy.erase"]
    assert _actions(engine, until=T0 + timedelta(hours=1)) == ["label.submit"]


def test_actor_by_username_or_raw_value(engine, trail):
    assert _actions(engine, actor="leo") == ["rules.change", "label.submit"]
    assert _actions(engine, actor="LEO ") == ["rules.change", "label.submit"]
    assert _actions(engine, actor="system") == ["account.lock"]
    assert _actions(engine, actor="cli:ops") == ["privacy.erase"]
    assert _actions(engine, actor="nobody") == []


def test_action_prefix_is_a_prefix_not_a_pattern(engine, trail):
    assert _actions(engine, since=T0, action="account.") == ["account.lock", "account.role"]
    assert _actions(engine, since=T0, action="account") == [
        "accountx.other", "account.lock", "account.role"]
    assert _actions(engine, since=T0, action="account_") == []  # '_' is not a wildcard
    assert _actions(engine, since=T0, action="%") == []


def test_entity_and_text_in_before_or_after(engine, trail):
    assert _actions(engine, since=T0, entity="account") == [
        "accountx.other", "account.lock", "account.role"]
    assert _actions(engine, text="MOOD") == ["label.submit"]  # any case
    assert _actions(engine, text="old") == ["account.role"]  # in before
    assert _actions(engine, text='"café"') == ["rules.change"]  # quotes and non-ASCII
    assert _actions(engine, text="wrong pass") == ["account.lock"]
    assert _actions(engine, text="100%") == []


def test_filters_combine(engine, trail):
    assert _actions(engine, since=T0, actor="ada", action="account.", entity="account") == [
        "account.role"]
    assert _actions(engine, actor="ada", text="lead") == ["account.role"]
    assert _actions(engine, actor="leo", entity="account") == []


def test_pages_of_rows_with_the_total(engine, trail):
    flt = AuditFilter(until=T_END)
    first = svc.search(engine=engine, actor=CLI, flt=flt, limit=4)
    second = svc.search(engine=engine, actor=CLI, flt=flt, limit=4, offset=4)
    assert (first.total, second.total, len(first.entries), len(second.entries)) == (6, 6, 4, 2)
    assert [e.action for e in second.entries] == ["account.role", "label.submit"]


@pytest.mark.parametrize(("filters", "limit", "offset", "message"), [
    ({"since": T0, "until": T0}, 10, 0, "ends before it starts"),
    ({}, 0, 0, "1 to 500"),
    ({}, 501, 0, "1 to 500"),
    ({}, 10, -1, "cannot be negative"),
    ({"text": "x" * 201}, 10, 0, "longer than 200"),
])
def test_bad_searches_are_refused(engine, trail, filters, limit, offset, message):
    with pytest.raises(AuditLogError, match=message):
        svc.search(engine=engine, actor=CLI, flt=AuditFilter(**filters), limit=limit,
                   offset=offset)


def test_only_leads_and_admins_read_it(engine, trail):
    for name in ("ada", "leo"):
        assert _actions(engine, _Ref(trail[name]), actor="system") == ["account.lock"]
    with pytest.raises(PermissionDenied, match="only leads and admins"):
        svc.search(engine=engine, actor=_Ref(trail["ana"]), flt=AuditFilter())
    with pytest.raises(PermissionDenied, match="only leads and admins"):
        svc.export_csv(engine=engine, actor=_Ref(trail["ana"]), flt=AuditFilter())
    accounts.disable_account(engine=engine, actor=CLI, username="leo")
    with pytest.raises(PermissionDenied, match="disabled"):
        svc.filter_choices(engine=engine, actor=_Ref(trail["leo"]))


def test_the_csv_holds_the_filtered_rows_and_the_export_is_audited(engine, trail):
    flt = AuditFilter(until=T_END, action="account.")
    body, rows, total = svc.export_csv(engine=engine, actor=_Ref(trail["ada"]), flt=flt)
    records = list(csv.DictReader(io.StringIO(body)))
    assert (rows, total) == (2, 2)
    assert [r["action"] for r in records] == ["account.lock", "account.role"]
    assert records[1]["actor_name"] == "ada" and records[1]["before"] == '{"was": "old"}'
    assert list(records[0]) == list(svc.CSV_COLUMNS)
    [export] = [e for e in svc.search(engine=engine, actor=CLI, flt=AuditFilter(
        action="audit.export"), limit=10).entries]
    assert export.actor == str(trail["ada"])
    assert '"rows": 2' in export.after and '"action": "account."' in export.after


def test_a_formula_in_a_cell_is_shown_as_text(engine, trail):
    body, _, _ = svc.export_csv(engine=engine, actor=CLI, flt=AuditFilter(
        action="rules.", text="=1+1"))
    [record] = csv.DictReader(io.StringIO(body))
    assert record["after"] == '{"phrase": "say \\"café\\" =1+1"}'  # starts with '{': as is
    with session_scope(engine) as session:
        session.add(AuditEvent(actor="=HYPERLINK(1)", action="label.submit", entity="label"))
    body, _, _ = svc.export_csv(engine=engine, actor=CLI, flt=AuditFilter(actor="=HYPERLINK(1)"))
    [record] = csv.DictReader(io.StringIO(body))
    assert record["actor"] == "'=HYPERLINK(1)"


def test_filter_choices_name_accounts(engine, trail):
    actors, entities = svc.filter_choices(engine=engine, actor=CLI)
    assert {"ada", "leo", "system", "cli:ops", "cli:test"} <= set(actors)
    assert str(trail["ada"]) not in actors
    assert {"account", "label", "end_user", "rule_list"} <= set(entities)


class _Ref:
    def __init__(self, account_id: int) -> None:
        self.id = account_id
