"""The demo project: tasks, prompts, a catalogue, four accounts and labels with disagreement.

Everything here is our own text (``labeling/demo_data``, ``safety/demo_data``) or generated
deterministically, so two demo databases are alike.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from labeling import embeddings
from labeling.accounts import create_account
from labeling.consensus import recompute
from labeling.demo_content import load_intent_prompts, load_intent_task
from labeling.embeddings import Encoder, ProgressCallback, text_hash
from labeling.items import add_texts
from labeling.tasks import create_task
from routing.catalogue import generate_demo_catalogue
from safety.demo_content import load_safety_prompts, load_safety_task
from storage.db import session_scope
from storage.models import LabelSource, Task, utcnow
from storage.repositories import audit
from storage.repositories import labels as label_repo
from storage.repositories import tasks as task_repo
from storage.repositories import tracks as track_repo


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

# Labels raters plausibly confuse, for realistic disagreement.
NEIGHBOURS = {
    "mood": ["sleep_relax", "focus_study", "party"],
    "activity": ["workout", "focus_study", "commute_travel", "party"],
    "focus_study": ["mood", "activity"],
    "workout": ["activity", "party"],
    "sleep_relax": ["mood", "focus_study"],
    "party": ["mood", "workout"],
    "genre_exploration": ["discovery", "era_nostalgia"],
    "similar_to_artist": ["similar_to_track", "discovery"],
    "similar_to_track": ["similar_to_artist"],
    "era_nostalgia": ["genre_exploration", "mood"],
    "discovery": ["genre_exploration", "similar_to_artist"],
    "refine_playlist": ["discovery", "mood"],
    "romance": ["mood", "party"],
    "commute_travel": ["activity", "mood"],
    "hate": ["harassment"],
    "harassment": ["hate", "violence", "safe"],
    "sexual": ["harassment", "safe"],
    "self_harm": ["safe", "violence"],
    "violence": ["harassment", "safe"],
    "illicit": ["safe", "violence"],
    "privacy_pii": ["harassment", "safe"],
    "jailbreak_injection": ["safe", "illicit"],
    "safe": ["harassment", "violence"],
}
HARD_STYLES = {"ambiguous", "multi_intent", "slang", "typo"}
DEMO_SEED = 20261127


def _rater_value(rng: random.Random, truth: str, accuracy: float, labels: list[str]) -> str:
    if rng.random() < accuracy:
        return truth
    options = [n for n in NEIGHBOURS.get(truth, []) if n in labels] or [
        lab for lab in labels if lab != truth
    ]
    return rng.choice(options)


def _demo_labels(
    *, task: Task, examples: list[dict], ids: dict[str, int], raters: list[tuple[int, DemoAccount]],
    share: float, rng: random.Random,
) -> list[dict]:
    """Labels by the demo raters on a share of the items: two raters on most, one on some."""
    rows, now = [], utcnow()
    chosen = rng.sample(examples, k=int(len(examples) * share))
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
                "value": _rater_value(rng, truth, accuracy, task.labels),
                "slots": example.get("slots", {}) if rng.random() < 0.8 else {},
                "unsure": style in HARD_STYLES and rng.random() < 0.2,
                "source": LabelSource.rater.value, "shown_at": shown,
                "submitted_at": shown + timedelta(seconds=seconds), "seconds": seconds,
                "guideline_version": 1, "strategy": "kmeans_seed" if n < 40 else "random",
                "selection_score": None, "batch_id": batch, "is_gold": False,
                "superseded": False,
            })
    return rows


def _create_demo_task(*, session: Session, spec: dict, ordered: bool = False) -> Task:
    return create_task(
        session=session, name=spec["name"], kind=spec["kind"], labels=spec["labels"],
        guideline=spec["guideline"], oos_label=spec.get("oos_label"), ordered=ordered,
        slot_schema=spec.get("slots"), actor="demo",
    )


def seed_demo(
    *, engine: Engine, encoder: Encoder, progress: ProgressCallback | None = None
) -> dict[str, int]:
    """Fill an empty, migrated database with the demo project; return what was added."""
    intent_spec, safety_spec = load_intent_task(), load_safety_task()
    intent_examples = [{**p, "label": p["intent"]} for p in load_intent_prompts()]
    safety_examples = load_safety_prompts()
    all_texts = [e["text"] for e in intent_examples + safety_examples]
    with Session(engine) as session:
        vectors = embeddings.encode_missing(
            session=session, encoder=encoder, texts=all_texts, progress=progress
        )
    rng = random.Random(DEMO_SEED)
    with session_scope(engine) as session:
        if task_repo.list_tasks(session=session):
            raise ValueError("the database has tasks already; the demo goes into an empty one")
        accounts = [
            (create_account(session=session, username=a.username, password=a.password,
                            role=a.role, display_name=a.display_name, actor="demo").id, a)
            for a in DEMO_ACCOUNTS
        ]
        raters = [(i, a) for i, a in accounts if a.role == "rater"]
        counts: dict[str, int] = {}
        for spec, examples, share in ((intent_spec, intent_examples, 0.45),
                                      (safety_spec, safety_examples, 0.6)):
            task = _create_demo_task(session=session, spec=spec)
            added = add_texts(
                session=session, task=task, texts=[e["text"] for e in examples],
                labels=[None] * len(examples), source="demo", encoder=encoder, vectors=vectors,
            )
            rows = _demo_labels(task=task, examples=examples, ids=added.ids, raters=raters,
                                share=share, rng=rng)
            label_repo.add_many(session=session, rows=rows)
            counts[f"{task.name}_items"] = added.items_added
            counts[f"{task.name}_labels"] = len(rows)
        tracks = generate_demo_catalogue()
        track_repo.add_many(session=session, rows=tracks)
        counts["tracks"] = len(tracks)
        counts["accounts"] = len(accounts)
        audit.record(session=session, actor="demo", action="demo.seed", entity="project",
                     after=counts)
    for task_name in (intent_spec["name"], safety_spec["name"]):
        summary = recompute(engine=engine, task_name=task_name)
        counts[f"{task_name}_to_adjudicate"] = summary.needs_adjudication
    return counts
