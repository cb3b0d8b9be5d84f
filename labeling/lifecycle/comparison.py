"""Like-for-like comparison of two model versions, and the promotion gate's rules over it.

The metrics stored with a version come from the evaluation split as it was when that version
was trained; the split grows as items settle, and a small task is scored on its own training
rows. Numbers from different test sets say little about which model is better, so
``compare_versions`` scores both versions now, on the task's current evaluation split (gold items
with their answers, plus the settled items the frozen hash split holds out), leaving out the
items either version was trained on (a version trained while its task or a class was small
holds nothing out: ``training.split_overlap`` records which split items it saw).

The gate (``GateRules``) then looks at macro-F1, at every class's F1, at calibration (ECE) and,
for a task with an out-of-scope label, at out-of-scope recall; each rule reports on its own, so
a lead sees which one blocks. With fewer than ``MIN_HELD_OUT`` shared items nothing is compared
and the gate asks for an explicit decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine

from labeling.exceptions import LabelingError
from labeling.lifecycle.model_files import MODEL_CACHE
from labeling.lifecycle.training import EvaluationSet, split_for_training
from labeling.ml.encoders import Encoder
from labeling.ml.evaluation import evaluate_model, figure
from labeling.project.authz import Actor, Capability, requires
from labeling.project.tasks import get_task
from labeling.project.vectors import embed_texts
from storage.db import session_scope
from storage.models import ModelVersion
from storage.repositories import models as model_repo

MIN_HELD_OUT = 20
"""Fewer shared held-out items than this and two versions are not compared: a lead decides."""


@dataclass(frozen=True)
class GateRules:
    """What the promotion gate allows a candidate to lose against the serving version, all
    measured on the same current evaluation split.

    Attributes
    ----------
    macro_f1_drop
        Macro-F1 may fall by at most this much (0.01: one point).
    class_f1_drop
        No class's F1 may fall by more than this (0.10), among classes with at least
        ``class_min_support`` held-out items (fewer make a class's F1 jump by a single item).
    class_min_support
        Held-out items a class needs before its F1 is judged.
    ece_rise
        Expected calibration error may rise by at most this much (0.02): the router's
        thresholds read the probabilities, so a worse-calibrated model moves its decisions.
    oos_recall_drop
        Out-of-scope recall may fall by at most this much (0.02), for tasks with an
        out-of-scope label.
    """

    macro_f1_drop: float = 0.01
    class_f1_drop: float = 0.10
    class_min_support: int = 5
    ece_rise: float = 0.02
    oos_recall_drop: float = 0.02


@dataclass(frozen=True)
class RuleCheck:
    """One rule of the gate: its name, whether the candidate passes it, and why."""

    rule: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Comparison:
    """Two versions scored on the same items, and the gate's verdict on the first.

    ``metrics`` maps a version number to its ``evaluate_model`` figures on the shared items
    (``None`` for a version that cannot be scored with the workbench's encoder).
    """

    task: str
    candidate: int
    baseline: int | None
    n_eval: int
    n_gold: int
    n_excluded: int
    enough: bool
    metrics: dict[int, dict[str, Any] | None]
    checks: list[RuleCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def blocking(self) -> list[RuleCheck]:
        return [c for c in self.checks if not c.passed]

    @property
    def problem(self) -> str | None:
        """Why the candidate may not replace the baseline, or ``None`` if it may."""
        return "; ".join(c.detail for c in self.blocking) or None


def _class_f1(metrics: dict[str, Any], min_support: int) -> dict[str, float]:
    return {row["label"]: float(row["f1"]) for row in metrics.get("per_class", [])
            if row["support"] >= min_support}


def gate_checks(candidate: dict[str, Any] | None, baseline: dict[str, Any] | None, *,
                oos_label: str | None, rules: GateRules = GateRules()) -> list[RuleCheck]:
    """The gate's rules for ``candidate`` against ``baseline`` (metrics on the same items).

    A candidate that could not be scored fails; a baseline that could not be scored (or none)
    lets every rule pass.
    """
    if candidate is None:
        return [RuleCheck("scored", False, "the candidate cannot be scored with the "
                                           "workbench's encoder; retrain it")]
    if baseline is None:
        return []
    checks: list[RuleCheck] = []
    new, old = figure(candidate, "macro_f1"), figure(baseline, "macro_f1")
    if new is not None and old is not None:
        checks.append(RuleCheck(
            "macro_f1", new >= old - rules.macro_f1_drop - 1e-12,
            f"macro-F1 {new:.3f} against {old:.3f} (may fall by at most "
            f"{rules.macro_f1_drop:.3f})"))
    before = _class_f1(baseline, rules.class_min_support)
    after = _class_f1(candidate, rules.class_min_support)
    drops = sorted(((before[c] - after[c], c) for c in before.keys() & after.keys()
                    if before[c] - after[c] > rules.class_f1_drop + 1e-12), reverse=True)
    named = ", ".join(f"{c} {before[c]:.2f} → {after[c]:.2f}" for _, c in drops[:5])
    more = f" and {len(drops) - 5} more" if len(drops) > 5 else ""
    checks.append(RuleCheck(
        "class_f1", not drops,
        f"F1 of {len(drops)} class{'es' if len(drops) != 1 else ''} falls by more than "
        f"{rules.class_f1_drop:.2f}: {named}{more}" if drops else
        f"no class's F1 falls by more than {rules.class_f1_drop:.2f} ({len(before)} classes "
        f"with {rules.class_min_support}+ held-out items)"))
    new, old = figure(candidate, "ece"), figure(baseline, "ece")
    if new is not None and old is not None:
        checks.append(RuleCheck(
            "ece", new <= old + rules.ece_rise + 1e-12,
            f"ECE {new:.3f} against {old:.3f} (may rise by at most {rules.ece_rise:.3f})"))
    if oos_label is not None:
        new = figure(candidate, "oos_recall", within="oos")
        old = figure(baseline, "oos_recall", within="oos")
        if new is not None and old is not None:
            checks.append(RuleCheck(
                "oos_recall", new >= old - rules.oos_recall_drop - 1e-12,
                f"out-of-scope recall {new:.3f} against {old:.3f} (may fall by at most "
                f"{rules.oos_recall_drop:.3f})"))
    return checks


def _version(session, task_id: int, version: int) -> ModelVersion:
    found = model_repo.get_version(session=session, task_id=task_id, version=version)
    if found is None:
        raise LabelingError(f"no version {version}; see `workbench models list`")
    return found


def _score(row: ModelVersion, X: np.ndarray, held: EvaluationSet, *, encoder: Encoder,
           oos_label: str | None, safe_label: str | None) -> dict[str, Any] | None:
    """``row``'s metrics on the shared items with its own stored thresholds, or ``None`` when
    its model reads vectors of another size than the encoder's."""
    settings = dict(row.settings or {})
    model = MODEL_CACHE.get(row.file_path, row.file_hash)
    threshold = settings.get("oos_threshold")
    if oos_label is not None and threshold is None:
        threshold = 0.0
    try:
        out = evaluate_model(model, X, held.labels, oos_label=oos_label, threshold=threshold,
                             target_oos_recall=settings.get("target_oos_recall"),
                             texts=held.texts, safe_label=safe_label,
                             unsafe_threshold=settings.get("unsafe_threshold"))
    except ValueError:  # vectors of another width than the model was trained on
        return None
    out["encoder_matches"] = settings.get("encoder") in (None, encoder.name)
    return out


@requires(Capability.manage_models)
def compare_versions(*, engine: Engine, actor: Actor, task_name: str, encoder: Encoder,
                     candidate: int, baseline: int | None = None,
                     rules: GateRules = GateRules(), min_held_out: int = MIN_HELD_OUT
                     ) -> Comparison:
    """Score ``candidate`` and ``baseline`` (default: the serving version) on the task's current
    evaluation split, minus the items either was trained on, and apply the gate's rules.

    Raises ``LabelingError`` for an unknown version.
    """
    with session_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        chosen = _version(session, task.id, candidate)
        if baseline is None:
            serving = model_repo.serving(session=session, task_id=task.id)
            other = None if serving is None or serving.id == chosen.id else serving
        else:
            found = _version(session, task.id, baseline)
            other = None if found.id == chosen.id else found
        _, held, _ = split_for_training(session=session, task=task)
        seen: set[int] = set()
        notes: list[str] = []
        for row in (chosen, other):
            if row is None:
                continue
            settings = row.settings or {}
            if "eval_overlap_item_ids" in settings:
                seen.update(int(i) for i in settings["eval_overlap_item_ids"])
            else:
                notes.append(f"v{row.version} was trained before the workbench recorded which "
                             "held-out items a version saw; if it was trained while the task "
                             "was small, its figures here include its own training items")
        keep = [n for n, i in enumerate(held.item_ids) if i not in seen]
        shared = EvaluationSet(
            item_ids=[held.item_ids[n] for n in keep], texts=[held.texts[n] for n in keep],
            labels=[held.labels[n] for n in keep],
            n_gold=sum(1 for n in keep if n < held.n_gold))
        oos_label = task.oos_label if task.kind == "intent" else None
        safe_label = task.safe_label
        enough = len(shared.labels) >= min_held_out
        X = (embed_texts(session=session, encoder=encoder, texts=shared.texts)
             if enough and shared.texts else None)
        rows = [r for r in (chosen, other) if r is not None]
        for row in rows:
            session.expunge(row)
    metrics: dict[int, dict[str, Any] | None] = {r.version: None for r in rows}
    if not enough:
        checks = [] if other is None else [RuleCheck(
            "held_out", False,
            f"not enough held-out items to compare: {len(shared.labels)} (at least "
            f"{min_held_out} needed); decide explicitly (force, with a reason)")]
    else:
        for row in rows:
            metrics[row.version] = _score(row, X, shared, encoder=encoder,
                                          oos_label=oos_label, safe_label=safe_label)
            if metrics[row.version] is not None and not metrics[row.version]["encoder_matches"]:
                notes.append(f"v{row.version} was trained with encoder "
                             f"{row.settings.get('encoder')!r}, scored here with "
                             f"{encoder.name!r} (what the workbench serves with)")
        checks = [] if other is None else gate_checks(
            metrics[chosen.version], metrics[other.version], oos_label=oos_label, rules=rules)
    return Comparison(task=task_name, candidate=chosen.version,
                      baseline=None if other is None else other.version,
                      n_eval=len(shared.labels), n_gold=shared.n_gold, n_excluded=len(
                          held.labels) - len(shared.labels), enough=enough, metrics=metrics,
                      checks=checks, notes=notes)
