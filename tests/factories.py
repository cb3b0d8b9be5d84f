"""Test factories: tasks, accounts and files made the way a user would make them."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from sqlalchemy import MetaData, select
from sqlalchemy.engine import Engine
from streamlit.testing.v1 import AppTest

from labeling.project.accounts import create_account
from labeling.project.authz import ActingAccount, Operator
from labeling.project.importing import import_file
from labeling.project.tasks import create_task, update_settings
from labeling.queue import assignments as queue

CLI = Operator("cli:test")
"""The command-line operator: sets tests up with every capability, audited as ``cli:test``."""


def acting(account_id: int) -> ActingAccount:
    """The account ``account_id`` as the actor of a service call (its role read from the DB)."""
    return ActingAccount(account_id)


def make_task(engine: Engine, *, name: str = "music", kind: str = "intent",
              labels: tuple[str, ...] = ("mood", "workout", "sleep", "out_of_scope"),
              oos_label: str | None = "out_of_scope") -> None:
    create_task(engine=engine, name=name, kind=kind, labels=list(labels),
                oos_label=oos_label if oos_label in labels else None, actor=CLI)


def make_account(engine: Engine, *, username: str = "ana", role: str = "rater",
                 password: str = "correct-horse") -> int:
    return create_account(engine=engine, username=username, password=password, role=role,
                          actor=CLI).id


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


SAMPLE_ROWS = [
    {"text": "chill songs for a rainy morning", "label": "mood"},
    {"text": "gym bangers no cap", "label": "workout"},
    {"text": "help me fall asleep", "label": "sleep"},
    {"text": "what's the weather tomorrow", "label": "out_of_scope"},
    {"text": "upbeat tunes to lift my mood", "label": "mood"},
]


def snapshot(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of every table, to check that a refused command changed nothing."""
    metadata = MetaData()
    metadata.reflect(bind=engine)
    out: dict[str, list[tuple]] = {}
    with engine.connect() as connection:
        for name, table in sorted(metadata.tables.items()):
            rows = connection.execute(select(table)).all()
            out[name] = sorted(tuple(map(repr, row)) for row in rows)
    return out


MOODS = ["sad", "happy", "calm", "angry", "dreamy", "dark"]
ACTIVITIES = ["running", "cooking", "studying", "driving"]


def make_queue_task(engine: Engine, encoder, tmp_path: Path, *, n_items: int = 24,
                    batch_size: int = 5, k: int = 2) -> None:
    """A music task with ``n_items`` unlabeled prompts and queue settings for tests."""
    labels = ("mood", "workout", "sleep", "out_of_scope")
    create_task(engine=engine, name="music", kind="intent", labels=list(labels),
                oos_label="out_of_scope",
                slot_schema={"mood": {"values": MOODS}, "duration": {"values": None}}, actor=CLI)
    update_settings(engine=engine, task_name="music", actor=CLI, changes={
        "batch_size": batch_size, "overlap_k": k, "gold_share": 0.0, "strategy": "margin",
    })
    texts = [f"{MOODS[i % 6]} songs for {ACTIVITIES[i % 4]} number {i}" for i in range(n_items)]
    path = write_jsonl(tmp_path / "pool.jsonl", [{"text": t} for t in texts])
    import_file(engine=engine, task_name="music", path=path, encoder=encoder, actor=CLI)


def label_all(engine: Engine, encoder, raters: list[int], choose, *, task: str = "music") -> None:
    """Every rater (an account id) labels until the queue is empty; ``choose(rater, item_id)``
    gives the value."""
    for _ in range(200):
        progressed = False
        for rater in raters:
            item = queue.next_item(engine=engine, actor=acting(rater), task_name=task,
                                   encoder=encoder, rng=random.Random(0))
            if item is None:
                continue
            progressed = True
            queue.submit(engine=engine, actor=acting(rater), assignment_id=item.assignment_id,
                         value=choose(rater, item.item_id))
        if not progressed:
            return


def signed_in_app(main: str, username: str, password: str):
    """An AppTest of ``main`` with ``username`` signed in."""
    at = AppTest.from_file(main, default_timeout=60).run()
    at.text_input(key="sign_in_username").input(username)
    at.text_input(key="sign_in_password").input(password)
    at.button(key="sign_in").click()
    return at.run()


WORDS = {"mood": "songs feeling", "sleep": "fall asleep quiet night",
         "workout": "gym run lift fast"}


def labeled_rows(n: int, start: int = 0) -> list[dict]:
    """Labeled prompts (mood, sleep, workout in turn) whose words carry the label, so the
    hashing encoder can learn them."""
    labels = list(WORDS)
    return [{"text": f"{WORDS[labels[i % 3]]} {MOODS[i % 6]} {ACTIVITIES[i % 4]} {i}",
             "label": labels[i % 3]} for i in range(start, start + n)]


def import_labeled(engine: Engine, encoder, tmp_path: Path, rows: list[dict], *,
                   name: str = "labeled.jsonl", task: str = "music") -> None:
    import_file(engine=engine, task_name=task, path=write_jsonl(tmp_path / name, rows),
                encoder=encoder, label_col="label", actor=CLI)


