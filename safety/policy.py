"""The guardrail policy: rules first, then the calibrated safety model, by confidence band.

A prompt is redacted (PII) and checked against the block and allow lists; a block rule blocks.
Otherwise the serving model of the safety task gives ``P(unsafe)`` (one minus the probability of
its safe label) and a distribution over the taxonomy's categories: at or above the policy's
``block`` threshold the prompt is **blocked**; at or above ``review``, or when a category's
probability reaches that category's threshold, it is **allowed now and sent to review**;
otherwise it is **allowed**. Self-harm is handled with care: the user sees a supportive message
with a pointer to help (never a scolding one), and the prompt always goes to review.

Thresholds are the safety task's policy settings; each change is a new policy version, and
every verdict records the policy, rule-list, model, normaliser and PII-recogniser versions.
Nothing here raises on a prompt: the router gives a blocked prompt a safe fallback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import Session

from labeling.exceptions import LabelingError, UnknownTaskError
from labeling.lifecycle.registry import load_serving
from labeling.ml.encoders import Encoder
from labeling.ml.text_features import predict_proba_for
from labeling.project import authz
from labeling.project.authz import Actor, Capability, requires
from labeling.project.tasks import get_task, list_tasks
from labeling.text.pii import PII_VERSION, redact_many
from safety.rules import RuleSet, current_rules
from safety.rules import versions as rule_versions
from safety.taxonomy import SAFE_LABEL, SEVERITY_ORDER
from storage.db import session_scope, write_scope
from storage.models import SafetyPolicy, Task
from storage.repositories import audit
from storage.repositories import safety as safety_repo

ALLOW, REVIEW, BLOCK = "allow", "review", "block"
DEFAULT_SETTINGS: dict[str, Any] = {"block": 0.9, "review": 0.5, "categories": {}}
"""Version 1 of every safety task's policy; ``categories`` overrides the model's tuned
per-category thresholds."""
SELF_HARM = "self_harm"
SUPPORT_MESSAGE = (
    "It sounds like things might be really hard right now. You don't have to go through it "
    "alone: in the UK you can call Samaritans free on 116 123, in the US call or text 988, or "
    "find a local helpline at findahelpline.com. We've put together some calm music for you."
)
BLOCK_MESSAGE = "We can't make a playlist for that request. Here's something else to listen to."


class PolicyError(LabelingError):
    """Policy settings that cannot be stored as asked, or no safety task to check with."""


@dataclass(frozen=True)
class Verdict:
    """What the policy decided about one prompt, and why."""

    verdict: str
    category: str | None
    unsafe: float | None
    """``P(unsafe)`` from the model; ``None`` when no model serves."""
    categories: dict[str, float]
    rule_hits: list[dict[str, Any]]
    allowed_by: list[dict[str, Any]]
    reasons: list[str]
    message: str | None
    needs_review: bool
    redacted_text: str
    pii_types: list[str]
    versions: dict[str, Any]
    severity: int = 0
    uncertainty: float | None = None
    flagged_categories: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def severity_of(category: str | None) -> int:
    """Higher for more severe categories (``SEVERITY_ORDER``), 0 for safe or none."""
    if category is None or category == SAFE_LABEL or category not in SEVERITY_ORDER:
        return 0
    return len(SEVERITY_ORDER) - SEVERITY_ORDER.index(category)


# --- policy settings (versioned per safety task) ----------------------------------------------

def _check_settings(settings: dict[str, Any], labels: Sequence[str]) -> dict[str, Any]:
    try:
        block, review = float(settings["block"]), float(settings["review"])
    except (KeyError, TypeError, ValueError):
        raise PolicyError("a policy needs numeric block and review thresholds") from None
    if not 0.0 <= review <= block <= 1.0:
        raise PolicyError(f"thresholds must satisfy 0 <= review ({review:g}) <= block "
                          f"({block:g}) <= 1")
    categories = {str(k): float(v) for k, v in (settings.get("categories") or {}).items()}
    unknown = sorted(set(categories) - set(labels))
    bad = sorted(c for c, v in categories.items() if not 0.0 <= v <= 1.0)
    if unknown or bad:
        raise PolicyError(f"category thresholds: unknown {unknown}, outside [0, 1] {bad}")
    return {"block": block, "review": review, "categories": categories}


def _policy(session: Session, task: Task) -> SafetyPolicy:
    latest = safety_repo.latest_policy(session=session, task_id=task.id)
    if latest is None:
        latest = safety_repo.add_policy(session=session, row=SafetyPolicy(
            task_id=task.id, version=1, settings=dict(DEFAULT_SETTINGS), created_by="system"))
    return latest


@requires(Capability.preview)
def policy_settings(*, engine: Engine, actor: Actor, task_name: str
                    ) -> tuple[int, dict[str, Any]]:
    """The task's current policy version and settings (version 1, the defaults, at first):
    what the live preview's safety gate decides with."""
    with write_scope(engine) as session:
        task = _safety_task(session, task_name)
        latest = _policy(session, task)
        return latest.version, dict(latest.settings)


