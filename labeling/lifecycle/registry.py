"""The model registry: a task's versions as plain data, which one serves, and promotion and
rollback (one audited transaction each; a version whose file does not verify never serves).
Promotion is gated on a like-for-like comparison (``labeling.lifecycle.comparison``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import Session

from labeling.exceptions import LabelingError
from labeling.lifecycle.comparison import GateRules, compare_versions
from labeling.lifecycle.model_files import MODEL_CACHE, load_model
from labeling.ml.classifier import FastProbaClassifier
from labeling.ml.encoders import Encoder
from labeling.project import authz
from labeling.project.authz import Actor, Capability, requires
from labeling.project.tasks import get_task
from storage.db import session_scope, write_scope
from storage.models import ModelVersion
from storage.repositories import accounts as account_repo
from storage.repositories import audit
from storage.repositories import models as model_repo
from storage.repositories import tasks as task_repo


@dataclass(frozen=True)
class ModelInfo:
    """One registered version of a task's classifier."""

    id: int
    task: str
    version: int
    serving: bool
    trained_at: datetime
    trained_by: str | None
    """Who trained it: the operator's name (``cli:<user>``) or the account, as its username in
    ``list_versions`` (stored as the account id, like the audit log)."""
    metrics: dict[str, Any]
    settings: dict[str, Any]
    parent_id: int | None


def _info(task_name: str, model: ModelVersion, trainers: dict[str, str] | None = None
          ) -> ModelInfo:
    trained_by = model.trained_by
    return ModelInfo(id=model.id, task=task_name, version=model.version, serving=model.serving,
                     trained_at=model.trained_at,
                     trained_by=(trainers or {}).get(trained_by or "", trained_by),
                     metrics=dict(model.metrics or {}), settings=dict(model.settings or {}),
                     parent_id=model.parent_id)


def _trainers(session: Session) -> dict[str, str]:
    """Usernames by the audit name ``trained_by`` keeps (the account id as text)."""
    return {str(a.id): a.username for a in account_repo.list_accounts(session=session)}


@requires(Capability.preview)
def list_versions(*, engine: Engine, actor: Actor, task_name: str) -> list[ModelInfo]:
    """The task's versions, oldest first."""
    with session_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        trainers = _trainers(session)
        return [_info(task.name, v, trainers)
                for v in model_repo.list_versions(session=session, task_id=task.id)]


@requires(Capability.preview)
def serving_version(*, engine: Engine, actor: Actor, task_name: str) -> ModelInfo | None:
    """The version that serves the task now, or ``None`` before the first training."""
    with session_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        serving = model_repo.serving(session=session, task_id=task.id)
        return None if serving is None else _info(task.name, serving)


@requires(Capability.preview)
def load_serving(*, engine: Engine, actor: Actor, task_name: str
                 ) -> tuple[ModelInfo, Any] | None:
    """The serving version of a task and its loaded model (``None`` before the first model).

    Raises ``ModelFileError`` when the file is missing or does not verify.
    """
    with session_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        serving = model_repo.serving(session=session, task_id=task.id)
        if serving is None:
            return None
        info, path, digest = _info(task.name, serving), serving.file_path, serving.file_hash
    return info, MODEL_CACHE.get(path, digest)


@requires(Capability.preview)
def load_version(*, engine: Engine, actor: Actor, task_name: str, version: int
                 ) -> tuple[ModelInfo, Any]:
    """A registered version of a task and its loaded model (to compare it with the serving one).

    Raises ``PromotionError`` for an unknown version and ``ModelFileError`` for a bad file.
    """
    with session_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        model = _version(session, task.id, version)
        info, path, digest = _info(task.name, model), model.file_path, model.file_hash
    return info, MODEL_CACHE.get(path, digest)


def serving_classifier(*, session: Session, task_id: int) -> FastProbaClassifier | None:
    """The serving model of a task, loaded once per process (``None`` before the first)."""
    model = model_repo.serving(session=session, task_id=task_id)
    if model is None:
        return None
    return FastProbaClassifier(MODEL_CACHE.get(model.file_path, model.file_hash))


# --- promotion and rollback ---------------------------------------------------------------

class PromotionError(LabelingError):
    """A promotion or rollback refused (with what to do instead)."""


def _version(session: Session, task_id: int, version: int) -> ModelVersion:
    found = model_repo.get_version(session=session, task_id=task_id, version=version)
    if found is None:
        raise PromotionError(f"no version {version}; see `workbench models list`")
    return found


