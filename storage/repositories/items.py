"""Items to label."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, func, select

from storage.models import Item, Task
from storage.repositories._bulk import chunks, id_list, insert_ignoring_conflicts
from storage.repositories.labels import only_items_labeled_since


def ids_by_hash(*, session: Session, task_id: int, hashes: Sequence[str]) -> dict[str, int]:
    """Map each of ``hashes`` already stored for the task to its item id."""
    found: dict[str, int] = {}
    for part in chunks(list(hashes)):
        statement = select(Item.text_hash, Item.id).where(
            Item.task_id == task_id,
            Item.text_hash.in_(part),  # type: ignore[attr-defined]
        )
        found.update({h: i for h, i in session.exec(statement)})
    return found


def add_many(*, session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert items, skipping any whose (task, text hash) is already stored."""
    insert_ignoring_conflicts(
        session=session, table=Item, rows=rows, conflict_columns=["task_id", "text_hash"]
    )


def list_for_task(*, session: Session, task_id: int, items_since: int | None = None
                  ) -> list[Item]:
    """The task's items (``items_since``: those labeled after that label id only)."""
    statement = select(Item).where(Item.task_id == task_id).order_by(Item.id)
    statement = only_items_labeled_since(statement, Item.id, task_id=task_id,
                                         label_id=items_since)
    return list(session.exec(statement))


def ids_for_task(*, session: Session, task_id: int, after: int = 0, upto: int | None = None
                 ) -> list[int]:
    """The task's item ids above ``after`` (and up to ``upto``), ascending."""
    statement = select(Item.id).where(Item.task_id == task_id, Item.id > after)
    if upto is not None:
        statement = statement.where(Item.id <= upto)
    return id_list(session=session, statement=statement)


def id_summary(*, session: Session, task_id: int, upto: int) -> tuple[int, int]:
    """(how many, their sum) of the task's item ids up to ``upto``: a cheap check that a set of
    ids read earlier is still the task's."""
    count, total = session.exec(select(func.count(), func.coalesce(func.sum(Item.id), 0)).where(
        Item.task_id == task_id, Item.id <= upto)).one()
    return int(count), int(total)


def consensus_basis(*, session: Session, task_id: int) -> tuple[int, int]:
    """(deletions of the task's items so far, their extra raters in all): what a task's
    consensus rows depend on besides its labels and settings. An erasure deletes items with
    their labels (``task.items_deleted`` counts it) and a send-back adds raters; imported items
    change neither, having no labels yet (counting the items made every import recompute a
    million-prompt task's consensus whole, two minutes). The sum reads the partial index of the
    items sent back."""
    deleted = session.exec(select(Task.items_deleted).where(Task.id == task_id)).one()
    extra = session.exec(select(func.coalesce(func.sum(Item.extra_raters), 0)).where(
        Item.task_id == task_id, Item.extra_raters > 0)).one()
    return int(deleted), int(extra)


def set_gold(*, session: Session, answers: dict[int, str]) -> int:
    """Set the known answer of each item id; return how many changed."""
    changed = 0
    for item_id, answer in answers.items():
        item = session.get(Item, item_id)
        if item is not None and item.gold_label != answer:
            item.gold_label = answer
            session.add(item)
            changed += 1
    return changed


def texts_by_id(*, session: Session, item_ids: Sequence[int]) -> dict[int, str]:
    """Item id -> text for the ids that exist."""
    texts: dict[int, str] = {}
    for part in chunks(list(item_ids)):
        statement = select(Item.id, Item.text).where(Item.id.in_(part))  # type: ignore[union-attr]
        texts.update({i: t for i, t in session.exec(statement)})
    return texts


def gold_items(*, session: Session, task_id: int) -> list[tuple[int, str, str]]:
    """(item id, text, gold answer) of the task's gold items, by id."""
    statement = (
        select(Item.id, Item.text, Item.gold_label)
        .where(Item.task_id == task_id, Item.gold_label.is_not(None))  # type: ignore[union-attr]
        .order_by(Item.id)
    )
    return [(i, t, g) for i, t, g in session.exec(statement)]


def search(*, session: Session, task_id: int, words: str, limit: int
           ) -> list[tuple[int, str, str | None]]:
    """(item id, text, gold answer) of the task's items whose text contains ``words`` (any
    case; ``%`` and ``_`` match themselves), by id, at most ``limit``."""
    statement = (
        select(Item.id, Item.text, Item.gold_label)
        .where(Item.task_id == task_id,
               func.lower(Item.text).contains(words.lower(), autoescape=True))
        .order_by(Item.id)
        .limit(limit)
    )
    return [(i, t, g) for i, t, g in session.exec(statement)]
