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

from labeling.exceptions import LabelingError
from routing.ranker import RankerConfig, config_named
from storage.db import session_scope, write_scope
from storage.models import RankerPromotion
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
    on what evidence, by whom and when."""

    id: int
    config_name: str | None
    config: dict[str, Any]
    reason: str
    evidence: dict[str, Any]
    promoted_by: str
    promoted_at: datetime

    @property
    def label(self) -> str:
        return self.config_name or BY_INTENT


def _info(row: RankerPromotion) -> Promotion:
    return Promotion(id=row.id or 0, config_name=row.config_name, config=dict(row.config or {}),
                     reason=row.reason, evidence=dict(row.evidence or {}),
                     promoted_by=row.promoted_by, promoted_at=row.created_at)


def promote_config(*, engine: Engine, name: str, actor: str, reason: str,
                   evidence: dict[str, Any] | None = None) -> Promotion:
    """Make ``name`` (a bundled configuration, or ``BY_INTENT``) the preview's default.

    A lead's decision: the reason is required and kept with the evidence (JSON-ready, e.g. the
    evaluation's window and verdicts); the change is audited with the configuration before and
    after. Promoting the configuration already promoted is refused (nothing would change)."""
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
        latest = routing_repo.promotions(session=session, limit=1)
        before_name = latest[0].config_name if latest else None
        if before_name == config_name:
            raise RankerPromotionError(f"{name} is already the preview's default")
        row = routing_repo.add_promotion(session=session, row=RankerPromotion(
            config_name=config_name, config=config, reason=reason, evidence=evidence or {},
            promoted_by=actor[:64]))
        audit.record(session=session, actor=actor, action="ranker.promote",
                     entity="rankerpromotion", entity_id=row.id,
                     before={"config": before_name or BY_INTENT},
                     after={"config": config_name or BY_INTENT, "weights": config,
                            "reason": reason})
        return _info(row)


def current_promotion(*, engine: Engine) -> Promotion | None:
    """The newest promotion (``None``: nothing was ever promoted)."""
    with session_scope(engine) as session:
        rows = routing_repo.promotions(session=session, limit=1)
        return _info(rows[0]) if rows else None


def promotion_history(*, engine: Engine, limit: int = 20) -> list[Promotion]:
    """The newest promotions first."""
    with session_scope(engine) as session:
        return [_info(r) for r in routing_repo.promotions(session=session, limit=limit)]


def preview_default(*, engine: Engine) -> str:
    """The configuration the preview uses unless the user picks another: the promoted one's
    name, or ``BY_INTENT``."""
    current = current_promotion(engine=engine)
    return current.label if current is not None else BY_INTENT


def preview_config(*, engine: Engine, choice: str | None = None) -> RankerConfig | None:
    """The configuration to route a preview prompt with: ``choice`` (a bundled name, or
    ``BY_INTENT``), by default the promoted one; ``None`` means the router picks by intent."""
    name = preview_default(engine=engine) if choice is None else choice
    return None if name == BY_INTENT else config_named(name)
