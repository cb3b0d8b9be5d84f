"""Who may do what: every service function names the capability it needs, and checks the acting
account's current role before it touches any data.

A service function is a public function of ``labeling``, ``safety`` or ``routing`` that takes the
database ``engine`` and opens its own unit of work: the functions the pages and the command line
call. Each is wrapped in ``requires(capability)``, takes the acting account as the keyword
argument ``actor`` (an object with an account ``id``, such as the app's ``SignedIn``, or an
``Operator``), reads that account's role again from the database on every call (so a disabled
account or a changed role takes effect on the next request, not the next sign-in), and raises
``PermissionDenied`` with a message for the user when the role lacks the capability. Functions
that take a ``session`` work inside a caller's unit of work: only services reach them, never the
app (``tests/unit/test_authorisation.py`` checks both rules for every module).

Who holds what is one table, ``ROLE_CAPABILITIES``; the app's navigation shows a page only to the
roles holding the page's capability, so the menu and the services cannot disagree.

An ``Operator`` acts with the database's own credentials (the person at the command line, audited
as ``cli:<user>``, or the system itself): trusted with every capability, as whoever holds the
database's password already is. Pages never construct one (a test scans them).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ParamSpec, Protocol, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session

from labeling.exceptions import LabelingError
from storage.db import session_scope
from storage.models import Role
from storage.repositories import accounts as account_repo


class PermissionDenied(LabelingError):
    """The acting account may not do this; the message says why, for the user."""


class Capability(StrEnum):
    """What a service function needs; the values read as the end of "only ... may <value>"."""

    read_tasks = "see the tasks, their settings and guidelines"
    label = "label items"
    preview = "use the live preview"
    adjudicate = "adjudicate disagreements"
    triage = "triage flagged outputs"
    edit_safety = "change the safety rules and policy"
    view_quality = "see label quality, agreement and every rater's labels"
    manage_tasks = "create tasks, import, export and change task settings"
    manage_models = "train, promote and roll back models"
    edit_lexicon = "change the slot lexicon"
    manage_catalogue = "import track catalogues"
    run_experiments = "evaluate and promote ranker configurations"
    simulate = "run simulations"
    manage_accounts = "manage accounts"
    read_audit = "read the audit trail"
    privacy = "export, erase and expire end users' data"


C = Capability
_EVERYONE = {C.read_tasks, C.preview}
_RATER = _EVERYONE | {C.label}
_REVIEWER = _RATER | {C.adjudicate, C.triage, C.edit_safety}
_LEAD = _REVIEWER | {C.view_quality, C.manage_tasks, C.manage_models, C.edit_lexicon,
                     C.manage_catalogue, C.run_experiments, C.simulate, C.manage_accounts,
                     C.read_audit}
_ADMIN = _EVERYONE | {C.view_quality, C.manage_tasks, C.manage_models, C.manage_catalogue,
                      C.manage_accounts, C.read_audit, C.privacy}

ROLE_CAPABILITIES: dict[Role, frozenset[Capability]] = {
    Role.rater: frozenset(_RATER),
    Role.reviewer: frozenset(_REVIEWER),
    Role.lead: frozenset(_LEAD),
    Role.admin: frozenset(_ADMIN),
}
"""Raters label; reviewers also adjudicate, triage and keep the safety rules; leads run the
project (quality, tasks, models, lexicon, catalogue, experiments, accounts, audit); admins run
the installation (accounts, audit, privacy, tasks and models) but do not label, adjudicate or
triage, so the people who judge items are the ones trained on the guideline."""


@dataclass(frozen=True)
class Operator:
    """Someone acting with the database's own credentials rather than a signed-in account: the
    person at the command line (``cli:<user>``) or the system itself (``system``, ``demo``).
    Trusted with every capability; audited by this name."""

    name: str


SYSTEM = Operator("system")


class AccountRef(Protocol):
    """Anything naming a signed-in account by id (``AccountInfo``, the app's ``SignedIn``)."""

    @property
    def id(self) -> int: ...


Actor = Operator | AccountRef


@dataclass(frozen=True)
class ActingAccount:
    """An account named by id alone: the simulated raters of a simulation, and tests. Its role is
    read from the database like any other actor's."""

    id: int


@dataclass(frozen=True)
class Principal:
    """The actor as the database has it now: its audit name (the account id, or the operator's
    name), its account id (None for an operator) and its current role (None for an operator,
    who holds every capability)."""

    audit_name: str
    account_id: int | None
    role: Role | None

    def may(self, capability: Capability) -> bool:
        return self.role is None or capability in ROLE_CAPABILITIES[self.role]


def roles_with(capability: Capability) -> tuple[str, ...]:
    """The roles holding ``capability``, least privileged first."""
    return tuple(role.value for role in Role if capability in ROLE_CAPABILITIES[role])


def may(role: str, capability: Capability) -> bool:
    """Whether accounts of ``role`` hold ``capability`` (for the navigation)."""
    return role in Role.__members__ and capability in ROLE_CAPABILITIES[Role(role)]


def audit_name(actor: Actor) -> str:
    """How the audit log records ``actor``: the account id, or the operator's name."""
    if isinstance(actor, Operator):
        return actor.name
    return str(_account_id(actor))


def _account_id(actor: object) -> int:
    account_id = getattr(actor, "id", None)
    if isinstance(account_id, bool) or not isinstance(account_id, int):
        raise TypeError(f"actor must be an Operator or carry an account id, not {actor!r}")
    return account_id


def principal(session: Session, actor: Actor) -> Principal:
    """``actor`` as the database has it now; refused when the account is gone or disabled."""
    if isinstance(actor, Operator):
        return Principal(audit_name=actor.name, account_id=None, role=None)
    account_id = _account_id(actor)
    account = account_repo.get(session=session, account_id=account_id)
    if account is None or not account.active:
        raise PermissionDenied("your account is disabled or no longer exists")
    return Principal(audit_name=str(account.id), account_id=account.id, role=Role(account.role))


def check(session: Session, actor: Actor, capability: Capability) -> Principal:
    """``actor`` as the database has it now, if it holds ``capability``; else ``PermissionDenied``
    naming the roles that do."""
    who = principal(session, actor)
    if not who.may(capability):
        allowed = " and ".join(f"{role}s" for role in roles_with(capability))
        raise PermissionDenied(f"only {allowed} may {capability.value}")
    return who


P = ParamSpec("P")
R = TypeVar("R")


def requires(capability: Capability) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Make a service function check ``actor`` (a keyword-only parameter) for ``capability``
    before its body runs. The check reads the account in the function's own ``session`` when it
    takes one, else in a short unit of work of its ``engine``. The wrapped function keeps its
    signature and carries ``capability`` as ``__capability__``; it calls the body through
    ``__wrapped__``, which the authorisation tests replace to see whether the check let a call
    through."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(fn)
        parameter = signature.parameters.get("actor")
        if parameter is None or parameter.kind is not inspect.Parameter.KEYWORD_ONLY \
                or parameter.default is not inspect.Parameter.empty:
            raise TypeError(f"{fn.__qualname__} must take a required keyword-only 'actor'")
        if "engine" not in signature.parameters and "session" not in signature.parameters:
            raise TypeError(f"{fn.__qualname__} must take the engine or a session")

        @functools.wraps(fn)
        def checked(*args: P.args, **kwargs: P.kwargs) -> R:
            arguments = signature.bind_partial(*args, **kwargs).arguments
            if "actor" not in arguments:
                raise TypeError(f"{fn.__qualname__} needs the acting account as actor=")
            session = arguments.get("session")
            if isinstance(session, Session):
                check(session, arguments["actor"], capability)
            else:
                engine: Engine = arguments["engine"]
                with session_scope(engine) as own:
                    check(own, arguments["actor"], capability)
            return checked.__wrapped__(*args, **kwargs)  # type: ignore[attr-defined]

        checked.__capability__ = capability  # type: ignore[attr-defined]
        return checked

    return decorate


def before_sign_in(fn: Callable[P, R]) -> Callable[P, R]:
    """Mark a service function that runs before anyone is signed in (signing in itself, and
    reading the account a browser session names): it has no actor to check."""
    fn.__before_sign_in__ = True  # type: ignore[attr-defined]
    return fn


def capability_of(fn: Any) -> Capability | None:
    return getattr(fn, "__capability__", None)
