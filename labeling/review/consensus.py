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


def ratings_frame(*, session: Session, task: Task) -> pd.DataFrame:
    """Live rater labels of the task as a long (item, rater, label) frame."""
    rows = label_repo.rater_votes_frame_rows(session=session, task_id=task.id)
    return pd.DataFrame(rows, columns=["item", "rater", "label"])


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


def _computed_rows(session: Session, task: Task, now) -> tuple[list[dict], set[int]]:
    """The task's consensus rows as computed from its labels now, and the items people
    decided (adjudicated or triaged: their rows stay as they are)."""
    items = {i.id: i for i in item_repo.list_for_task(session=session, task_id=task.id)}
    existing = {c.item_id: c for c in consensus_repo.for_task(session=session, task_id=task.id)}
    adjudicated = {i for i, c in existing.items() if c.method in FINAL_METHODS}
    suspect = {i for i, c in existing.items() if c.suspect}
    ratings = ratings_frame(session=session, task=task)
    ratings = ratings[~ratings["item"].isin(adjudicated)]
    rows = _rater_rows(task, items, ratings, now)
    rated = {row["item_id"] for row in rows}
    for row in rows:
        if row["item_id"] in suspect and not row["n_labels"] >= (
                task.overlap_k + items[row["item_id"]].extra_raters):
            row["suspect"] = True
    votes = label_repo.live_votes(session=session, task_id=task.id)
    imported = majority_vote((i, v) for i, _, v, s in votes if s == "import")
    for item_id, result in imported.items():
        if item_id in rated or item_id in adjudicated or result.value is None:
            continue
        rows.append({"item_id": item_id, "task_id": task.id, "value": result.value,
                     "method": "imported", "confidence": result.confidence,
                     "agreement": None, "n_labels": result.n_votes, "settled": True,
                     "needs_adjudication": False, "suspect": False, "updated_at": now})
    return rows, adjudicated


@requires(Capability.read_tasks)
def recompute(*, engine: Engine, actor: Actor, task_name: str) -> ConsensusSummary:
    """Recompute and store the task's consensus (decided items stay as decided).

    It brings derived state up to date from the labels as they are (computed without holding
    the write lock; only rows that changed are written), changes no label and returns counts
    only, and reviewers (Adjudicate), leads and admins (Quality, training) all need it:
    the one capability they share is ``read_tasks``.
    """
    for attempt in range(RECOMPUTE_ATTEMPTS):
        now = utcnow()
        # Compute (Dawid-Skene included) from a read, holding no write lock: raters keep
        # labeling meanwhile.
        with session_scope(engine) as session:
            task = get_task(session=session, name=task_name)
            state = consensus_repo.labels_state(session=session, task_id=task.id)
            rows, adjudicated = _computed_rows(session, task, now)
            session.expunge(task)
        # Store only what changed, one writer at a time per task, and only if no label came
        # or changed since the read (else compute again: never an older view over a newer).
        with write_scope(engine) as session:
            task_repo.lock(session=session, task_id=task.id)
            if consensus_repo.labels_state(session=session, task_id=task.id) != state and \
                    attempt < RECOMPUTE_ATTEMPTS - 1:
                continue
            consensus_repo.apply_computed(session=session, task_id=task.id, rows=rows,
                                          keep_methods=FINAL_METHODS)
            break
    return ConsensusSummary(
        task=task_name, method=task.aggregation,
        settled=sum(r["settled"] for r in rows) + len(adjudicated),
        needs_adjudication=sum(r["needs_adjudication"] for r in rows),
        pending=sum(not r["settled"] and not r["needs_adjudication"] for r in rows),
        ties=sum(r["value"] is None for r in rows),
    )


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
