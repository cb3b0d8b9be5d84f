"""Retention (UK GDPR art. 5(1)(e), storage limitation): raw prompts older than a number of
days go, with everything derived from them (``labeling.privacy.linking`` says what a raw prompt
is). Idempotent: a second run with the same clock finds nothing and records nothing, so it is
safe to run from cron.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from labeling.exceptions import PrivacyError
from labeling.privacy.linking import delete, link_before
from labeling.project import authz
from labeling.project.authz import Actor, Capability, requires
from storage.db import write_scope
from storage.models import utcnow
from storage.repositories import audit

RETENTION_ACTION = "privacy.retention"


@dataclass(frozen=True)
class RetentionSummary:
    days: int
    cutoff: datetime
    deleted: dict[str, int]
    """Rows removed, by kind (empty when nothing was older than the cutoff)."""

    def line(self) -> str:
        """One line for a log: what went, or that nothing did."""
        gone = ", ".join(f"{n} {kind}" for kind, n in self.deleted.items() if n)
        return (f"retention {self.days} days (before {self.cutoff:%Y-%m-%d %H:%M} UTC): "
                + (f"deleted {gone}" if gone else "nothing to delete"))


@requires(Capability.privacy)
def apply_retention(*, engine: Engine, days: int, actor: Actor, now: datetime | None = None
                    ) -> RetentionSummary:
    """Delete raw prompts created more than ``days`` days before ``now`` (default: now) and
    what derives from them, in one transaction, audited when anything went."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise PrivacyError(f"retention needs a whole number of days, at least 1 (got {days!r})")
    cutoff = (now or utcnow()) - timedelta(days=days)
    with write_scope(engine) as session:
        linked = link_before(session=session, cutoff=cutoff)
        if linked.empty:
            return RetentionSummary(days=days, cutoff=cutoff, deleted={})
        deleted = delete(session=session, linked=linked)
        audit.record(session=session, actor=authz.audit_name(actor),
                     action=RETENTION_ACTION, entity="prompts",
                     after={"days": days, "cutoff": cutoff.isoformat(), "deleted": deleted})
    return RetentionSummary(days=days, cutoff=cutoff, deleted=deleted)
