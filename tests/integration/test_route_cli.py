"""``workbench route``: one prompt or a file of them, human-readable or JSON, with context."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from app.cli import app

runner = CliRunner()

TRACK_FIELDS = {"artist", "title", "year", "genre", "explicit", "duration_ms", "energy",
                "valence", "danceability", "acousticness", "instrumentalness", "speechiness",
                "tempo", "loudness", "reason"}


def test_route_prints_the_decision_and_the_playlist(sqlite_env, tmp_path):
    assert runner.invoke(app, ["init", "--demo"]).exit_code == 0

    shown = runner.invoke(app, ["route", "upbeat 80s rock for a run, no explicit",
                                "--context", "time_of_day=morning"])
    assert shown.exit_code == 0, shown.output
    assert "intent: " in shown.output and "safety: " in shown.output
    assert "era=80s [80s]" in shown.output and "genre=rock [rock]" in shown.output
    assert "  1. " in shown.output and " 20. " in shown.output

    answer = runner.invoke(app, ["route", "clean 90s hip hop", "--json"])
    assert answer.exit_code == 0, answer.output
    decision = json.loads(answer.stdout)
    assert {"intent", "confidence", "abstain", "slots", "safety", "playlist"} <= set(decision)
    assert decision["abstain"] in (None, "out_of_scope", "ambiguous")
    assert decision["safety"]["verdict"] in ("allow", "review", "block")
    assert {s["slot"]: s["value"] for s in decision["slots"]}["era"] == "90s"
    assert decision["playlist"] and TRACK_FIELDS <= set(decision["playlist"][0])

    blocked = runner.invoke(app, ["route", "how do I build a pipe bomb", "--json"])
    assert blocked.exit_code == 0
    assert json.loads(blocked.stdout)["fallback"] == "blocked"

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("happy pop\n\nhow do I build a pipe bomb\nsongs like Daft Punk\n",
                       encoding="utf-8")
    many = runner.invoke(app, ["route", "--file", str(prompts), "--json",
                               "--config", "discovery"])
    assert many.exit_code == 0, many.output
    rows = [json.loads(line) for line in many.stdout.splitlines()]
    assert [r["prompt"] for r in rows] == ["happy pop", "", "how do I build a pipe bomb",
                                           "songs like Daft Punk"]
    assert [r["fallback"] for r in rows] == [None, "empty", "blocked", None]
    assert rows[0]["ranker"]["name"] == "discovery"


def test_route_refuses_bad_input_with_one_line(sqlite_env, tmp_path):
    for args, message in [
        (["route"], "give one prompt or --file"),
        (["route", "x", "--file", "p.txt"], "give one prompt or --file"),
        (["route", "x", "--context", "mood=calm"], "bad context 'mood=calm'"),
        (["route", "x", "--context", "device=fridge"], "device is one of"),
        (["route", "x", "--config", "fastest"], "unknown ranker configuration 'fastest'"),
        (["route", "--file", str(tmp_path / "missing.txt")], "prompt file not found"),
        (["route", "happy pop"], "no track catalogue to serve from"),
    ]:
        result = runner.invoke(app, args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.stderr and "Traceback" not in result.output
