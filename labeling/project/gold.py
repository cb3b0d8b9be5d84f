"""Gold items: items with a known answer, shown to raters unannounced and scored, never trained
on. Leads mark them one by one (found by words of the prompt) or import many (``--gold``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from labeling.exceptions import TaskDefinitionError
from labeling.project import authz
from labeling.project.authz import Actor, Capability, requires
from labeling.project.tasks import get_task
from storage.db import session_scope, write_scope
from storage.models import Item
from storage.repositories import audit
from storage.repositories import items as item_repo

MAX_MATCHES = 50


@dataclass(frozen=True)
class ItemRow:
    item_id: int
    text: str
    gold_label: str | None


@requires(Capability.manage_tasks)
def gold_items(*, engine: Engine, actor: Actor, task_name: str) -> list[ItemRow]:
    """The task's gold items with their answers, by id (raters must not see the answers)."""
    with session_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        return [ItemRow(i, t, g) for i, t, g in item_repo.gold_items(session=session,
                                                                   task_id=task.id)]


@requires(Capability.manage_tasks)
def find_items(*, engine: Engine, actor: Actor, task_name: str, words: str,
               limit: int = MAX_MATCHES) -> list[ItemRow]:
    """Items whose prompt contains ``words`` (any case), by id, at most ``limit``; none for
    blank ``words``."""
    if not words.strip():
        return []
    with session_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        return [ItemRow(i, t, g) for i, t, g in item_repo.search(
            session=session, task_id=task.id, words=words.strip(), limit=limit)]


@requires(Capability.manage_tasks)
def mark_gold(
    *, engine: Engine, task_name: str, item_id: int, answer: str | None, actor: Actor
) -> None:
    """Make an item gold with ``answer`` as its known label (``None`` unmarks it), audited."""
    with write_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        item = session.get(Item, item_id)
        if item is None or item.task_id != task.id:
            raise TaskDefinitionError(f"no item {item_id} in task {task_name!r}")
        if answer is not None and answer not in task.labels:
            raise TaskDefinitionError(f"{answer!r} is not a label of task {task_name!r}")
        before = item.gold_label
        item.gold_label = answer
        session.add(item)
        audit.record(session=session, actor=authz.audit_name(actor), action="item.gold",
                     entity="item",
                     entity_id=item_id, before={"gold_label": before},
                     after={"gold_label": answer})
