"""Safety: versions of the rule lists and of each safety task's policy, flags and decisions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, func, select

from storage.models import Account, Flag, RuleListVersion, SafetyPolicy, TriageDecision


def latest_rule_list(*, session: Session) -> RuleListVersion | None:
    statement = select(RuleListVersion).order_by(RuleListVersion.version.desc())  # type: ignore[union-attr]
    return session.exec(statement).first()


def rule_list(*, session: Session, version: int) -> RuleListVersion | None:
    return session.exec(select(RuleListVersion).where(RuleListVersion.version == version)).first()


def rule_list_history(*, session: Session, limit: int = 50) -> list[RuleListVersion]:
    statement = (select(RuleListVersion)
                 .order_by(RuleListVersion.version.desc()).limit(limit))  # type: ignore[union-attr]
    return list(session.exec(statement))


def add_rule_list(*, session: Session, row: RuleListVersion) -> RuleListVersion:
    session.add(row)
    session.flush()
    return row


def latest_policy(*, session: Session, task_id: int) -> SafetyPolicy | None:
    statement = (select(SafetyPolicy).where(SafetyPolicy.task_id == task_id)
                 .order_by(SafetyPolicy.version.desc()))  # type: ignore[attr-defined]
    return session.exec(statement).first()


def add_policy(*, session: Session, row: SafetyPolicy) -> SafetyPolicy:
    session.add(row)
    session.flush()
    return row


def add_flag(*, session: Session, flag: Flag) -> Flag:
    session.add(flag)
    session.flush()
    return flag


def flags(
    *, session: Session, task_id: int | None, statuses: Sequence[str] | None = None,
    categories: Sequence[str] | None = None, origins: Sequence[str] | None = None,
    limit: int = 200,
) -> list[Flag]:
    """Flags, most severe first, then the most uncertain, then the oldest."""
    statement = select(Flag)
    if task_id is not None:
        statement = statement.where(Flag.task_id == task_id)
    if statuses:
        statement = statement.where(Flag.status.in_(list(statuses)))  # type: ignore[attr-defined]
    if categories:
        statement = statement.where(Flag.category.in_(list(categories)))  # type: ignore[union-attr]
    if origins:
        statement = statement.where(Flag.origin.in_(list(origins)))  # type: ignore[attr-defined]
    statement = statement.order_by(
        Flag.severity.desc(),  # type: ignore[attr-defined]
        func.coalesce(Flag.uncertainty, 0.0).desc(), Flag.created_at, Flag.id,
    ).limit(limit)
    return list(session.exec(statement))


def status_counts(*, session: Session, task_id: int | None) -> dict[str, int]:
    statement = select(Flag.status, func.count()).group_by(Flag.status)
    if task_id is not None:
        statement = statement.where(Flag.task_id == task_id)
    return {status: count for status, count in session.exec(statement)}


def oldest_waiting(*, session: Session, task_id: int | None,
                   statuses: Sequence[str]) -> datetime | None:
    statement = select(func.min(Flag.created_at)).where(
        Flag.status.in_(list(statuses)))  # type: ignore[attr-defined]
    if task_id is not None:
        statement = statement.where(Flag.task_id == task_id)
    return session.exec(statement).one()


def get_flag(*, session: Session, flag_id: int, lock: bool = False) -> Flag | None:
    return session.get(Flag, flag_id, with_for_update=lock or None)


def add_decision(*, session: Session, decision: TriageDecision) -> TriageDecision:
    session.add(decision)
    session.flush()
    return decision


def decisions_on_text(*, session: Session, text_hash: str, limit: int = 20
                      ) -> list[tuple[TriageDecision, Flag, str]]:
    """Earlier decisions on flags of the same text, newest first, with the reviewer's name."""
    statement = (
        select(TriageDecision, Flag, Account.username)
        .join(Flag, Flag.id == TriageDecision.flag_id)
        .join(Account, Account.id == TriageDecision.reviewer_id)
        .where(Flag.text_hash == text_hash)
        .order_by(TriageDecision.decided_at.desc(), TriageDecision.id.desc())  # type: ignore[attr-defined]
        .limit(limit)
    )
    return [(d, f, u) for d, f, u in session.exec(statement)]


def flag_summary(*, session: Session, flag_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The last decision per flag (decision, category, reviewer id), for listing."""
    out: dict[int, dict[str, Any]] = {}
    if not flag_ids:
        return out
    statement = (select(TriageDecision)
                 .where(TriageDecision.flag_id.in_(list(flag_ids)))  # type: ignore[attr-defined]
                 .order_by(TriageDecision.decided_at, TriageDecision.id))
    for decision in session.exec(statement):
        out[decision.flag_id] = {"decision": decision.decision, "category": decision.category,
                                 "reviewer_id": decision.reviewer_id}
    return out