@requires(Capability.edit_safety)
def set_policy(*, engine: Engine, task_name: str, actor: Actor, block: float | None = None,
               review: float | None = None, categories: dict[str, float] | None = None) -> int:
    """Change the task's thresholds (all checked before anything is stored); return the new
    policy version. Audited with before and after, under the actor's account id."""
    with write_scope(engine) as session:
        who = authz.principal(session, actor)
        task = _safety_task(session, task_name)
        latest = _policy(session, task)
        merged = dict(latest.settings)
        merged.update({k: v for k, v in (("block", block), ("review", review),
                                         ("categories", categories)) if v is not None})
        checked = _check_settings(merged, task.labels)
        row = safety_repo.add_policy(session=session, row=SafetyPolicy(
            task_id=task.id, version=latest.version + 1, settings=checked,
            created_by=who.audit_name))
        audit.record(session=session, actor=who.audit_name, action="policy.change",
                     entity="safetypolicy", entity_id=row.id,
                     before={"version": latest.version, **latest.settings},
                     after={"version": row.version, **checked})
        return row.version


def _safety_task(session: Session, task_name: str) -> Task:
    task = get_task(session=session, name=task_name)
    if str(task.kind) != "safety" or task.safe_label is None:
        raise PolicyError(f"task {task_name!r} is not a safety task with a safe label")
    return task


@requires(Capability.preview)
def default_safety_task(*, engine: Engine, actor: Actor, task_name: str | None = None
                        ) -> str | None:
    """``task_name``, or the only safety task; ``None`` when there is none."""
    names = [t.name for t in list_tasks(engine=engine, actor=actor, kinds=("safety",))]
    if task_name is not None:
        if task_name not in names:
            raise UnknownTaskError(f"no safety task {task_name!r}; safety tasks: "
                                   f"{', '.join(names) or 'none'}")
        return task_name
    if len(names) > 1:
        raise PolicyError(f"several safety tasks ({', '.join(names)}): choose one with --task")
    return names[0] if names else None


# --- the gate: rules, model and thresholds loaded once, many prompts checked -------------------

@dataclass(frozen=True)
class _Model:
    model: Any
    version: int
    safe_label: str
    classes: list[str]
    category_thresholds: dict[str, float]


