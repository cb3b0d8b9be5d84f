"""End users' data: finding what is linked to a pseudonym, an account or an age, and deleting
it in the order the foreign keys need (decisions, feedback, impressions, flags, then each
item's assignments, selections, labels and consensus, the items, and unused vectors)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, update
from sqlmodel import Session, select

from storage.models import (
    Assignment,
    AuditEvent,
    Consensus,
    Embedding,
    EndUserOptOut,
    Feedback,
    Flag,
    Impression,
    Item,
    Label,
    ModelVersion,
    Selection,
    Task,
    TriageDecision,
)
from storage.repositories._bulk import chunks

KINDS = ("items", "labels", "consensus", "assignments", "selections", "vectors", "flags",
         "triage_decisions", "impressions", "feedback")
"""The kinds of rows an erasure or retention run deletes, in the order they are reported."""


def _rows(session: Session, model: Any, column: Any, values: Sequence[Any],
          order: Any) -> list[Any]:
    found: list[Any] = []
    for part in chunks(list(values)):
        found.extend(session.exec(select(model).where(column.in_(part))))
    return sorted(found, key=lambda row: getattr(row, order))


# --- opting out -----------------------------------------------------------------------------


def opted_out(*, session: Session, references: Sequence[str]) -> set[str]:
    """Those of ``references`` (opt-out digests) whose end user opted out of human review."""
    return {row.reference for row in _rows(session, EndUserOptOut, EndUserOptOut.reference,
                                           sorted(set(references)), "reference")}


def set_opt_out(*, session: Session, reference: str, opted: bool) -> bool:
    """Record or lift an end user's opt-out; whether anything changed."""
    row = session.get(EndUserOptOut, reference)
    if opted and row is None:
        session.add(EndUserOptOut(reference=reference))
        session.flush()
        return True
    if not opted and row is not None:
        session.delete(row)
        session.flush()
        return True
    return False


def mark_items_opted_out(*, session: Session, pseudonym: str, opted: bool) -> int:
    """Take an end user's items out of (or back into) the labeling queues; how many changed."""
    result = session.exec(update(Item).where(Item.end_user_id == pseudonym,  # type: ignore[call-overload]
                                             Item.opted_out != opted).values(opted_out=opted))
    return result.rowcount


# --- finding ---------------------------------------------------------------------------------


def items_of_end_user(*, session: Session, pseudonym: str) -> list[Item]:
    return list(session.exec(select(Item).where(Item.end_user_id == pseudonym).order_by(Item.id)))


def unattributed_items_with_hashes(*, session: Session, hashes: Sequence[str],
                                   sources: Sequence[str]) -> list[Item]:
    """Items of ``sources`` without an end user whose text hash is one of ``hashes``."""
    found = _rows(session, Item, Item.text_hash, hashes, "id")
    return [i for i in found if i.end_user_id is None and i.source in sources]


def raw_items_before(*, session: Session, cutoff: datetime, source: str) -> list[Item]:
    """Items created before ``cutoff`` that came from ``source`` or carry an end user."""
    statement = select(Item).where(
        Item.created_at < cutoff, or_(Item.source == source, Item.end_user_id.is_not(None)))  # type: ignore[union-attr]
    return list(session.exec(statement.order_by(Item.id)))  # type: ignore[arg-type]


def items(*, session: Session, item_ids: Sequence[int]) -> list[Item]:
    return _rows(session, Item, Item.id, item_ids, "id")


def flags_on_items_or_hashes(*, session: Session, item_ids: Sequence[int],
                             hashes: Sequence[str]) -> list[Flag]:
    found = {f.id: f for f in _rows(session, Flag, Flag.item_id, item_ids, "id")}
    found.update({f.id: f for f in _rows(session, Flag, Flag.text_hash, hashes, "id")})
    return [found[i] for i in sorted(found)]


def flags_reported_by(*, session: Session, account_id: int, origin: str) -> list[Flag]:
    statement = select(Flag).where(Flag.reported_by == account_id, Flag.origin == origin)
    return list(session.exec(statement.order_by(Flag.id)))  # type: ignore[arg-type]


def flags_before(*, session: Session, cutoff: datetime, origin: str) -> list[Flag]:
    statement = select(Flag).where(Flag.created_at < cutoff, Flag.origin == origin)
    return list(session.exec(statement.order_by(Flag.id)))  # type: ignore[arg-type]


def flags(*, session: Session, flag_ids: Sequence[int]) -> list[Flag]:
    return _rows(session, Flag, Flag.id, flag_ids, "id")


def flag_item_ids(*, session: Session, item_ids: Sequence[int]) -> dict[int, list[int]]:
    """For each of ``item_ids``, the flags pointing at it."""
    out: dict[int, list[int]] = {}
    for flag in _rows(session, Flag, Flag.item_id, item_ids, "id"):
        out.setdefault(flag.item_id, []).append(flag.id)
    return out


def labels_on_items(*, session: Session, item_ids: Sequence[int]) -> list[Label]:
    return _rows(session, Label, Label.item_id, item_ids, "id")


def consensus_on_items(*, session: Session, item_ids: Sequence[int]) -> list[Consensus]:
    return _rows(session, Consensus, Consensus.item_id, item_ids, "item_id")


