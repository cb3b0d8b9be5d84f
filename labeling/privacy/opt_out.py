"""Opting out of human review: an end user who objects (UK GDPR art. 21) keeps using the
product, but none of their prompts enters a labeling pool.

The opt-out is recorded under a digest of the end user's pseudonym (``opt_out_reference``), never
the id or the pseudonym, so it outlives an erasure of their data. From then on ingest
(``labeling.project.items.add_texts``: imports and the Preview's collected prompts) skips their
prompts, and the prompts already stored leave every labeling queue (``Item.opted_out``); labels
already given stay until the end user's data is erased. Opting back in reverses both.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from labeling.privacy.erasure import end_user_pseudonym
from labeling.project import authz
from labeling.project.authz import Actor, Capability, requires
from labeling.project.items import opt_out_reference
from storage.db import write_scope
from storage.repositories import audit
from storage.repositories import privacy as repo

OPT_OUT_ACTION = "privacy.opt_out"
OPT_IN_ACTION = "privacy.opt_in"


@dataclass(frozen=True)
class OptOutSummary:
    reference: str
    """The digest the opt-out is recorded under (and the audit row's entity id)."""
    opted_out: bool
    """Whether the end user is opted out now."""
    changed: bool
    """False when the end user was in that state already (nothing written)."""
    items: int
    """Stored prompts taken out of (or put back into) the labeling queues."""

    def line(self) -> str:
        state = "opted out of human review" if self.opted_out else "back in human review"
        if not self.changed:
            return f"end user already {state}; nothing changed (reference {self.reference})"
        moved = "taken out of" if self.opted_out else "put back into"
        return (f"end user {state}: {self.items} stored prompts {moved} the labeling queues "
                f"(reference {self.reference})")


def _set(engine: Engine, actor: Actor, end_user_id: str, key: str, opted: bool) -> OptOutSummary:
    pseudonym = end_user_pseudonym(end_user_id, key=key)
    reference = opt_out_reference(pseudonym)
    with write_scope(engine) as session:
        changed = repo.set_opt_out(session=session, reference=reference, opted=opted)
        items = repo.mark_items_opted_out(session=session, pseudonym=pseudonym, opted=opted) \
            if changed else 0
        if changed:
            audit.record(session=session, actor=authz.audit_name(actor),
                         action=OPT_OUT_ACTION if opted else OPT_IN_ACTION, entity="end_user",
                         entity_id=reference, after={"items": items})
    return OptOutSummary(reference=reference, opted_out=opted, changed=changed, items=items)


@requires(Capability.privacy)
def opt_out(*, engine: Engine, actor: Actor, end_user_id: str, key: str) -> OptOutSummary:
    """Record that ``end_user_id`` opted out of human review (idempotent; audited when it
    changes anything)."""
    return _set(engine, actor, end_user_id, key, True)


@requires(Capability.privacy)
def opt_in(*, engine: Engine, actor: Actor, end_user_id: str, key: str) -> OptOutSummary:
    """Lift ``end_user_id``'s opt-out: their stored prompts may be labeled again."""
    return _set(engine, actor, end_user_id, key, False)
