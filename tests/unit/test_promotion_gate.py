"""The promotion gate's rules, each on its own: macro-F1, a class's F1, ECE, OOS recall."""

from __future__ import annotations

from labeling.lifecycle.comparison import GateRules, gate_checks


def _metrics(*, macro_f1: float = 0.9, ece: float = 0.05, f1: dict | None = None,
             support: int = 10, oos_recall: float | None = 0.8) -> dict:
    f1 = f1 or {"mood": 0.9, "sleep": 0.9}
    return {"macro_f1": macro_f1, "ece": ece,
            "per_class": [{"label": c, "f1": v, "support": support} for c, v in f1.items()],
            "oos": None if oos_recall is None else {"oos_recall": oos_recall}}


def _blocking(candidate: dict, baseline: dict, oos_label: str | None = "oos",
              rules: GateRules | None = None) -> dict[str, str]:
    return {c.rule: c.detail for c in gate_checks(candidate, baseline, oos_label=oos_label,
                                                   rules=rules or GateRules())
            if not c.passed}


def test_an_equal_candidate_passes_every_rule():
    checks = gate_checks(_metrics(), _metrics(), oos_label="oos")
    assert [c.rule for c in checks] == ["macro_f1", "class_f1", "ece", "oos_recall"]
    assert all(c.passed for c in checks)


def test_macro_f1_may_fall_by_the_tolerance_and_no_more():
    assert _blocking(_metrics(macro_f1=0.89), _metrics(macro_f1=0.90)) == {}
    blocked = _blocking(_metrics(macro_f1=0.885), _metrics(macro_f1=0.90))
    assert list(blocked) == ["macro_f1"] and "0.885 against 0.900" in blocked["macro_f1"]


def test_one_class_falling_blocks_even_when_macro_f1_holds():
    before = _metrics(f1={"mood": 0.9, "sleep": 0.9, "gym": 0.5})
    after = _metrics(f1={"mood": 0.9, "sleep": 0.7, "gym": 0.7})
    blocked = _blocking(after, before)
    assert list(blocked) == ["class_f1"]
    assert "sleep 0.90 → 0.70" in blocked["class_f1"] and "mood" not in blocked["class_f1"]


def test_classes_with_few_held_out_items_are_not_judged():
    before = _metrics(f1={"mood": 0.9, "sleep": 1.0}, support=4)
    after = _metrics(f1={"mood": 0.9, "sleep": 0.5}, support=4)
    assert _blocking(after, before) == {}
    assert "class_f1" in _blocking(after, before, rules=GateRules(class_min_support=4))


def test_a_worse_calibrated_candidate_is_blocked_on_ece():
    blocked = _blocking(_metrics(ece=0.08), _metrics(ece=0.05))
    assert list(blocked) == ["ece"] and "0.080 against 0.050" in blocked["ece"]
    assert _blocking(_metrics(ece=0.07), _metrics(ece=0.05)) == {}


def test_out_of_scope_recall_counts_only_for_tasks_with_an_oos_label():
    worse = _metrics(oos_recall=0.70)
    assert list(_blocking(worse, _metrics())) == ["oos_recall"]
    assert _blocking(worse, _metrics(), oos_label=None) == {}


def test_no_baseline_lets_it_pass_and_an_unscored_candidate_fails():
    assert gate_checks(_metrics(), None, oos_label="oos") == []
    (check,) = gate_checks(None, _metrics(), oos_label="oos")
    assert check.rule == "scored" and not check.passed
