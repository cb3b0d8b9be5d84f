"""The demo project's labeling side: four accounts, tasks with their prompts, and labels by two
simulated raters with realistic disagreement, so every page has something to show.

The content is data: ``DemoTask`` holds a task definition, its examples and which labels raters
confuse. The intent task comes from ``labeling.dataio.demo_content``; other packages bring their
own (the safety task from ``safety.demo_content``). Everything is generated deterministically,
so two demo databases are alike.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from labeling.dataio.demo_content import INTENT_CONFUSIONS, load_intent_prompts, load_intent_task
from labeling.exceptions import LabelingError
from labeling.ml.encoders import Encoder, ProgressCallback, text_hash
from labeling.project import authz
from labeling.project.accounts import add_account
from labeling.project.authz import Actor, Capability, requires
from labeling.project.items import add_texts
from labeling.project.tasks import add_task
from labeling.project.vectors import encode_missing
from labeling.text.pii import redact_many
from storage.db import session_scope, write_scope
from storage.models import LabelSource, Task, utcnow
from storage.repositories import audit
from storage.repositories import labels as label_repo
from storage.repositories import tasks as task_repo

DEMO_SEED = 20261127
HARD_STYLES = frozenset({"ambiguous", "multi_intent", "slang", "typo"})
"""Phrasings the simulated raters get wrong more often."""
INTENT_LABELED_SHARE = 0.45


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    role: str
    display_name: str
    accuracy: float
    """How often this rater's demo labels match the demo answer."""


DEMO_ACCOUNTS = (
    DemoAccount("ana", "ana-demo-pw", "rater", "Ana (rater)", 0.9),
    DemoAccount("ben", "ben-demo-pw", "rater", "Ben (rater)", 0.78),
    DemoAccount("rosa", "rosa-demo-pw", "reviewer", "Rosa (safety reviewer)", 0.95),
    DemoAccount("leo", "leo-demo-pw", "lead", "Leo (ML lead)", 0.95),
)


