"""The demo project: every page has something to show on first start."""

from __future__ import annotations

import json
from collections import defaultdict

from typer.testing import CliRunner

from app.cli import app
from app.demo import seed_demo
from labeling.project.accounts import authenticate
from labeling.project.demo import DEMO_ACCOUNTS
from labeling.project.exporting import label_rows
from routing.tracks import add_demo_catalogue
from storage.db import make_engine, session_scope
from storage.repositories import summary, tracks
from tests.factories import CLI

runner = CliRunner()


def test_demo_seed_fills_every_part(engine, encoder):
    counts = seed_demo(engine=engine, encoder=encoder)
    assert add_demo_catalogue(engine=engine, actor=CLI) == 0  # the catalogue is stored once
    assert counts["intent_items"] >= 600 and counts["safety_items"] >= 150
    assert counts["tracks"] >= 3000 and counts["accounts"] == 4
    assert counts["intent_to_adjudicate"] > 0  # the Adjudicate page has work on first start
    with session_scope(engine) as session:
        per_task = {row["task"]: row for row in summary.per_task(session=session)}
        assert tracks.count(session=session) == counts["tracks"]
    for account in DEMO_ACCOUNTS:
        assert authenticate(engine=engine, username=account.username,
                            password=account.password).role == account.role
    intent = label_rows(engine=engine, actor=CLI, task_name="intent")
    assert per_task["intent"]["raters"] == 2 and per_task["safety"]["labels"] > 0
    by_item = defaultdict(set)
    for row in intent:
        assert row["rater"] in {"ana", "ben"} and row["guideline_version"] == 1
        assert row["seconds"] > 0 and row["shown_at"] < row["submitted_at"]
        by_item[row["item_id"]].add(row["value"])
    disagreements = sum(len(values) > 1 for values in by_item.values())
    assert 0.05 * len(by_item) < disagreements < 0.5 * len(by_item)


def test_demo_is_deterministic(engine, encoder, tmp_path):
    seed_demo(engine=engine, encoder=encoder)
    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    from storage.db import migrate

    migrate(other)
    seed_demo(engine=other, encoder=encoder)
    first = [(r["text"], r["rater"], r["value"])
             for r in label_rows(engine=engine, actor=CLI, task_name="intent")]
    second = [(r["text"], r["rater"], r["value"])
              for r in label_rows(engine=other, actor=CLI, task_name="intent")]
    assert first == second


def test_cli_init_demo_then_export_prints_provenance(workbench_env):
    first = runner.invoke(app, ["init", "--demo"])
    assert first.exit_code == 0, first.output
    assert "intent_model=1" in first.output and "safety_model=1" in first.output
    models = runner.invoke(app, ["models", "list", "--task", "intent"])
    assert models.exit_code == 0 and "v1\t*\t" in models.output, models.output
    again = runner.invoke(app, ["init", "--demo"])
    assert again.exit_code == 0 and "left as it is" in again.output
    exported = runner.invoke(app, ["export", "--task", "intent", "--format", "jsonl"])
    assert exported.exit_code == 0
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert rows and {"rater", "shown_at", "submitted_at", "seconds", "guideline_version",
                     "strategy", "batch_id", "is_gold"} <= set(rows[0])