def decisions_on(*, session: Session, flag_ids: Sequence[int], label_ids: Sequence[int]
                 ) -> list[TriageDecision]:
    found = {d.id: d for d in _rows(session, TriageDecision, TriageDecision.flag_id, flag_ids,
                                    "id")}
    found.update({d.id: d for d in _rows(session, TriageDecision, TriageDecision.label_id,
                                         label_ids, "id")})
    return [found[i] for i in sorted(found)]


def impressions_of_account(*, session: Session, account_id: int) -> list[Impression]:
    statement = select(Impression).where(Impression.account_id == account_id)
    return list(session.exec(statement.order_by(Impression.id)))  # type: ignore[arg-type]


def unattributed_impression_prompts(*, session: Session) -> Iterator[tuple[int, str]]:
    """(id, prompt) of every impression without an account, streamed."""
    statement = select(Impression.id, Impression.prompt).where(
        Impression.account_id.is_(None)).execution_options(yield_per=1000)  # type: ignore[union-attr]
    yield from session.exec(statement)  # type: ignore[misc]


def impression_ids_before(*, session: Session, cutoff: datetime) -> list[int]:
    statement = select(Impression.id).where(Impression.created_at < cutoff)
    return list(session.exec(statement))  # type: ignore[arg-type]


def impressions(*, session: Session, impression_ids: Sequence[int]) -> list[Impression]:
    return _rows(session, Impression, Impression.id, impression_ids, "id")


def feedback_on(*, session: Session, impression_ids: Sequence[int]) -> list[Feedback]:
    return _rows(session, Feedback, Feedback.impression_id, impression_ids, "id")


def hashes_in_use(*, session: Session, hashes: Sequence[str]) -> set[str]:
    """Those of ``hashes`` that some item still has."""
    used: set[str] = set()
    for part in chunks(list(hashes)):
        used.update(session.exec(select(Item.text_hash).where(Item.text_hash.in_(part))))  # type: ignore[attr-defined]
    return used


def vector_count(*, session: Session, hashes: Sequence[str]) -> int:
    return len(_rows(session, Embedding, Embedding.text_hash, hashes, "text_hash"))


def models_trained_since(*, session: Session, task_id: int, since: datetime
                         ) -> list[ModelVersion]:
    statement = select(ModelVersion).where(ModelVersion.task_id == task_id,
                                           ModelVersion.trained_at >= since)
    return list(session.exec(statement.order_by(ModelVersion.version)))  # type: ignore[arg-type]


def audit_events(*, session: Session, action: str, entity_id: str) -> list[AuditEvent]:
    statement = select(AuditEvent).where(AuditEvent.action == action,
                                         AuditEvent.entity_id == entity_id)
    return list(session.exec(statement.order_by(AuditEvent.id)))  # type: ignore[arg-type]


# --- deleting ----------------------------------------------------------------------------------


def _delete(session: Session, model: Any, column: Any, values: Sequence[Any]) -> int:
    deleted = 0
    for part in chunks(list(values)):
        deleted += session.execute(delete(model).where(column.in_(part))).rowcount or 0
    return deleted


def _count_item_deletions(session: Session, item_ids: Sequence[int]) -> None:
    """Count a deletion on each task whose items go (``task.items_deleted``), before they go."""
    tasks: set[int] = set()
    for part in chunks(list(item_ids)):
        tasks.update(session.exec(select(Item.task_id).where(
            Item.id.in_(part)).distinct()))  # type: ignore[union-attr]
    if tasks:
        session.execute(update(Task).where(Task.id.in_(sorted(tasks)))  # type: ignore[union-attr]
                        .values(items_deleted=Task.items_deleted + 1))


def delete_linked(*, session: Session, item_ids: Sequence[int], flag_ids: Sequence[int],
                  decision_ids: Sequence[int], impression_ids: Sequence[int],
                  vector_hashes: Sequence[str]) -> dict[str, int]:
    """Delete the given rows and every row of these kinds that depends on them; return how
    many of each kind went. The caller has included every flag and decision that points at
    the items or their labels (``decisions_on``, ``flags_on_items_or_hashes``)."""
    _count_item_deletions(session, item_ids)
    counts = {
        "triage_decisions": _delete(session, TriageDecision, TriageDecision.id, decision_ids),
        "feedback": _delete(session, Feedback, Feedback.impression_id, impression_ids),
        "impressions": _delete(session, Impression, Impression.id, impression_ids),
        "flags": _delete(session, Flag, Flag.id, flag_ids),
        "assignments": _delete(session, Assignment, Assignment.item_id, item_ids),
        "selections": _delete(session, Selection, Selection.item_id, item_ids),
        # all labels of an item in one statement: a correction points at a label of its item
        "labels": _delete(session, Label, Label.item_id, item_ids),
        "consensus": _delete(session, Consensus, Consensus.item_id, item_ids),
        "items": _delete(session, Item, Item.id, item_ids),
    }
    unused = sorted(set(vector_hashes) - hashes_in_use(session=session, hashes=vector_hashes))
    counts["vectors"] = _delete(session, Embedding, Embedding.text_hash, unused)
    return {kind: counts[kind] for kind in KINDS}