class SafetyGate:
    """Everything a verdict needs, loaded once: the rule list, the serving safety model and
    the policy thresholds. ``check`` and ``check_many`` never write."""

    def __init__(self, *, rules: RuleSet, model: _Model | None, encoder: Encoder | None,
                 task: str | None, policy_version: int | None, settings: dict[str, Any]) -> None:
        self.rules, self.model, self.encoder = rules, model, encoder
        self.task, self.policy_version, self.settings = task, policy_version, settings

    @classmethod
    def load(cls, *, engine: Engine, encoder: Encoder, actor: Actor,
             task_name: str | None = None) -> SafetyGate:
        """The gate of ``task_name`` (default: the only safety task; rules alone if none),
        loaded by ``actor`` (serving infrastructure acts as ``authz.SYSTEM``)."""
        rules = current_rules(engine=engine, actor=actor)
        name = default_safety_task(engine=engine, actor=actor, task_name=task_name)
        if name is None:
            return cls(rules=rules, model=None, encoder=None, task=None, policy_version=None,
                       settings=dict(DEFAULT_SETTINGS))
        version, settings = policy_settings(engine=engine, actor=actor, task_name=name)
        loaded = load_serving(engine=engine, actor=actor, task_name=name)
        model = None
        if loaded is not None:
            info, fitted = loaded
            safe = info.settings.get("safe_label") or SAFE_LABEL
            model = _Model(model=fitted, version=info.version, safe_label=safe,
                           classes=[str(c) for c in fitted.classes_],
                           category_thresholds=dict(info.settings.get("category_thresholds")
                                                    or {}))
        return cls(rules=rules, model=model, encoder=encoder, task=name,
                   policy_version=version, settings=settings)

    def versions(self) -> dict[str, Any]:
        return {"task": self.task, "policy": self.policy_version,
                "model": self.model.version if self.model else None, "pii": PII_VERSION,
                **rule_versions(self.rules)}

    def check(self, text: str) -> Verdict:
        return self.check_many([text])[0]

    def check_many(self, texts: Sequence[str]) -> list[Verdict]:
        """Verdicts for ``texts``, in order; the model runs once over the whole batch."""
        redactions = redact_many([str(t) for t in texts])
        redacted = [r.text for r in redactions]
        proba = self._proba(redacted)
        return [self._verdict(r.text, list(r.types), None if proba is None else proba[i])
                for i, r in enumerate(redactions)]

    def _proba(self, texts: list[str]) -> np.ndarray | None:
        if self.model is None or not texts:
            return None
        X = self.encoder.encode(texts)
        return predict_proba_for(self.model.model, texts, X)

    def _thresholds(self) -> dict[str, float]:
        tuned = dict(self.model.category_thresholds) if self.model else {}
        tuned.update(self.settings.get("categories") or {})
        return tuned

    def _verdict(self, text: str, pii_types: list[str], proba: np.ndarray | None) -> Verdict:
        check = self.rules.check(text)
        categories, unsafe, flagged = {}, None, []
        if proba is not None:
            categories = {c: float(p) for c, p in zip(self.model.classes, proba, strict=True)}
            unsafe = 1.0 - categories.get(self.model.safe_label, 0.0)
            thresholds = self._thresholds()
            flagged = [c for c, p in categories.items()
                       if c != self.model.safe_label and p >= thresholds.get(c, 1.1)]
        verdict, category, reasons = self._decide(check, categories, unsafe, flagged)
        self_harm = category == SELF_HARM or SELF_HARM in flagged
        if self_harm and verdict == ALLOW:
            verdict = REVIEW
        message = (SUPPORT_MESSAGE if self_harm and verdict != ALLOW
                   else BLOCK_MESSAGE if verdict == BLOCK else None)
        return Verdict(
            verdict=verdict, category=category if verdict != ALLOW else None, unsafe=unsafe,
            categories=categories, rule_hits=[h.as_dict() for h in check.blocks],
            allowed_by=[h.as_dict() for h in check.allows], reasons=reasons, message=message,
            needs_review=verdict != ALLOW, redacted_text=text, pii_types=pii_types,
            versions=self.versions(), severity=severity_of(category),
            uncertainty=None if unsafe is None else 1.0 - abs(2.0 * unsafe - 1.0),
            flagged_categories=flagged,
        )

    def _decide(self, check, categories: dict[str, float], unsafe: float | None,
                flagged: list[str]) -> tuple[str, str | None, list[str]]:
        if check.blocked:
            hit = max(check.blocks, key=lambda h: severity_of(h.category))
            reasons = [f"rule {h.rule_id} ({h.phrase!r}, list v{h.version}) matched "
                       f"{h.text!r}" for h in check.blocks]
            return BLOCK, hit.category, reasons
        if unsafe is None:
            return ALLOW, None, ["no rule matched; no safety model serves yet"]
        top = max(((c, p) for c, p in categories.items() if c != self.model.safe_label),
                  key=lambda cp: cp[1], default=(None, 0.0))[0]
        block, review = float(self.settings["block"]), float(self.settings["review"])
        if unsafe >= block:
            return BLOCK, top, [f"P(unsafe) {unsafe:.2f} >= block threshold {block:.2f}"]
        if unsafe >= review:
            return REVIEW, top, [f"P(unsafe) {unsafe:.2f} >= review threshold {review:.2f}"]
        if flagged:
            worst = max(flagged, key=severity_of)
            return REVIEW, worst, [f"P({worst}) {categories[worst]:.2f} reaches its threshold"]
        return ALLOW, None, [f"P(unsafe) {unsafe:.2f} < review threshold {review:.2f}"]


@requires(Capability.preview)
def check_texts(*, engine: Engine, encoder: Encoder, actor: Actor, texts: Sequence[str],
                task_name: str | None = None) -> list[Verdict]:
    """Verdicts for ``texts`` with the current rules, model and policy of the safety task."""
    return SafetyGate.load(engine=engine, encoder=encoder, actor=actor,
                           task_name=task_name).check_many(texts)


@requires(Capability.read_tasks)
def task_of(*, engine: Engine, actor: Actor, task_name: str) -> str:
    """``task_name`` if it is a safety task (``PolicyError`` otherwise)."""
    with session_scope(engine) as session:
        return _safety_task(session, task_name).name
