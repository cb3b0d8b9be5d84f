"""Per-item consensus: aggregate the raters' labels, settle what agrees, flag what does not.

An item with at least k (+ any extra) raters is *settled* when its consensus is no tie, its
confidence reaches the task's confidence threshold and its agreement the agreement threshold;
otherwise it *needs adjudication*. Imported labels are settled as they are; people's decisions
(adjudication, and triage of flagged safety items) are final and never recomputed. The settled
items (gold items aside) are the training set (``training_set``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pandas as pd
from sqlalchemy.engine import Engine
from sqlmodel import Session

from labeling.metrics.aggregation import get_aggregator, majority_vote
from labeling.metrics.agreement import item_agreement
from labeling.project.authz import Actor, Capability, requires
from labeling.project.tasks import get_task
from storage.db import session_scope, write_scope
from storage.models import Item, Task, utcnow
from storage.repositories import consensus as consensus_repo
from storage.repositories import items as item_repo
from storage.repositories import labels as label_repo
from storage.repositories import tasks as task_repo

ADJUDICATED = "adjudicated"
TRIAGED = "triage"
FINAL_METHODS = (ADJUDICATED, TRIAGED)
"""Consensus methods that record a person's decision: never recomputed from votes."""


@dataclass(frozen=True)
class ConsensusSummary:
    task: str
    method: str
    settled: int
    needs_adjudication: int
    pending: int
    ties: int


def _rater_rows(task: Task, items: dict[int, Item], ratings: pd.DataFrame, now) -> list[dict]:
    if ratings.empty:
        return []
    result = get_aggregator(task.aggregation).aggregate(ratings)
    agreement = item_agreement(ratings).set_index("item")["pairwise_agreement"]
    rows = []
    for record in result.items.to_dict("records"):
        item = items[int(record["item"])]
        n = int(record["n_ratings"])
        value = record["label"] if not record["tie"] else None
        pair = agreement.get(record["item"])
        pair = None if pair is None or pd.isna(pair) else float(pair)
        complete = n >= task.overlap_k + item.extra_raters
        clear = (value is not None and float(record["confidence"]) >= task.confidence_threshold
                 and (pair is None or pair >= task.agreement_threshold))
        rows.append({
            "item_id": item.id, "task_id": task.id, "value": value, "method": task.aggregation,
            "confidence": float(record["confidence"]), "agreement": pair, "n_labels": n,
            "settled": complete and clear, "needs_adjudication": complete and not clear,
            "suspect": False, "updated_at": now,
        })
    return rows


RECOMPUTE_ATTEMPTS = 3
ITEM_LOCAL = ("majority",)
"""Aggregations whose value for an item depends on that item's labels alone, so a refresh after
new labels recomputes only the items they touched. Dawid-Skene is fitted over every rater's
labels (each rater's confusion matrix moves with any new label): it is recomputed whole
whenever a label came or changed."""


def _computed_rows(session: Session, task: Task, now, items_since: int | None = None
                   ) -> list[dict]:
    """The task's consensus rows as computed from its labels now, leaving out the items people
    decided (adjudicated or triaged: their rows stay as they are). With ``items_since``, only
    the items labeled after that label id."""
    only = {"session": session, "task_id": task.id, "items_since": items_since}
    items = {i.id: i for i in item_repo.list_for_task(**only)}
    existing = {c.item_id: c for c in consensus_repo.for_task(**only)}
    adjudicated = {i for i, c in existing.items() if c.method in FINAL_METHODS}
    suspect = {i for i, c in existing.items() if c.suspect}
    ratings = pd.DataFrame(label_repo.rater_votes_frame_rows(**only),
                           columns=["item", "rater", "label"])
    ratings = ratings[~ratings["item"].isin(adjudicated)]
    rows = _rater_rows(task, items, ratings, now)
    rated = {row["item_id"] for row in rows}
    for row in rows:
        if row["item_id"] in suspect and not row["n_labels"] >= (
                task.overlap_k + items[row["item_id"]].extra_raters):
            row["suspect"] = True
    votes = label_repo.live_votes(**only)
    imported = majority_vote((i, v) for i, _, v, s in votes if s == "import")
    for item_id, result in imported.items():
        if item_id in rated or item_id in adjudicated or result.value is None:
            continue
        rows.append({"item_id": item_id, "task_id": task.id, "value": result.value,
                     "method": "imported", "confidence": result.confidence,
                     "agreement": None, "n_labels": result.n_votes, "settled": True,
                     "needs_adjudication": False, "suspect": False, "updated_at": now})
    return rows


