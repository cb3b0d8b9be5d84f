"""Authorisation in the services: every service function against every role.

A service function is a public function of ``labeling``, ``safety`` or ``routing`` that takes the
database ``engine``. The tests find them all by walking the packages, so a new one fails here
until it checks a capability (``authz.requires``) and has a row in ``tests/authz/expected_*.py``
saying which roles it allows. Each is then called directly with an account of every role (and a
disabled account, and the command-line operator): allowed roles reach the body, refused ones get
``PermissionDenied`` and the body never runs. The body is stubbed through ``__wrapped__`` so the
matrix checks the gate alone; each service's own tests cover what the body does. Functions taking
a ``session`` run inside a caller's unit of work, and the app must never call them directly.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

from labeling.project import accounts
from labeling.project.authz import Operator, PermissionDenied, capability_of, roles_with
from storage.db import make_engine, migrate
from tests.authz import (
    expected_governance,
    expected_project_lifecycle,
    expected_queue_review,
    expected_safety_routing,
)
from tests.authz.roles import ROLES

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("labeling", "safety", "routing")
EXPECTED = {**expected_governance.EXPECTED, **expected_project_lifecycle.EXPECTED,
            **expected_queue_review.EXPECTED, **expected_safety_routing.EXPECTED}


def _modules():
    for package in PACKAGES:
        root = importlib.import_module(package)
        yield root
        for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
            yield importlib.import_module(info.name)


def _public_functions():
    for module in _modules():
        for name, fn in vars(module).items():
            if name.startswith("_") or not inspect.isfunction(fn):
                continue
            if inspect.unwrap(fn).__module__ != module.__name__:
                continue  # imported from elsewhere: counted where it is defined
            yield f"{module.__name__}.{name}", fn


def _takes(fn, name: str) -> bool:
    return name in inspect.signature(fn).parameters


SERVICES = {qualname: fn for qualname, fn in _public_functions() if _takes(fn, "engine")}
UNIT_OF_WORK = {qualname: fn for qualname, fn in _public_functions()
                if _takes(fn, "session") and not _takes(fn, "engine")}
CHECKED = {q: fn for q, fn in SERVICES.items() if not getattr(fn, "__before_sign_in__", False)}


def test_every_service_function_checks_a_capability():
    unchecked = sorted(q for q, fn in CHECKED.items() if capability_of(fn) is None)
    assert not unchecked, f"service functions without authz.requires: {unchecked}"


def test_only_signing_in_runs_before_sign_in():
    assert sorted(set(SERVICES) - set(CHECKED)) == [
        "labeling.project.accounts.authenticate", "labeling.project.accounts.session_account"]


def test_every_service_function_has_a_designed_row_and_no_row_is_stale():
    assert sorted(set(CHECKED) - set(EXPECTED)) == [], "add the new function's expected roles"
    assert sorted(set(EXPECTED) - set(CHECKED)) == [], "rows for functions that are gone"


def test_the_capability_of_each_service_gives_the_designed_roles():
    wrong = {q: (sorted(roles_with(capability_of(fn))), sorted(EXPECTED[q]))
             for q, fn in CHECKED.items() if capability_of(fn) is not None and q in EXPECTED
             and set(roles_with(capability_of(fn))) != EXPECTED[q]}
    assert not wrong, f"(gives, designed): {wrong}"


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('authz') / 'authz.db'}"
    engine = make_engine(url)
    migrate(engine)
    cli = Operator("cli:test")
    people = {role: accounts.create_account(engine=engine, username=role, role=role,
                                            password=f"{role}-password", actor=cli)
              for role in ROLES}
    people["disabled"] = accounts.create_account(engine=engine, username="gone", role="lead",
                                                 password="gone-password", actor=cli)
    accounts.disable_account(engine=engine, actor=cli, username="gone")
    return engine, people


class _Reached(Exception):
    """Raised by the stubbed body: the check let the call through."""


def _outcome(fn, engine, actor, monkeypatch) -> str:
    def body(*args, **kwargs):
        raise _Reached

    monkeypatch.setattr(fn, "__wrapped__", body)
    try:
        fn(engine=engine, actor=actor)
    except _Reached:
        return "allowed"
    except PermissionDenied:
        return "refused"
    return "no check"


@pytest.mark.parametrize("qualname", sorted(CHECKED))
def test_each_role_is_allowed_or_refused_as_designed(qualname, team, monkeypatch):
    engine, people = team
    fn = CHECKED[qualname]
    got = {role: _outcome(fn, engine, people[role], monkeypatch) for role in ROLES}
    designed = {role: "allowed" if role in EXPECTED.get(qualname, ()) else "refused"
                for role in ROLES}
    assert got == designed
    assert _outcome(fn, engine, people["disabled"], monkeypatch) == "refused"
    assert _outcome(fn, engine, Operator("cli:test"), monkeypatch) == "allowed"


def test_a_refusal_names_the_roles_that_may(team):
    from labeling.project import audit_log

    engine, people = team
    with pytest.raises(PermissionDenied, match="only leads and admins may read the audit trail"):
        audit_log.search(engine=engine, actor=people["rater"], flt=audit_log.AuditFilter())


def test_a_name_is_not_an_actor(team):
    from labeling.project import audit_log

    engine, _ = team
    with pytest.raises(TypeError, match="actor must be an Operator or carry an account id"):
        audit_log.search(engine=engine, actor="lead", flt=audit_log.AuditFilter())


def _app_references() -> set[str]:
    """Every ``module.function`` of the domain packages the app's code names."""
    found: set[str] = set()
    for path in (ROOT / "app").rglob("*.py"):
        tree = ast.parse(path.read_text())
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module \
                    and node.module.split(".")[0] in PACKAGES:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    aliases[alias.asname or alias.name] = full
                    found.add(full)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in PACKAGES:
                        aliases[alias.asname or alias.name] = alias.name
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in aliases:
                found.add(f"{aliases[node.value.id]}.{node.attr}")
    return found


def test_the_app_never_calls_a_function_that_works_inside_a_callers_unit_of_work():
    assert UNIT_OF_WORK, "the walk found no session-level functions"
    assert sorted(set(UNIT_OF_WORK) & _app_references()) == []


def test_pages_and_components_never_act_as_an_operator():
    for folder in ("app_pages", "components"):
        for path in (ROOT / "app" / folder).rglob("*.py"):
            text = path.read_text()
            assert "Operator" not in text and "SYSTEM" not in text, path
