"""What the workbench holds about an end user, or holds past the retention period.

An end user is named by the id they have elsewhere; the workbench stores only its keyed
pseudonym (``labeling.project.items.pseudonymise``). A person using the Preview is the end user
``account:<account id>`` (``preview_end_user_id``), so their impressions, feedback and reports
are linked through their account as well.

Linked to an end user:

* their prompts: the items carrying their pseudonym, in every task;
* for a Preview user, the lists they were shown (impressions) and their likes, skips and saves,
  and the outputs they reported (flags of origin ``user_report``);
* copies of those texts attributed to nobody else: Preview and triage items without an end user,
  flags without another reporter, impressions without an account;
* and what derives from all of these (``_close``).

Raw prompts past the retention period: items collected by the Preview or carrying an end user's
pseudonym, impressions, and reports, created before the cutoff, and what derives from them.
Imported items without an end-user column (curated data sets) are not raw prompts.

What derives from an item: its assignments, selections, labels, consensus, the flags raised on it
and the triage decisions on those flags or its labels, and its vector where no other item has the
same text. A flag takes with it the triage item that was made for it (source ``triage``) when no
other flag points at that item.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from labeling.ml.encoders import text_hash
from storage.models import Consensus, Feedback, Flag, Impression, Item, Label, TriageDecision
from storage.repositories import privacy as repo

PREVIEW_SOURCE = "preview"
"""Items the Preview collects (``routing.preview.PREVIEW_SOURCE``)."""
TRIAGE_SOURCE = "triage"
"""Items made for a flag (``safety.triage``)."""
USER_REPORT = "user_report"
"""Flags a Preview user raised by reporting an output (``safety.triage.ORIGINS``)."""
_ACCOUNT = re.compile(r"account:(\d+)")


def preview_end_user_id(account_id: int) -> str:
    """The end-user id of a person who types prompts in the Preview."""
    return f"account:{account_id}"


def preview_account(end_user_id: str) -> int | None:
    """The account behind a Preview end-user id (``account:7`` -> 7), else ``None``."""
    match = _ACCOUNT.fullmatch(end_user_id)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class Linked:
    """Rows linked to an end user (or past the retention period), everything derived included."""

    items: list[Item]
    labels: list[Label]
    consensus: list[Consensus]
    flags: list[Flag]
    decisions: list[TriageDecision]
    impressions: list[Impression]
    feedback: list[Feedback]

    @property
    def empty(self) -> bool:
        return not (self.items or self.flags or self.impressions)

    @property
    def vector_hashes(self) -> list[str]:
        return sorted({i.text_hash for i in self.items})


def link_end_user(*, session: Session, pseudonym: str, account_id: int | None) -> Linked:
    """Everything linked to the end user with ``pseudonym`` (and Preview ``account_id``)."""
    own = repo.items_of_end_user(session=session, pseudonym=pseudonym)
    reported = repo.flags_reported_by(session=session, account_id=account_id,
                                      origin=USER_REPORT) if account_id is not None else []
    shown = repo.impressions_of_account(session=session, account_id=account_id) \
        if account_id is not None else []
    hashes = {i.text_hash for i in own} | {f.text_hash or text_hash(f.prompt) for f in reported}
    hashes |= {text_hash(i.prompt) for i in shown if i.prompt.strip()}
    wanted = sorted(hashes)
    copies = repo.unattributed_items_with_hashes(session=session, hashes=wanted,
                                                 sources=(PREVIEW_SOURCE, TRIAGE_SOURCE))
    same_text = [f for f in repo.flags_on_items_or_hashes(session=session, item_ids=[],
                                                          hashes=wanted)
                 if f.reported_by is None or f.reported_by == account_id]
    anonymous = [i for i, prompt in repo.unattributed_impression_prompts(session=session)
                 if prompt.strip() and text_hash(prompt) in hashes]
    return _close(session, item_ids={i.id for i in own + copies},
                  flag_ids={f.id for f in reported + same_text},
                  impression_ids={i.id for i in shown} | set(anonymous))


def link_before(*, session: Session, cutoff: datetime) -> Linked:
    """Raw prompts created before ``cutoff`` and everything derived from them."""
    items = repo.raw_items_before(session=session, cutoff=cutoff, source=PREVIEW_SOURCE)
    reports = repo.flags_before(session=session, cutoff=cutoff, origin=USER_REPORT)
    return _close(session, item_ids={i.id for i in items}, flag_ids={f.id for f in reports},
                  impression_ids=set(repo.impression_ids_before(session=session, cutoff=cutoff)))


def _close(session: Session, *, item_ids: set[int], flag_ids: set[int],
           impression_ids: set[int]) -> Linked:
    """The given rows with everything that derives from them."""
    flags = {f.id: f for f in repo.flags(session=session, flag_ids=sorted(flag_ids))}
    flags.update({f.id: f for f in repo.flags_on_items_or_hashes(
        session=session, item_ids=sorted(item_ids), hashes=[])})
    made_for = {f.item_id for f in flags.values() if f.item_id is not None} - item_ids
    pointing = repo.flag_item_ids(session=session, item_ids=sorted(made_for))
    item_ids = item_ids | {i.id for i in repo.items(session=session, item_ids=sorted(made_for))
                           if i.source == TRIAGE_SOURCE
                           and set(pointing.get(i.id, [])) <= set(flags)}
    items = repo.items(session=session, item_ids=sorted(item_ids))
    labels = repo.labels_on_items(session=session, item_ids=sorted(item_ids))
    decisions = repo.decisions_on(session=session, flag_ids=sorted(flags),
                                  label_ids=[label.id for label in labels])
    ordered = sorted(impression_ids)
    return Linked(
        items=items, labels=labels,
        consensus=repo.consensus_on_items(session=session, item_ids=sorted(item_ids)),
        flags=[flags[i] for i in sorted(flags)], decisions=decisions,
        impressions=repo.impressions(session=session, impression_ids=ordered),
        feedback=repo.feedback_on(session=session, impression_ids=ordered))


def delete(*, session: Session, linked: Linked) -> dict[str, int]:
    """Delete ``linked`` in one unit of work (the caller's); how many rows of each kind went."""
    return repo.delete_linked(
        session=session, item_ids=[i.id for i in linked.items],
        flag_ids=[f.id for f in linked.flags], decision_ids=[d.id for d in linked.decisions],
        impression_ids=[i.id for i in linked.impressions], vector_hashes=linked.vector_hashes)
