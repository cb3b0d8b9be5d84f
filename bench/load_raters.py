"""A team under load: N raters in separate processes, a lead retraining and promoting, a reviewer
adjudicating, all on one database (issue 14).

    python -m bench.load_raters --db URL --raters N --seconds S [--lease-seconds 3] [--seed 0]

``--db`` is an empty database (SQLite file URL or PostgreSQL); it is migrated and filled with a
task ``load`` (2,000 generated music prompts, batches of 20, two raters per item, margin
selection, the fast hashing encoder: the load is on the database, not the model), N rater
accounts, a lead and a reviewer. Then, for ``S`` seconds:

- each rater (its own process) asks for their run (``queue.upcoming``), answers the first item
  (10% skips with a reason, 10% unsure, the rest a label that mostly agrees with the other
  rater), asks for the next, and selects the next batch in a background thread when running
  low, as the Label page does; now and then (2%) a rater walks away holding their run until the
  leases run out, then answers the old prompt anyway (a late answer: stored, or refused when the
  item went to someone else);
- the lead recomputes consensus, retrains, promotes the newest version (forced, with a
  reason) and refills, every few seconds;
- the reviewer settles the disagreements waiting for adjudication.

The lease time is set to ``--lease-seconds`` (default 3 s, below the product's 30 s minimum,
written straight into the task) so leases run out within a short run.

It prints one JSON line: ``lost`` (answers a rater was told were saved with no label in the
database), ``over_k`` (items with more live rater labels than the raters they want), ``twice``
(a rater with two live labels on one item), ``labels_per_s``, ``p95_ms`` and ``median_ms`` of
"submit and get the next item", and counts of refusals and of unexpected errors (anything that
is not one of the workbench's own refusals). ``run`` is the same as a function (the test suite
runs a small version on SQLite and PostgreSQL).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from sqlmodel import func, select

from labeling.exceptions import LabelingError
from labeling.lifecycle import registry
from labeling.lifecycle.training import retrain
from labeling.ml.encoders import HashingEncoder
from labeling.project.accounts import create_account
from labeling.project.authz import ActingAccount, Operator
from labeling.project.importing import import_file
from labeling.project.tasks import create_task, update_settings
from labeling.queue import assignments as queue
from labeling.review import adjudication
from labeling.review.consensus import recompute
from labeling.text.pii import redact
from storage.db import make_engine, migrate, session_scope
from storage.models import Item, Label, LabelSource, Task

TASK = "load"
LABELS = ("calm", "workout", "focus", "party", "sleep")
WORDS = ("chill", "upbeat", "quiet", "loud", "late night", "sunday", "rainy", "summer")
ACTIVITIES = ("running", "coding", "cooking", "driving", "reading", "dancing")
PROMPTS = 2000
OPERATOR = Operator("cli:load-bench")
PASSWORD = "load-bench-password"


def setup(url: str, *, raters: int, lease_seconds: float, folder: Path) -> dict[str, Any]:
    """Migrate the empty database at ``url`` and fill it; the account ids."""
    engine = make_engine(url)
    try:
        migrate(engine)
        create_task(engine=engine, name=TASK, kind="intent", labels=list(LABELS),
                    actor=OPERATOR)
        update_settings(engine=engine, task_name=TASK, actor=OPERATOR, changes={
            "batch_size": 20, "overlap_k": 2, "gold_share": 0.0, "strategy": "margin"})
        pool = folder / "pool.jsonl"
        rng = random.Random(0)
        pool.write_text("".join(
            json.dumps({"text": f"{rng.choice(WORDS)} songs for {rng.choice(ACTIVITIES)} {i}"})
            + "\n" for i in range(PROMPTS)), encoding="utf-8")
        import_file(engine=engine, task_name=TASK, path=pool, encoder=HashingEncoder(),
                    actor=OPERATOR)
        with session_scope(engine) as session:  # below the settings' minimum, on purpose
            task = session.exec(select(Task).where(Task.name == TASK)).one()
            task.lease_seconds = max(1, round(lease_seconds))
            session.add(task)
        ids = {
            "raters": [create_account(engine=engine, username=f"rater{i}", password=PASSWORD,
                                      role="rater", actor=OPERATOR).id for i in range(raters)],
            "lead": create_account(engine=engine, username="lead", password=PASSWORD,
                                   role="lead", actor=OPERATOR).id,
            "reviewer": create_account(engine=engine, username="reviewer", password=PASSWORD,
                                       role="reviewer", actor=OPERATOR).id,
        }
        queue.refill(engine=engine, actor=OPERATOR, task_name=TASK, encoder=HashingEncoder())
        return ids
    finally:
        engine.dispose()


def _answer(rng: random.Random, item_id: int) -> tuple[str, str | None]:
    """("skip"|"unsure"|"label", value): raters agree on most items, not all."""
    roll = rng.random()
    if roll < 0.10:
        return "skip", None
    if roll < 0.20:
        return "unsure", None
    agreed = LABELS[item_id % len(LABELS)]
    return "label", agreed if rng.random() < 0.8 else rng.choice(LABELS)


def _start(start: Any, seconds: float) -> float:
    """Warm up, report ready, wait for the common start, and return this worker's deadline.

    The warm-up loads what the first answer would load lazily (the PII recognisers), as a
    running app has long done: the figures are for a team at work, not for processes starting.
    """
    redact("warming up: call me at 555-0100")
    start["ready"].put(1)
    start["go"].wait()
    return time.monotonic() + seconds


class _Outcomes:
    """What a simulated user's calls ended in: the workbench's own refusals by kind, and
    anything else (unexpected: the bench's failures) with its message."""

    def __init__(self) -> None:
        self.refused: Counter = Counter()
        self.unexpected: Counter = Counter()

    def call(self, what: str, call: Any) -> Any:
        """``call()``'s result, or ``None`` after counting what it raised."""
        try:
            return call()
        except LabelingError as exc:
            self.refused[f"{what}: {type(exc).__name__}"] += 1
        except Exception as exc:  # noqa: BLE001 - counted, reported in the JSON line
            self.unexpected[f"{what}: {type(exc).__name__}: {exc}"[:200]] += 1
        return None

    def report(self) -> dict[str, Any]:
        return {"refused": dict(self.refused), "unexpected": dict(self.unexpected)}


class _Rater:
    """One rater's session in their own process: what they were told was saved, their
    latencies, refusals and unexpected errors."""

    def __init__(self, url: str, rater_id: int, seed: int, lease_seconds: float) -> None:
        self.engine, self.encoder = make_engine(url), HashingEncoder()
        self.rater_id, self.actor = rater_id, ActingAccount(rater_id)
        self.rng, self.lease_seconds = random.Random(seed), lease_seconds
        self.saved: list[int] = []
        self.latencies: list[float] = []
        self.outcomes = _Outcomes()
        self._call = self.outcomes.call
        self.refilling: threading.Thread | None = None

    def _upcoming(self) -> queue.Run | None:
        return self._call("upcoming", lambda: queue.upcoming(
            engine=self.engine, actor=self.actor, task_name=TASK, encoder=self.encoder))

    def _refill_in_background(self) -> None:
        """As the Label page does: one refill at a time, off the rater's path."""
        if self.refilling is None or not self.refilling.is_alive():
            self.refilling = threading.Thread(daemon=True, target=self._call, args=(
                "refill", lambda: queue.refill(engine=self.engine, actor=self.actor,
                                               task_name=TASK, encoder=self.encoder)))
            self.refilling.start()

    def _answer(self, item: queue.QueueItem) -> None:
        kind, value = _answer(self.rng, item.item_id)
        if kind == "skip":
            self._call("skip", lambda: queue.skip(
                engine=self.engine, actor=self.actor, assignment_id=item.assignment_id,
                reason="Not a music request"))
            return
        stored = self._call("submit", lambda: queue.submit(
            engine=self.engine, actor=self.actor, assignment_id=item.assignment_id,
            value=queue.UNSURE if kind == "unsure" else value, unsure=kind == "unsure",
            seconds=self.rng.uniform(1, 6)) or True)
        if stored:
            self.saved.append(item.item_id)

    def work(self, deadline: float) -> dict[str, Any]:
        run = self._upcoming()
        while time.monotonic() < deadline:
            if run is not None and run.running_low:
                self._refill_in_background()
            if run is None or not run.items:
                time.sleep(0.05)
                run = self._upcoming()
                continue
            if self.rng.random() < 0.02:  # walks away; the run's leases run out meanwhile
                time.sleep(self.lease_seconds + 0.5)
            started = time.perf_counter()
            self._answer(run.items[0])
            run = self._upcoming()
            self.latencies.append(time.perf_counter() - started)
        if self.refilling is not None:
            self.refilling.join(timeout=60)
        self.engine.dispose()
        return {"rater_id": self.rater_id, "saved": self.saved, "latencies": self.latencies,
                **self.outcomes.report()}


def _rater(url: str, rater_id: int, seconds: float, seed: int, lease_seconds: float,
           start: Any) -> dict[str, Any]:
    rater = _Rater(url, rater_id, seed, lease_seconds)
    return rater.work(_start(start, seconds))


def _lead(url: str, lead_id: int, seconds: float, folder: str, start: Any) -> dict[str, Any]:
    """Recompute, retrain, promote the newest, refill: every few seconds."""
    engine, encoder, actor = make_engine(url), HashingEncoder(), ActingAccount(lead_id)
    deadline = _start(start, seconds)
    done, outcomes = Counter(), _Outcomes()
    try:
        while time.monotonic() < deadline:
            for name, step in (
                ("recompute", lambda: recompute(engine=engine, actor=actor, task_name=TASK)),
                ("retrain", lambda: retrain(engine=engine, task_name=TASK, encoder=encoder,
                                            models_dir=Path(folder) / "models", actor=actor)),
                ("promote", lambda: registry.promote(
                    engine=engine, task_name=TASK, version=None, actor=actor, encoder=encoder,
                    force=True, reason="load bench")),
                ("refill", lambda: queue.refill(engine=engine, actor=actor, task_name=TASK,
                                                encoder=encoder)),
            ):
                if outcomes.call(name, lambda step=step: step() or True):
                    done[name] += 1
            time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
    finally:
        engine.dispose()
    return {"done": dict(done), **outcomes.report()}


def _reviewer(url: str, reviewer_id: int, seconds: float, start: Any) -> dict[str, Any]:
    """Settle the waiting disagreements, least confident first."""
    engine, actor = make_engine(url), ActingAccount(reviewer_id)
    deadline = _start(start, seconds)
    decided, outcomes = 0, _Outcomes()

    def decide(case: Any) -> bool:
        answers = [lab.value for lab in case.labels if lab.value in LABELS]
        adjudication.decide(engine=engine, actor=actor, task_name=TASK, item_id=case.item_id,
                            value=answers[0] if answers else LABELS[0], note="load bench")
        return True

    try:
        while time.monotonic() < deadline:
            cases = outcomes.call("cases", lambda: adjudication.cases(
                engine=engine, actor=actor, task_name=TASK, limit=5)) or []
            decided += sum(bool(outcomes.call("decide", lambda c=case: decide(c)))
                           for case in cases[:2])
            time.sleep(0.5)
    finally:
        engine.dispose()
    return {"decided": decided, **outcomes.report()}


def ledger(url: str, saved: dict[int, list[int]]) -> dict[str, int]:
    """From the database: lost answers, items over their raters, a rater twice on an item."""
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            rater_labels = session.exec(select(Label.item_id, Label.rater_id, Label.unsure,
                                               Label.superseded).where(
                Label.source == LabelSource.rater)).all()
            extra = dict(session.exec(select(Item.id, Item.extra_raters)).all())
            k = session.exec(select(Task.overlap_k).where(Task.name == TASK)).one()
            labels = session.exec(select(func.count()).select_from(Label).where(
                Label.source == LabelSource.rater)).one()
    finally:
        engine.dispose()
    stored = {(item, rater) for item, rater, _, _ in rater_labels}
    live = Counter((item, rater) for item, rater, _, superseded in rater_labels if not superseded)
    counted = Counter(item for item, _, unsure, superseded in rater_labels
                      if not superseded and not unsure)
    lost = sum((item, rater) not in stored for rater, items in saved.items() for item in items)
    return {"lost": lost, "over_k": sum(n > k + extra.get(i, 0) for i, n in counted.items()),
            "twice": sum(n > 1 for n in live.values()), "labels": int(labels)}


def run(url: str, *, raters: int, seconds: float, lease_seconds: float = 3.0,
        seed: int = 0) -> dict[str, Any]:
    """Set up, run the team for ``seconds``, and return the figures (the JSON line)."""
    with tempfile.TemporaryDirectory(prefix="load-raters.") as folder:
        ids = setup(url, raters=raters, lease_seconds=lease_seconds, folder=Path(folder))
        context = multiprocessing.get_context("spawn")
        with context.Manager() as manager, ProcessPoolExecutor(
                max_workers=raters + 2, mp_context=context) as pool:
            start = {"ready": manager.Queue(), "go": manager.Event()}
            rater_jobs = [pool.submit(_rater, url, rater_id, seconds, seed + i, lease_seconds,
                                      start) for i, rater_id in enumerate(ids["raters"])]
            lead_job = pool.submit(_lead, url, ids["lead"], seconds, folder, start)
            reviewer_job = pool.submit(_reviewer, url, ids["reviewer"], seconds, start)
            for _ in range(raters + 2):  # every process imported and connected
                start["ready"].get(timeout=600)
            started = time.perf_counter()
            start["go"].set()
            results = [job.result() for job in rater_jobs]
            lead, reviewer = lead_job.result(), reviewer_job.result()
            elapsed = time.perf_counter() - started
    figures = ledger(url, {r["rater_id"]: r["saved"] for r in results})
    latencies = np.array([t for r in results for t in r["latencies"]]) * 1000
    refused: Counter = Counter()
    unexpected: Counter = Counter()
    for part in [*results, lead, reviewer]:
        refused.update(part["refused"])
        unexpected.update(part["unexpected"])
    return {
        "database": url.split(":", 1)[0].split("+", 1)[0], "raters": raters,
        "seconds": round(elapsed, 1), **figures,
        "labels_per_s": round(figures["labels"] / elapsed, 1),
        "p95_ms": round(float(np.percentile(latencies, 95)), 1) if latencies.size else None,
        "median_ms": round(float(np.median(latencies)), 1) if latencies.size else None,
        "worst_ms": round(float(latencies.max()), 1) if latencies.size else None,
        "answers": int(latencies.size), "refused": dict(refused),
        "unexpected": dict(unexpected), "lead": lead["done"], "adjudicated": reviewer["decided"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="an empty database's URL")
    parser.add_argument("--raters", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--lease-seconds", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.db, raters=args.raters, seconds=args.seconds,
                         lease_seconds=args.lease_seconds, seed=args.seed)))


if __name__ == "__main__":
    main()
