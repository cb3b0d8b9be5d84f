"""Which ranker configuration the preview uses by default.

Without a promotion the router picks by intent (discovery prompts get ``discovery``, the rest
``balanced``). A lead promotes one of the bundled configurations (``ranker.CONFIGS``), usually
after an offline evaluation of the impression log (``routing.experiments``), with a reason;
every promotion is kept with who, when, why and on what evidence, and audited; the newest one
is the preview's default. Promoting ``BY_INTENT`` goes back to choosing by intent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from labeling.exceptions import LabelingError
from labeling.project import authz
from labeling.project.authz import Actor, Capability, requires
from routing.ranker import RankerConfig, config_named
from storage.db import session_scope, write_scope
from storage.models import RankerPromotion
from storage.repositories import accounts as account_repo
from storage.repositories import audit
from storage.repositories import routing as routing_repo

BY_INTENT = "by intent"
"""The router's own choice: the configuration follows the prompt's intent."""
MAX_REASON_CHARS = 2_000


class RankerPromotionError(LabelingError):
    """A promotion that cannot be recorded as asked."""


@dataclass(frozen=True)
class Promotion:
    """One promotion: the configuration (``None``: by intent), its weights as promoted, why,
    on what evidence, by whom (``promoted_by``: the audit name, an account id or an operator's
    name; ``promoted_by_name``: that account's username, for the leads' pages) and when."""

    id: int
    config_name: str | None
    config: dict[str, Any]
    reason: str
    evidence: dict[str, Any]
    promoted_by: str
    promoted_at: datetime
    promoted_by_name: str

    @property
    def label(self) -> str:
        return self.config_name or BY_INTENT


def _name(session: Session, audit_name: str) -> str:
    """The username of the account ``audit_name`` names (an operator's name as it is)."""
    account = account_repo.get(session=session, account_id=int(audit_name)) \
        if audit_name.isdigit() else None
    return account.username if account is not None else audit_name


def _info(session: Session, row: RankerPromotion) -> Promotion:
    return Promotion(id=row.id or 0, config_name=row.config_name, config=dict(row.config or {}),
                     reason=row.reason, evidence=dict(row.evidence or {}),
                     promoted_by=row.promoted_by, promoted_at=row.created_at,
                     promoted_by_name=_name(session, row.promoted_by))


@requires(Capability.run_experiments)
def promote_config(*, engine: Engine, name: str, actor: Actor, reason: str,
                   evidence: dict[str, Any] | None = None) -> Promotion:
    """Make ``name`` (a bundled configuration, or ``BY_INTENT``) the preview's default.

    A lead's decision: the reason is required and kept with the evidence (JSON-ready, e.g. the
    evaluation's window and verdicts); the change is audited with the configuration before and
    after, under the actor's audit name (the account id). Promoting the configuration already
    promoted is refused (nothing would change)."""
    reason = (reason or "").strip()
    if not reason:
        raise RankerPromotionError("give a reason for the promotion: it is kept with it and "
                                   "audited")
    if len(reason) > MAX_REASON_CHARS:
        raise RankerPromotionError(f"the reason is {len(reason):,} characters; at most "
                                   f"{MAX_REASON_CHARS:,}")
    config_name = None if name == BY_INTENT else config_named(name).name
    config = {} if config_name is None else config_named(name).as_dict()
    with write_scope(engine) as session:
        who = authz.principal(session, actor)
        latest = routing_repo.promotions(session=session, limit=1)
        before_name = latest[0].config_name if latest else None
        if before_name == config_name:
            raise RankerPromotionError(f"{name} is already the preview's default")
        row = routing_repo.add_promotion(session=session, row=RankerPromotion(
            config_name=config_name, config=config, reason=reason, evidence=evidence or {},
            promoted_by=who.audit_name[:64]))
        audit.record(session=session, actor=who.audit_name, action="ranker.promote",
                     entity="rankerpromotion", entity_id=row.id,
                     before={"config": before_name or BY_INTENT},
                     after={"config": config_name or BY_INTENT, "weights": config,
                            "reason": reason})
        return _info(session, row)


@requires(Capability.run_experiments)
def current_promotion(*, engine: Engine, actor: Actor) -> Promotion | None:
    """The newest promotion (``None``: nothing was ever promoted), with who made it and why."""
    with session_scope(engine) as session:
        rows = routing_repo.promotions(session=session, limit=1)
        return _info(session, rows[0]) if rows else None


@requires(Capability.run_experiments)
def promotion_history(*, engine: Engine, actor: Actor, limit: int = 20) -> list[Promotion]:
    """The newest promotions first."""
    with session_scope(engine) as session:
        return [_info(session, r) for r in routing_repo.promotions(session=session, limit=limit)]


@requires(Capability.preview)
def preview_default(*, engine: Engine, actor: Actor) -> str:
    """The configuration the preview uses unless the user picks another: the promoted one's
    name, or ``BY_INTENT`` (not who promoted it, nor why: that is for the leads)."""
    with session_scope(engine) as session:
        rows = routing_repo.promotions(session=session, limit=1)
        return (rows[0].config_name or BY_INTENT) if rows else BY_INTENT


@requires(Capability.preview)
def preview_config(*, engine: Engine, actor: Actor, choice: str | None = None
                   ) -> RankerConfig | None:
    """The configuration to route a preview prompt with: ``choice`` (a bundled name, or
    ``BY_INTENT``), by default the promoted one; ``None`` means the router picks by intent."""
    name = preview_default(engine=engine, actor=actor) if choice is None else choice
    return None if name == BY_INTENT else config_named(name)