def _basis(session: Session, task: Task) -> str:
    """What the consensus rows depend on besides the labels: the aggregation and its settings,
    the deletions of the task's items (an erasure) and their extra raters (a send-back), read
    from the database each time (``task`` may be a detached copy from an earlier read)."""
    deleted, extra = item_repo.consensus_basis(session=session, task_id=task.id)
    return json.dumps([task.aggregation, task.overlap_k, task.confidence_threshold,
                       task.agreement_threshold, "deleted", deleted, extra])


def _changed_since(session: Session, task: Task, state: tuple[int, int, int], basis: str
                   ) -> tuple[bool, int | None]:
    """Whether a refresh must compute, and from which label id: not at all when the rows
    follow these labels and this basis already; only the items labeled after a label id when
    new labels came, none went, the basis is the same and the aggregation is item-local;
    else everything (``None``).
    A correction supersedes an old label and adds a new one on the same item, so the item
    is among those labeled after the last refresh."""
    last = consensus_repo.last_refresh(session=session, task_id=task.id)
    if last is None or last.basis != basis:
        return True, None
    if (last.labels, last.newest_label_id, last.superseded) == state:
        return False, None
    if task.aggregation not in ITEM_LOCAL:
        return True, None
    added = label_repo.count_since(session=session, task_id=task.id,
                                   label_id=last.newest_label_id)
    return True, last.newest_label_id if state[0] == last.labels + added else None


@requires(Capability.read_tasks)
def recompute(*, engine: Engine, actor: Actor, task_name: str) -> ConsensusSummary:
    """Bring the task's consensus up to date with its labels (``bring_up_to_date``) and count
    its rows by state."""
    bring_up_to_date(engine=engine, actor=actor, task_name=task_name)
    with session_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        counts = consensus_repo.counts(session=session, task_id=task.id)
        method = task.aggregation
    return ConsensusSummary(task=task_name, method=method, **counts)


@requires(Capability.read_tasks)
def bring_up_to_date(*, engine: Engine, actor: Actor, task_name: str) -> None:
    """Bring the task's consensus up to date with its labels (decided items stay as decided).

    Incremental: a refresh with no label new or changed since the last one computes nothing,
    and, for an item-local aggregation (majority vote), one after new labels computes only the
    items they touched; a change of settings, a send-back, an erasure, or Dawid-Skene with
    any new label computes the whole task. It changes no label, and reviewers (Adjudicate),
    leads and admins (Quality, training) all need it: the one capability they share is
    ``read_tasks``.
    """
    for attempt in range(RECOMPUTE_ATTEMPTS):
        now = utcnow()
        # Compute (Dawid-Skene included) from a read, holding no write lock: raters keep
        # labeling meanwhile. One snapshot: items, consensus rows and labels are read by
        # separate queries, and a label committed between two of them must not show in one
        # (an item labeled after the items were read has none to join).
        with session_scope(engine, snapshot=True) as session:
            task = get_task(session=session, name=task_name)
            state = consensus_repo.labels_state(session=session, task_id=task.id)
            basis = _basis(session, task)
            needed, since = _changed_since(session, task, state, basis)
            if needed:
                rows = _computed_rows(session, task, now, items_since=since)
            session.expunge(task)
        if not needed:
            break
        # Store only what changed, one writer at a time per task, and only if no label came
        # or changed since the read (else compute again: never an older view over a newer).
        with write_scope(engine) as session:
            task_repo.lock(session=session, task_id=task.id)
            if (consensus_repo.labels_state(session=session, task_id=task.id) != state
                    or _basis(session, task) != basis) and attempt < RECOMPUTE_ATTEMPTS - 1:
                continue
            consensus_repo.apply_computed(session=session, task_id=task.id, rows=rows,
                                          keep_methods=FINAL_METHODS, items_since=since)
            consensus_repo.record_refresh(session=session, task_id=task.id, state=state,
                                          basis=basis)
            break


@dataclass(frozen=True)
class TrainingSet:
    item_ids: list[int]
    texts: list[str]
    labels: list[str]

    def snapshot_hash(self) -> str:
        pairs = sorted(zip(self.item_ids, self.labels, strict=True))
        return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()


def settled_labels(*, session: Session, task: Task) -> dict[int, str]:
    """Item id → settled consensus label, as last stored by ``consensus.recompute``."""
    return consensus_repo.settled_values(session=session, task_id=task.id)


def training_set(*, session: Session, task: Task) -> TrainingSet:
    settled = settled_labels(session=session, task=task)
    items = {i.id: i for i in item_repo.list_for_task(session=session, task_id=task.id)}
    ids = sorted(i for i in settled if i in items and items[i].gold_label is None)
    return TrainingSet(item_ids=ids, texts=[items[i].text for i in ids],
                       labels=[settled[i] for i in ids])
