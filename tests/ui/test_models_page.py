"""The models page (leads): train, compare, promote, roll back, and refusing a tampered file."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from labeling.lifecycle.comparison import compare_versions
from labeling.lifecycle.model_files import resolved_path
from labeling.lifecycle.training import retrain
from labeling.ml.encoders import HashingEncoder
from storage.db import make_engine, session_scope
from storage.models import Account, AuditEvent, ModelVersion
from storage.settings import Settings
from tests.factories import (
    CLI,
    WORDS,
    import_labeled,
    label_all,
    labeled_rows,
    make_account,
    make_queue_task,
    make_task,
    register_confused_model,
    signed_in_app,
)

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
PAGE = "app_pages/models.py"
pytestmark = [pytest.mark.ui, pytest.mark.slow(seconds=115)]

LABELS = ("mood", "sleep", "workout")


def _evaluated(macro_f1: float) -> dict:
    """Metrics as the evaluating trainer stores them (figures made up for the page)."""
    return {
        "n_train": 30, "n_eval": 10, "class_counts": {"mood": 10, "sleep": 10, "workout": 10},
        "accuracy": macro_f1 + 0.02, "macro_f1": macro_f1, "ece": 0.05,
        "per_class": [{"label": c, "precision": macro_f1, "recall": macro_f1, "f1": macro_f1,
                       "support": 3} for c in LABELS],
        "confusion": {"labels": list(LABELS), "matrix": [[3, 0, 0], [1, 2, 0], [0, 1, 3]]},
        "reliability": [{"bin_lower": 0.4, "bin_upper": 0.6, "confidence": 0.5,
                         "accuracy": 0.45, "count": 4},
                        {"bin_lower": 0.8, "bin_upper": 1.0, "confidence": 0.9,
                         "accuracy": 0.85, "count": 6}],
        "oos": {"label": "out_of_scope", "threshold": 0.4, "target_recall": 0.9,
                "in_scope_accuracy": 0.81, "oos_recall": 0.92},
        "train_seconds": 0.1,
    }


@pytest.fixture
def engine(sqlite_env, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    engine = make_engine(sqlite_env)
    make_queue_task(engine, HashingEncoder(), tmp_path, n_items=30, batch_size=10)
    make_account(engine, username="leo", role="lead", password="leo-password")
    return engine


@pytest.fixture
def labelled(engine):
    raters = [make_account(engine, username=f"r{i}") for i in range(2)]
    label_all(engine, HashingEncoder(), raters, lambda _rater, item: LABELS[item % 3])
    return engine


def _page():
    at = signed_in_app(MAIN, "leo", "leo-password")
    at.switch_page(PAGE).run()
    assert not at.exception
    return at


def _train_twice(engine) -> None:
    for _ in range(2):
        retrain(engine=engine, task_name="music", encoder=HashingEncoder(),
                models_dir=Settings().models_dir, actor=CLI)


def _set_metrics(engine, by_version: dict[int, dict]) -> None:
    with session_scope(engine) as session:
        for model in session.exec(select(ModelVersion)):
            if model.version in by_version:
                model.metrics = by_version[model.version]
                session.add(model)


def _serving(engine) -> list[int]:
    with session_scope(engine) as session:
        return list(session.exec(select(ModelVersion.version).where(ModelVersion.serving)))


def _table(at) -> dict[str, dict]:
    frame = at.dataframe[0].value
    return {row["version"]: row for row in frame.to_dict("records")}


def _click(at, key: str):
    at.button(key=key).click()
    at.run()
    assert not at.exception
    return at


def test_train_from_the_page_serves_v1_and_v2_waits(labelled):
    at = _click(_page(), "models_train")
    assert "Model v1 trained" in at.success[0].value and "serves now" in at.success[0].value
    assert _table(at)["v1"]["serving"] == "✓"
    assert _serving(labelled) == [1]
    at = _click(at, "models_train")
    assert "Model v2 trained" in at.success[0].value
    assert "waits for promotion" in at.success[0].value
    table = _table(at)
    assert (table["v1"]["serving"], table["v2"]["serving"]) == ("✓", "")
    assert table["v2"]["parent"] == "v1"
    assert _serving(labelled) == [1]


def test_versions_without_evaluation_show_dashes(labelled):
    _train_twice(labelled)
    _set_metrics(labelled, {1: {"n_train": 30, "class_counts": {"mood": 10}},
                            2: {"n_train": 30, "class_counts": {"mood": 10}}})
    at = _page()
    row = _table(at)["v2"]
    assert (row["n_train"], row["macro-F1"], row["ECE"], row["OOS recall"]) == (
        "30", "—", "—", "—")
    captions = " ".join(c.value for c in at.caption)
    assert "not evaluated" in captions
    assert not at.get("vega_lite_chart") and not at.error


def test_the_table_shows_how_many_pseudo_labels_a_self_trained_version_used(labelled):
    _train_twice(labelled)
    with session_scope(labelled) as session:
        model = session.exec(select(ModelVersion).where(ModelVersion.version == 2)).one()
        model.settings = {**model.settings, "self_training": True, "n_pseudo": 120}
        session.add(model)
    table = _table(_page())
    assert (table["v1"]["pseudo-labels"], table["v2"]["pseudo-labels"]) == ("—", "120")


@pytest.fixture
def imported(sqlite_env, tmp_path, monkeypatch):
    """255 imported labels in three classes (a held-out split of about 50) and two versions;
    the stored figures are made up and say v2 is worse."""
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    engine = make_engine(sqlite_env)
    make_task(engine, labels=tuple(WORDS), oos_label=None)
    make_account(engine, username="leo", role="lead", password="leo-password")
    import_labeled(engine, HashingEncoder(), tmp_path, labeled_rows(255))
    _train_twice(engine)
    _set_metrics(engine, {1: _evaluated(0.90), 2: _evaluated(0.50)})
    return engine


def _gate(at):
    (table,) = [t.value for t in at.table if list(t.value.columns) == ["verdict", "detail"]]
    return table


def _shared(engine, candidate: int, baseline: int | None = None):
    return compare_versions(engine=engine, actor=CLI, task_name="music", encoder=HashingEncoder(),
                            candidate=candidate, baseline=baseline)


def test_compare_scores_both_versions_on_the_same_items_not_their_stored_figures(imported):
    at = _page()
    assert (at.selectbox(key="compare_a").value, at.selectbox(key="compare_b").value) == (2, 1)
    shared = _shared(imported, 2, 1)
    assert any(f"current evaluation split: {shared.n_eval} held-out items" in c.value
               for c in at.caption)
    by_value = {(m.label, m.value) for m in at.metric}
    assert ("macro-F1", f"{shared.metrics[2]['macro_f1']:.3f}") in by_value
    assert ("macro-F1", f"{shared.metrics[1]['macro_f1']:.3f}") in by_value
    assert ("macro-F1", "0.500") not in by_value and ("macro-F1", "0.900") not in by_value
    # per-class F1 (grouped), confusion heatmap, reliability diagram
    assert len(at.get("vega_lite_chart")) == 3
    assert _table(at)["v2"]["macro-F1"] == "0.500"  # the table keeps the training-time figure


def test_promotion_passes_the_gate_on_shared_items_then_rolls_back(imported):
    at = _page()
    gate = _gate(at)
    assert set(gate["verdict"]) == {"✓ passes"} and not at.warning
    at = _click(at, "promote")
    assert "v2 serves now" in at.success[0].value and _serving(imported) == [2]
    assert at.selectbox(key="rollback_version").value == 1
    at = _click(at, "rollback")
    assert "v1 serves again" in at.success[0].value
    assert _serving(imported) == [1]
    assert _table(at)["v1"]["serving"] == "✓"


def test_the_page_shows_the_blocking_rule_then_a_forced_promotion(imported):
    register_confused_model(imported, HashingEncoder(), Settings().models_dir, version=3)
    at = _page()
    assert at.selectbox(key="promote_version").value == 3
    gate = _gate(at)
    assert gate.loc["class f1", "verdict"] == "✗ blocks" and "sleep" in gate.loc["class f1",
                                                                               "detail"]
    assert "gate would refuse v3 (macro f1, class f1, ece)" in at.warning[0].value
    at = _click(at, "promote")
    assert "not promoted" in at.error[0].value and _serving(imported) == [1]
    at.checkbox(key="promote_force").check().run()
    at = _click(at, "promote")
    assert "needs a reason" in at.error[0].value and _serving(imported) == [1]
    at.text_input(key="promote_reason").input("a test of forcing").run()
    at = _click(at, "promote")
    assert not at.error and "v3 serves now" in at.success[0].value
    assert _serving(imported) == [3]
    with session_scope(imported) as session:
        event = session.exec(select(AuditEvent).where(
            AuditEvent.action == "model.force_promote")).one()
    assert event.after["reason"] == "a test of forcing" and "sleep" in event.after["gate"]


def test_a_small_task_says_it_cannot_compare_and_asks_for_a_decision(labelled):
    _train_twice(labelled)
    at = _page()
    assert "not enough held-out items to compare" in at.warning[0].value
    assert any("Not enough held-out items to compare" in c.value for c in at.caption)
    at = _click(at, "promote")
    assert "not promoted" in at.error[0].value and _serving(labelled) == [1]


def test_a_tampered_file_is_not_promoted(imported):
    with session_scope(imported) as session:
        path = resolved_path(session.exec(select(ModelVersion.file_path)
                                          .where(ModelVersion.version == 2)).one())
    path.write_bytes(b"not the model we registered")
    at = _page()
    assert "changed after it was registered" in at.error[0].value
    assert "roll back" in at.error[0].value  # what to do next
    assert _serving(imported) == [1]


def test_an_empty_task_says_what_to_do(engine):
    at = _page()
    assert "no model yet" in at.info[0].value
    assert not at.get("vega_lite_chart")
    at = _click(at, "models_train")  # nothing is labelled: a message, not a traceback
    assert "Label more items" in at.error[0].value  # the training error, and what to do
    assert [list(d.value.columns) for d in at.dataframe] == [["id", "slot", "value", "phrase"]]


def test_the_lexicon_is_measured_and_leads_edit_it_version_by_version(engine):
    at = _page()
    assert any("Lexicon version 1, measured on 0 rater labels" in c.value for c in at.caption)
    assert any("No rater has labeled slots" in i.value for i in at.info)
    at.selectbox(key="lexicon_slot").set_value("mood")
    at.text_input(key="lexicon_value").input("calm")
    at.text_input(key="lexicon_phrase").input("sofa mode")
    next(b for b in at.button if b.label == "Add").click().run()
    assert not at.exception
    assert any("-> mood=calm (lexicon version 2)" in s.value for s in at.success)
    at.text_input(key="lexicon_value").input("calm")
    at.text_input(key="lexicon_phrase").input("sofa mode")
    next(b for b in at.button if b.label == "Add").click().run()
    assert any("is mapped already" in e.value for e in at.error)
    removable = at.selectbox(key="lexicon_remove_id")
    entry = next(o for o in removable.options if "sofa mode" in o).split(":")[0]
    removable.set_value(entry)
    at.button(key="lexicon_remove").click().run()
    assert any(f"Removed {entry} (lexicon version 3)" in s.value for s in at.success)
    with session_scope(engine) as session:
        changes = [e for e in session.exec(select(AuditEvent))
                   if e.action == "lexicon.change"]
    assert [c.after["version"] for c in changes] == [2, 3]


@pytest.fixture
def with_oos(sqlite_env, tmp_path, monkeypatch):
    """An intent task with an out-of-scope label: 240 in-scope and 60 out-of-scope labels."""
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    engine = make_engine(sqlite_env)
    make_task(engine, labels=(*WORDS, "out_of_scope"), oos_label="out_of_scope")
    make_account(engine, username="leo", role="lead", password="leo-password")
    off_topic = [{"text": f"{word} {i}", "label": "out_of_scope"} for i, word in enumerate(
        ["weather tomorrow", "book a taxi", "my bank balance", "translate hello",
         "set an alarm", "recipe for soup"] * 10)]
    import_labeled(engine, HashingEncoder(), tmp_path, labeled_rows(240) + off_topic)
    retrain(engine=engine, task_name="music", encoder=HashingEncoder(),
            models_dir=Settings().models_dir, actor=CLI)
    return engine


def _threshold(engine) -> float:
    with session_scope(engine) as session:
        return session.exec(select(ModelVersion)).one().settings["oos_threshold"]


def test_the_lead_sees_the_trade_off_and_picks_an_operating_point(with_oos):
    at = _page()
    assert len(at.get("vega_lite_chart")) == 4  # per-class F1, confusion, reliability, trade-off
    assert any("ringed point is the threshold in use" in c.value for c in at.caption)
    before = _threshold(with_oos)
    at.slider(key="oos_target_1").set_value(1.0).run()
    shown = next(c.value for c in at.caption if c.value.startswith("Threshold "))
    chosen = float(shown.split()[1].rstrip(":"))
    assert "out-of-scope recall 1.000" in shown
    at = _click(at, "oos_apply")
    assert "v1 now rejects below" in at.success[0].value
    assert _threshold(with_oos) == pytest.approx(chosen, abs=1e-3) and chosen != before
    with session_scope(with_oos) as session:
        event = session.exec(select(AuditEvent).where(
            AuditEvent.action == "model.oos_threshold")).one()
        leo = session.exec(select(Account.id).where(Account.username == "leo")).one()
    assert event.before["oos_threshold"] == before and event.actor == str(leo)  # the id