@requires(Capability.manage_models)
def promote(
    *, engine: Engine, task_name: str, version: int | None, actor: Actor, encoder: Encoder,
    force: bool = False, reason: str | None = None, rules: GateRules | None = None,
) -> int:
    """Make ``version`` (default: the newest) the task's serving model, atomically.

    The candidate and the serving version are first scored on the same current evaluation
    split (``comparison.compare_versions``); the promotion is refused when a rule of ``rules``
    blocks, or when too few held-out items are shared to compare, unless a lead forces it with
    a reason (audited with the gate's verdict). A file that does not verify is always refused.
    """
    with session_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        versions = model_repo.list_versions(session=session, task_id=task.id)
        if not versions:
            raise PromotionError(f"task {task_name!r} has no trained model yet")
        number = versions[-1].version if version is None else _version(
            session, task.id, version).version
        serving = model_repo.serving(session=session, task_id=task.id)
        if serving is not None and serving.version == number:
            return number
        serving_id = None if serving is None else serving.id
    compared = compare_versions(engine=engine, actor=actor, task_name=task_name,
                                encoder=encoder, candidate=number, rules=rules or GateRules())
    problem = compared.problem
    if problem and not force:
        raise PromotionError(f"not promoted: {problem}; a lead can force it with a reason")
    if problem and not (reason or "").strip():
        raise PromotionError("forcing a promotion needs a reason")
    with write_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        task_repo.lock(session=session, task_id=task.id)  # serving is read and set atomically
        chosen = _version(session, task.id, number)
        serving = model_repo.serving(session=session, task_id=task.id)
        if (None if serving is None else serving.id) != serving_id:
            raise PromotionError("another version was promoted while this one was being "
                                 "compared; compare again")
        load_model(chosen.file_path, expected_sha256=chosen.file_hash)  # refuse a bad file
        model_repo.set_serving(session=session, task_id=task.id, model_id=chosen.id)
        audit.record(
            session=session, actor=authz.audit_name(actor),
            action="model.force_promote" if problem else
            "model.promote", entity="modelversion", entity_id=chosen.id,
            before={"serving": serving.version if serving else None},
            after={"serving": chosen.version, "reason": reason, "gate": problem,
                   "compared_on": compared.n_eval,
                   "checks": [{"rule": c.rule, "passed": c.passed, "detail": c.detail}
                              for c in compared.checks]},
        )
        return chosen.version


@requires(Capability.manage_models)
def set_oos_threshold(*, engine: Engine, task_name: str, version: int, threshold: float,
                      actor: Actor) -> float:
    """Move a version's out-of-scope operating point: the threshold its in-scope score (or, for
    older versions, its largest probability) must reach. Audited; the router picks it up on the
    next prompt. Returns the threshold."""
    value = float(threshold)
    if not np.isfinite(value):
        raise PromotionError(f"the out-of-scope threshold must be a finite number, got {threshold}")
    with write_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        task_repo.lock(session=session, task_id=task.id)
        chosen = _version(session, task.id, version)
        settings = dict(chosen.settings or {})
        if not settings.get("oos_label"):
            raise PromotionError(f"v{version} of {task_name!r} has no out-of-scope label: there "
                                 "is no out-of-scope threshold to set")
        before = settings.get("oos_threshold")
        chosen.settings = {**settings, "oos_threshold": value}
        session.add(chosen)
        audit.record(session=session, actor=authz.audit_name(actor), action="model.oos_threshold",
                     entity="modelversion", entity_id=chosen.id,
                     before={"version": version, "oos_threshold": before},
                     after={"version": version, "oos_threshold": value})
    return value


@requires(Capability.manage_models)
def rollback(*, engine: Engine, task_name: str, version: int, actor: Actor) -> int:
    """Serve an earlier version again (its file must still verify)."""
    with write_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        task_repo.lock(session=session, task_id=task.id)
        chosen = _version(session, task.id, version)
        serving = model_repo.serving(session=session, task_id=task.id)
        load_model(chosen.file_path, expected_sha256=chosen.file_hash)
        model_repo.set_serving(session=session, task_id=task.id, model_id=chosen.id)
        audit.record(session=session, actor=authz.audit_name(actor), action="model.rollback",
                     entity="modelversion", entity_id=chosen.id,
                     before={"serving": serving.version if serving else None},
                     after={"serving": chosen.version})
        return chosen.version