@dataclass(frozen=True)
class DemoTask:
    """A demo task: its definition, examples with their answers, and how raters err."""

    spec: dict[str, Any]
    """``name``, ``kind``, ``labels``, ``guideline`` and optionally ``oos_label``, ``slots``."""
    examples: list[dict[str, Any]]
    """``text`` and ``label`` (the demo answer), optionally ``style`` and ``slots``."""
    labeled_share: float
    """Share of the examples the demo raters have labeled."""
    confusions: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Label -> labels a rater plausibly gives instead (else any other label)."""


def intent_demo_task() -> DemoTask:
    """The intent task of the demo project, with its prompts, ready to seed."""
    examples = [{**p, "label": p["intent"]} for p in load_intent_prompts()]
    return DemoTask(spec=load_intent_task(), examples=examples,
                    labeled_share=INTENT_LABELED_SHARE, confusions=INTENT_CONFUSIONS)


def _rater_value(rng: random.Random, truth: str, accuracy: float, labels: list[str],
                 confusions: Mapping[str, Sequence[str]]) -> str:
    if rng.random() < accuracy:
        return truth
    options = [n for n in confusions.get(truth, ()) if n in labels] or [
        lab for lab in labels if lab != truth
    ]
    return rng.choice(options)


def _demo_labels(
    *, task: Task, demo: DemoTask, ids: dict[str, int], raters: list[tuple[int, DemoAccount]],
    rng: random.Random,
) -> list[dict]:
    """Labels by the demo raters on a share of the items: two raters on most, one on some."""
    rows, now = [], utcnow()
    chosen = rng.sample(demo.examples, k=int(len(demo.examples) * demo.labeled_share))
    for n, example in enumerate(chosen):
        truth, style = example["label"], example.get("style", "plain")
        who = raters if n % 5 else raters[: 1 + (n % 2)]
        batch = f"demo-{task.name}-{n // 20:03d}"
        for rater_id, account in who:
            accuracy = account.accuracy - (0.15 if style in HARD_STYLES else 0.0)
            shown = now - timedelta(days=rng.uniform(0.2, 20), seconds=rng.uniform(0, 3600))
            seconds = round(min(120.0, rng.lognormvariate(1.8, 0.5)), 1)
            rows.append({
                "task_id": task.id, "item_id": ids[text_hash(example["text"])],
                "rater_id": rater_id,
                "value": _rater_value(rng, truth, accuracy, task.labels, demo.confusions),
                "slots": example.get("slots", {}) if rng.random() < 0.8 else {},
                "unsure": style in HARD_STYLES and rng.random() < 0.2,
                "source": LabelSource.rater.value, "shown_at": shown,
                "submitted_at": shown + timedelta(seconds=seconds), "seconds": seconds,
                "guideline_version": 1, "strategy": "kmeans_seed" if n < 40 else "random",
                "selection_score": None, "batch_id": batch, "is_gold": False,
                "superseded": False,
            })
    return rows


def _seed_task(*, session: Session, demo: DemoTask, encoder: Encoder, vectors: dict[str, bytes],
               raters: list[tuple[int, DemoAccount]], rng: random.Random, actor: Actor
               ) -> dict[str, int]:
    spec = demo.spec
    task = add_task(session=session, name=spec["name"], kind=spec["kind"], labels=spec["labels"],
                    guideline=spec["guideline"], oos_label=spec.get("oos_label"),
                    slot_schema=spec.get("slots"), actor=actor)
    added = add_texts(session=session, task=task, texts=[e["text"] for e in demo.examples],
                      labels=[None] * len(demo.examples), source="demo", encoder=encoder,
                      vectors=vectors, pii_types=[e.get("pii_types") for e in demo.examples])
    rows = _demo_labels(task=task, demo=demo, ids=added.ids, raters=raters, rng=rng)
    label_repo.add_many(session=session, rows=rows)
    return {f"{task.name}_items": added.items_added, f"{task.name}_labels": len(rows)}


def _redacted(demo: DemoTask) -> DemoTask:
    """The task with personal data redacted from its examples, as every ingest path does."""
    found = redact_many([e["text"] for e in demo.examples])
    examples = [{**e, "text": r.text, "pii_types": list(r.types)}
                for e, r in zip(demo.examples, found, strict=True)]
    return replace(demo, examples=examples)


@requires(Capability.manage_tasks)
def seed_demo_project(
    *, engine: Engine, actor: Actor, encoder: Encoder, tasks: Sequence[DemoTask],
    accounts: Sequence[DemoAccount] = DEMO_ACCOUNTS, progress: ProgressCallback | None = None,
) -> dict[str, int]:
    """Fill a database with no tasks yet with the demo accounts, ``tasks`` and their demo
    labels, in one unit of work, audited as ``actor`` (who ran ``workbench init --demo``);
    return what was added.

    The texts are encoded first, outside the write transaction. Raises ``LabelingError`` (and
    writes nothing) when the database has tasks already.
    """
    tasks = [_redacted(demo) for demo in tasks]
    texts = [e["text"] for demo in tasks for e in demo.examples]
    with session_scope(engine) as session:
        vectors = encode_missing(session=session, encoder=encoder, texts=texts,
                                 progress=progress)
    rng = random.Random(DEMO_SEED)
    with write_scope(engine) as session:
        if task_repo.list_tasks(session=session):
            raise LabelingError("the database has tasks already; the demo goes into an empty one")
        created = [
            (add_account(session=session, username=a.username, password=a.password, role=a.role,
                         display_name=a.display_name, actor=actor).id, a)
            for a in accounts
        ]
        raters = [(i, a) for i, a in created if a.role == "rater"]
        counts: dict[str, int] = {}
        for demo in tasks:
            counts.update(_seed_task(session=session, demo=demo, encoder=encoder,
                                     vectors=vectors, raters=raters, rng=rng, actor=actor))
        counts["accounts"] = len(created)
        audit.record(session=session, actor=authz.audit_name(actor), action="demo.seed",
                     entity="project", after=counts)
    return counts
