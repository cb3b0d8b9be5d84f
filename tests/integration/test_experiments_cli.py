"""``workbench experiments``: evaluate the impression log, simulate with known truth, promote a
configuration; bad names, dates and a log without exploration get one line and no number."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from app.cli import app
from routing.promotion import preview_default
from routing.ranker import CONFIGS
from routing.router import Router
from tests.factories import (
    CLI,
    demo_copy,
    demo_database,
    demo_router,
    log_preview_impressions,
)

runner = CliRunner()
FAST = ["--rounds", "50", "--samples", "20"]
ALL_ESTIMATORS = ["ips", "snips", "dr", "independent_position", "sn_independent_position",
                  "reward_interaction", "sn_reward_interaction"]


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    return demo_database(tmp_path_factory)


@pytest.fixture(scope="module")
def router(demo_file) -> Router:
    return demo_router(demo_file, seed=7)


@pytest.fixture
def demo(demo_file, tmp_path, monkeypatch):
    engine = demo_copy(demo_file, tmp_path, monkeypatch)
    yield engine
    engine.dispose()


def test_evaluate_prints_estimates_and_verdicts(demo, router):
    log_preview_impressions(demo, router, n=32, exploration=0.3, config=CONFIGS["balanced"])
    result = runner.invoke(app, ["experiments", "evaluate", "--target", "discovery",
                                 "--baseline", "balanced", "--json", *FAST])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["configs"] == ["balanced", "discovery"] and report["used"] == 32
    assert report["explored"] is True and report["skipped"] == {}
    overall = [r for r in report["estimates"] if r["dimension"] == "all"]
    assert {(r["configuration"], r["estimator"]) for r in overall} == {
        (c, e) for c in ("balanced", "discovery")
        for e in ALL_ESTIMATORS}
    [ips] = [r for r in overall if (r["configuration"], r["estimator"]) == ("balanced", "ips")]
    assert ips["value"] == pytest.approx(report["logged_mean"], rel=0.02)
    assert ips["low"] <= ips["value"] <= ips["high"] and ips["refused"] is None
    assert {r["dimension"] for r in report["estimates"]} == {"all", "intent", "context"}
    assert len(report["verdicts"]) == len(ALL_ESTIMATORS)
    assert all(v["target"] == "discovery" and v["text"] for v in report["verdicts"])

    text = runner.invoke(app, ["experiments", "evaluate", "--target", "discovery",
                               "--by", "context", "--on-saves", *FAST])
    assert text.exit_code == 0, text.output
    assert "32 used" in text.stdout and "reward: like 0, save 1, skip 0" in text.stdout
    assert "verdicts against balanced:" in text.stdout and "context - / -" in text.stdout


def test_evaluate_refuses_bad_input_and_a_log_without_exploration(demo, router):
    for args, code, message in [
        (["--target", "fastest"], 1, "unknown ranker configuration 'fastest'"),
        (["--target", "balanced"], 1, "give a --target other than the baseline (balanced)"),
        (["--target", "discovery", "--since", "last week"], 2, "Invalid value for '--since'"),
        (["--target", "discovery", "--by", "mood"], 1, "--by is intent or context"),
        (["--target", "discovery"], 1, "no impressions logged"),
        (["--target", "discovery", "--like", "0", "--save", "0", "--skip", "0"], 1,
         "every reward weight is 0"),
    ]:
        result = runner.invoke(app, ["experiments", "evaluate", *args, *FAST])
        assert result.exit_code == code, (args, result.output)
        assert message in result.output, (args, result.output)
    log_preview_impressions(demo, router, n=5, exploration=0.0)
    refused = runner.invoke(app, ["experiments", "evaluate", "--target", "discovery", "--json",
                                  *FAST])
    assert refused.exit_code == 1
    assert "did not explore" in refused.output and refused.stdout == ""


def test_promote_makes_a_configuration_the_preview_default(demo):
    missing = runner.invoke(app, ["experiments", "promote", "discovery"])
    assert missing.exit_code == 2 and "--reason" in missing.output
    empty = runner.invoke(app, ["experiments", "promote", "discovery", "--reason", " "])
    assert empty.exit_code == 1 and "give a reason" in empty.output
    assert preview_default(engine=demo, actor=CLI) == "by intent"
    done = runner.invoke(app, ["experiments", "promote", "discovery", "--reason",
                               "more saves in November"])
    assert done.exit_code == 0, done.output
    assert "the preview now uses discovery by default" in done.stdout
    assert preview_default(engine=demo, actor=CLI) == "discovery"
    back = runner.invoke(app, ["experiments", "promote", "by-intent", "--reason", "undo"])
    assert back.exit_code == 0, back.output
    listed = runner.invoke(app, ["experiments", "promotions", "--json"])
    assert [(p["config"], p["reason"]) for p in json.loads(listed.stdout)] == [
        ("by intent", "undo"), ("discovery", "more saves in November")]


SIMULATE = ["experiments", "simulate", "--logging", "balanced", "--target", "balanced",
            "--target", "discovery", "--sessions", "150", "--requests", "8", "--samples", "20",
            "--truth-sessions", "400", "--rounds", "50", "--seed", "3"]


def test_simulate_prints_each_estimate_next_to_the_true_value(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("WORKBENCH_DATABASE_URL", raising=False)
    result = runner.invoke(app, [*SIMULATE, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["logging"], report["exploration"], report["size"], report["browsing"],
            report["sessions"]) == ("balanced", 0.3, 5, "cascade", 150)
    assert [t["name"] for t in report["targets"]] == ["balanced", "discovery"]
    for target in report["targets"]:
        assert isinstance(target["truth"], float)
        assert [e["estimator"] for e in target["estimates"]] == ALL_ESTIMATORS
        for e in target["estimates"]:
            if e["refused"] is None:
                assert e["low"] <= e["value"] <= e["high"]
                assert isinstance(e["covers_truth"], bool)
            else:
                assert "value" not in e and e["covers_truth"] is None
    [balanced] = [t for t in report["targets"] if t["name"] == "balanced"]
    assert all(e["refused"] is None for e in balanced["estimates"])  # the logging one itself
    assert {v["target"] for v in report["verdicts"]} == {"discovery"}
    assert all(isinstance(v["true_difference"], float) for v in report["verdicts"])
    assert not (tmp_path / "data" / "workbench.db").exists()


def test_simulate_without_exploration_refuses_with_a_message(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    result = runner.invoke(app, [*SIMULATE, "--exploration", "0", "--json"])
    assert result.exit_code == 1
    assert "cannot estimate: a log without exploration" in result.output
    assert result.stdout == ""
    unknown = runner.invoke(app, [*SIMULATE, "--browsing", "zigzag"])
    assert unknown.exit_code == 1 and "browsing is one of cascade, position" in unknown.output


def test_evaluate_compares_an_intent_model_version(demo, router):
    log_preview_impressions(demo, router, n=24, exploration=0.3, config=CONFIGS["balanced"])
    result = runner.invoke(app, ["experiments", "evaluate", "--target", "intent:v1",
                                 "--baseline", "balanced", "--json", *FAST])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["configs"] == ["balanced", "intent v1"]
    assert all(v["target"] == "intent v1" for v in report["verdicts"])
    unknown = runner.invoke(app, ["experiments", "evaluate", "--target", "intent:v7", *FAST])
    assert unknown.exit_code != 0 and "cannot judge" in unknown.output
    assert "Traceback" not in unknown.output