def register_confused_model(engine: Engine, encoder, models_dir: Path, *, version: int,
                            task: str = "music", n: int = 255) -> None:
    """Register a version that never answers "sleep" (fitted with sleep labeled as mood) and
    claims a macro-F1 of 0.99 it never earned: the promotion gate must not believe it."""
    from labeling.lifecycle.model_files import save_model
    from labeling.ml.calibration import TemperatureScaledClassifier
    from labeling.ml.classifier import make_classifier
    from storage.db import session_scope
    from storage.models import ModelVersion, Task

    rows = labeled_rows(n)
    labels = ["mood" if r["label"] == "sleep" else r["label"] for r in rows]
    X = encoder.encode([r["text"] for r in rows])
    model = TemperatureScaledClassifier(make_classifier().fit(X, labels))
    path = models_dir / task / f"v{version}.skops"
    with session_scope(engine) as session:
        task_id = session.exec(select(Task.id).where(Task.name == task)).scalar_one()
        session.add(ModelVersion(task_id=task_id, version=version, label_snapshot_hash="x",
                                 file_path=str(path), file_hash=save_model(model, path),
                                 trained_by="test", metrics={"macro_f1": 0.99},
                                 settings={"encoder": encoder.name,
                                           "eval_overlap_item_ids": []}))


def log_preview_impressions(engine: Engine, router, *, n: int, exploration: float,
                            config=None, start: int = 0) -> list[int]:
    """Route ``n`` in-scope demo prompts the way the Preview does (with ``exploration``),
    log each list shown and give it feedback by a fixed rule (``feedback_rule``); returns the
    impression ids."""
    from labeling.dataio.demo_content import load_intent_prompts
    from routing import session as preview_session
    from routing.preview import log_impression, record_feedback

    prompts = [p["text"] for p in load_intent_prompts() if p.get("intent") != "out_of_scope"]
    times, devices = (None, "morning", "evening"), (None, "phone")
    ids: list[int] = []
    for i in range(start, start + 10 * n):
        if len(ids) == n:
            break
        state = preview_session.start(prompts[i % len(prompts)], time_of_day=times[i % 3],
                                      device=devices[i % 2])
        result = router.route(state.prompt, config=config, exploration=exploration,
                              use_cache=False, **state.route_arguments())
        impression = log_impression(engine=engine, actor=CLI, result=result, state=state,
                                    session_id=f"session-{i}")
        if impression is None:
            continue
        ids.append(impression)
        for position, track in enumerate(result.tracks, start=1):
            for action in feedback_rule(impression, position):
                record_feedback(engine=engine, actor=CLI, impression_id=impression,
                                track_id=str(track["track_id"]), action=action)
    return ids


def feedback_rule(impression: int, position: int) -> list[str]:
    """The actions the test users take at a position (a few likes, saves and skips)."""
    key = impression * 7 + position
    return [action for action, every in (("like", 3), ("save", 5), ("skip", 4))
            if key % every == 0]


_DEMO_TEMPLATE: dict[str, Path] = {}


def demo_database(tmp_path_factory) -> Path:
    """A folder with the demo project's SQLite database and its trained models (``models/``),
    built once per test run and shared: copy it before changing anything."""
    if "folder" not in _DEMO_TEMPLATE:
        from app.demo import seed_demo
        from labeling.ml.encoders import HashingEncoder
        from storage.db import make_engine, migrate

        folder = tmp_path_factory.mktemp("demo_template")
        engine = make_engine(f"sqlite:///{folder / 'workbench.db'}")
        migrate(engine)
        seed_demo(engine=engine, encoder=HashingEncoder(), models_dir=folder / "models")
        engine.dispose()
        _DEMO_TEMPLATE["folder"] = folder
    return _DEMO_TEMPLATE["folder"]


def demo_router(folder: Path, *, seed: int):
    """A router over the demo database in ``folder`` (hashing encoder), loaded once."""
    from labeling.ml.encoders import HashingEncoder
    from routing.router import Router
    from storage.db import make_engine

    engine = make_engine(f"sqlite:///{folder / 'workbench.db'}")
    try:
        return Router.load(engine=engine, encoder=HashingEncoder(), actor=CLI, seed=seed)
    finally:
        engine.dispose()


def demo_copy(folder: Path, tmp_path: Path, monkeypatch, **env: str) -> Engine:
    """A copy of the demo database in ``tmp_path`` that the app and CLI read (their settings
    point at it, hashing encoder, plus ``env``); returns its engine."""
    import shutil

    from storage.db import make_engine

    shutil.copy(folder / "workbench.db", tmp_path / "workbench.db")
    url = f"sqlite:///{tmp_path / 'workbench.db'}"
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", url)
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WORKBENCH_ENCODER", "hashing")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("WORKBENCH_DEMO", raising=False)
    return make_engine(url)


TEAM = (("ada", "admin"), ("leo", "lead"), ("ana", "rater"))
"""Accounts of ``add_team``: each signs in with ``<name>-password``."""


def add_team(engine: Engine) -> None:
    """An admin, a lead and a rater, created by the command-line operator."""
    from labeling.project import accounts as svc

    for name, role in TEAM:
        svc.create_account(engine=engine, username=name, password=f"{name}-password",
                           role=role, actor=CLI)


def run_together(*calls, timeout: float = 120) -> list:
    """Run each zero-argument call in its own thread at once; each one's result, or the
    exception it raised, in the order given (a race test's boilerplate, once)."""
    import threading

    outcomes: list = [None] * len(calls)

    def run(index: int, call) -> None:
        try:
            outcomes[index] = call()
        except Exception as exc:  # noqa: BLE001 - handed back to the test
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return outcomes


ROOT = Path(__file__).resolve().parents[1]


def run_and_kill(db_url: str, script: str, marker: Path) -> None:
    """Run ``script`` in a new Python process (``DB_URL`` and ``MARKER`` in its environment)
    and kill it with SIGKILL the moment it creates ``marker``: a process that dies mid-work
    (the OOM killer, a pulled plug), after what it wrote so far but before it commits."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DB_URL": db_url, "MARKER": str(marker)}
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not marker.exists():
        if process.poll() is not None:
            raise AssertionError(process.stderr.read().decode())
        assert time.monotonic() < deadline, "the subprocess never reached the kill point"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def shown(markdown: str) -> str:
    """The characters a message's Markdown shows (service messages come escaped: ``describe``)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)
