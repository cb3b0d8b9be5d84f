"""Retraining a task's classifier on its settled labels, as a new registry version.

Training uses the settled consensus (``labeling.review.consensus``): items whose raters agree,
imported labels, and adjudicated decisions. Each task has a frozen evaluation split
(``labeling.ml.splits``): its gold items (with their gold answers) plus the settled items whose
hash of (task, text hash) falls below ``EVAL_SHARE``, so an item never moves between training
and evaluation as items are added. Gold items never enter training. Within training, a
validation share per class fits the temperature and the out-of-scope threshold
(``labeling.ml.fitting``); the model is then refitted on all training rows.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import Session

from labeling.dataio.tabular import read_labeled_file
from labeling.exceptions import LabelingError
from labeling.lifecycle.model_files import MODEL_CACHE, save_content_addressed, stored_path
from labeling.ml.classifier import make_classifier
from labeling.ml.encoders import Encoder
from labeling.ml.evaluation import (
    best_f1_threshold,
    category_thresholds,
    evaluate_model,
    unsafe_scores,
)
from labeling.ml.fitting import TARGET_OOS_RECALL, describe_fit, fit_for_task
from labeling.ml.self_training import MAX_PSEUDO_ROWS, PSEUDO_LABEL_THRESHOLD, PSEUDO_LABEL_WEIGHT
from labeling.ml.splits import (
    EVAL_SHARE,
    OOS_VAL_SHARE,
    VAL_SHARE,
    in_eval_split,
    validation_rows,
)
from labeling.ml.text_features import TEXT_C, fit_text_features
from labeling.project import authz
from labeling.project.authz import Actor, Capability, requires
from labeling.project.tasks import get_task
from labeling.project.vectors import embed_texts
from labeling.review.consensus import TrainingSet, recompute, settled_labels
from storage.db import session_scope, write_scope
from storage.models import ModelVersion, Task
from storage.repositories import audit
from storage.repositories import items as item_repo
from storage.repositories import models as model_repo
from storage.repositories import tasks as task_repo


class TrainingError(LabelingError):
    """Not enough settled labels to train on."""


MIN_CLASS_FOR_SPLIT = 5
"""A class with fewer settled items holds none out (all of them train) until it grows."""
MIN_SETTLED_FOR_SPLIT = 20
"""A task with fewer settled (non-gold) items holds none out: it trains on all of them and is
evaluated on its gold items, or on its training rows (``eval_note`` says so)."""


@dataclass(frozen=True)
class EvaluationSet:
    item_ids: list[int]
    texts: list[str]
    labels: list[str]
    n_gold: int


def split_for_training(*, session: Session, task: Task, share: float = EVAL_SHARE
                       ) -> tuple[TrainingSet, EvaluationSet, list[str]]:
    """The training rows, the frozen evaluation split, and the training rows' text hashes.

    Nothing is held out while the task has fewer than ``MIN_SETTLED_FOR_SPLIT`` settled items,
    nor from a class with fewer than ``MIN_CLASS_FOR_SPLIT``; past those sizes which items are
    held out is fixed by ``in_eval_split``.
    """
    settled = settled_labels(session=session, task=task)
    items = item_repo.list_for_task(session=session, task_id=task.id)
    gold = [i for i in items if i.gold_label is not None]
    candidates = [i for i in items if i.id in settled and i.gold_label is None]
    counts: dict[str, int] = {}
    for item in candidates:
        counts[settled[item.id]] = counts.get(settled[item.id], 0) + 1
    held = in_eval_split(task_name=task.name, text_hashes=[i.text_hash for i in candidates],
                         gold=[False] * len(candidates), share=share)
    held &= np.array([counts[settled[i.id]] >= MIN_CLASS_FOR_SPLIT for i in candidates],
                     dtype=bool) & (len(candidates) >= MIN_SETTLED_FOR_SPLIT)
    train = [i for i, h in zip(candidates, held, strict=True) if not h]
    kept = [i for i, h in zip(candidates, held, strict=True) if h]
    return (
        TrainingSet(item_ids=[i.id for i in train], texts=[i.text for i in train],
                    labels=[settled[i.id] for i in train]),
        EvaluationSet(item_ids=[i.id for i in gold + kept], texts=[i.text for i in gold + kept],
                      labels=[i.gold_label for i in gold] + [settled[i.id] for i in kept],
                      n_gold=len(gold)),
        [i.text_hash for i in train],
    )


def unlabeled_texts(*, session: Session, task: Task, share: float = EVAL_SHARE, seed: int = 0,
                    limit: int = MAX_PSEUDO_ROWS) -> list[str]:
    """Texts of the task's items that self-training may pseudo-label: no settled label, no gold
    answer, and outside the frozen evaluation split's hash range (an item labeled later may
    land in the split, and must not have trained the models it scores); a seeded sample of
    ``limit`` when there are more."""
    settled = settled_labels(session=session, task=task)
    items = [i for i in item_repo.list_for_task(session=session, task_id=task.id)
             if i.id not in settled and i.gold_label is None]
    held = in_eval_split(task_name=task.name, text_hashes=[i.text_hash for i in items],
                         gold=[False] * len(items), share=share)
    texts = [i.text for i, h in zip(items, held, strict=True) if not h]
    if len(texts) > limit:
        keep = np.sort(np.random.default_rng(seed).choice(len(texts), limit, replace=False))
        texts = [texts[i] for i in keep]
    return texts


def split_overlap(*, task_name: str, train: TrainingSet, hashes: list[str]) -> list[int]:
    """The training items that the frozen evaluation split (at ``EVAL_SHARE``) holds out once
    their task and class are big enough: a version trained on them must not be scored on them
    later (``labeling.lifecycle.comparison``)."""
    if not hashes:
        return []
    held = in_eval_split(task_name=task_name, text_hashes=hashes, gold=[False] * len(hashes))
    return [i for i, h in zip(train.item_ids, held, strict=True) if h]


@dataclass(frozen=True)
class TrainedModel:
    task: str
    version: int
    n_train: int
    classes: list[str]
    seconds: float
    serving: bool
    n_eval: int = 0
    train_seconds: float = 0.0
    metrics: dict[str, Any] | None = None


def _check_classes(task_name: str, labels: list[str]) -> None:
    if len(set(labels)) < 2:
        raise TrainingError(
            f"task {task_name!r} has {len(labels)} settled labels in {len(set(labels))} "
            "classes; training needs at least two classes"
        )


@dataclass(frozen=True)
class _Fitted:
    model: Any
    oos_threshold: float | None
    n_val: int
    notes: list[str]
    settings: dict[str, Any]
    oos_curve: list[dict[str, float]] = field(default_factory=list)


def _safety_thresholds(task: Task, proba: np.ndarray | None, labels: list[str],
                       classes: list[str]) -> dict[str, Any]:
    """A safety task's unsafe threshold and per-category thresholds, tuned on held-back
    predictions of the training rows (out-of-fold, or the validation rows)."""
    if task.kind != "safety" or task.safe_label is None or proba is None or not len(proba):
        return {}
    unsafe = np.array([v != task.safe_label for v in labels], dtype=bool)
    return {
        "safe_label": task.safe_label,
        "unsafe_threshold": best_f1_threshold(
            unsafe_scores(proba, classes, safe_label=task.safe_label), unsafe),
        "category_thresholds": category_thresholds(proba, labels, classes,
                                                   safe_label=task.safe_label),
    }


def _fit(X_train, train: TrainingSet, hashes: list[str], *, task: Task, seed: int,
         options: dict, unlabeled: np.ndarray | None = None) -> _Fitted:
    """The calibrated embedding model, and the text-feature model over it where the task
    asks for one; with the thresholds a safety task decides by."""
    oos_label = task.oos_label if task.kind == "intent" else None
    val = validation_rows(task_name=task.name, text_hashes=hashes, labels=train.labels,
                          share=options["val_share"], oos_label=oos_label)
    fitted = fit_for_task(X_train, train.labels, val_rows=val, oos_label=oos_label,
                          target_oos_recall=options["target_oos_recall"], seed=seed,
                          unlabeled=unlabeled)
    base = make_classifier(seed=seed)
    settings = {"C": base.C, "class_weight": base.class_weight,
                "temperature": _temperature(fitted.model),
                "text_features": task.text_features, **describe_fit(fitted),
                "self_training": task.self_training, "n_pseudo": fitted.n_pseudo}
    if fitted.n_pseudo:
        settings.update({"class_weight": None, "pseudo_threshold": PSEUDO_LABEL_THRESHOLD,
                         "pseudo_weight": PSEUDO_LABEL_WEIGHT})
    model, held_proba = fitted.model, fitted.val_proba
    held_labels = list(np.asarray(train.labels, dtype=object)[fitted.held_rows])
    if task.text_features:
        text = fit_text_features(train.texts, X_train, train.labels,
                                 embedding_model=fitted.model, seed=seed)
        model, held_proba, held_labels = text.model, text.oof_proba, list(train.labels)
        settings.update({"text_C": TEXT_C, "text_folds": text.folds,
                         "temperature": text.model.temperature,
                         "embedding_temperature": _temperature(fitted.model)})
    classes = [str(c) for c in model.classes_]
    settings.update(_safety_thresholds(task, held_proba, held_labels, classes))
    return _Fitted(model=model, oos_threshold=fitted.oos_threshold, n_val=fitted.n_val,
                   notes=list(fitted.notes), settings=settings, oos_curve=fitted.oos_curve)


def _temperature(model: Any) -> float:
    """The temperature of a calibrated model (inside a ``ScopedClassifier`` or not)."""
    return float(getattr(model, "temperature", None) or model.estimator.temperature)


def _fit_and_evaluate(X_train, train: TrainingSet, hashes: list[str], X_eval,
                      held: EvaluationSet, *, task: Task, seed: int, options: dict,
                      unlabeled: np.ndarray | None = None) -> tuple[Any, dict[str, Any]]:
    start = time.perf_counter()
    oos_label = task.oos_label if task.kind == "intent" else None
    fitted = _fit(X_train, train, hashes, task=task, seed=seed, options=options,
                  unlabeled=unlabeled)
    notes = fitted.notes
    if not held.labels:
        notes.append("too few items for an evaluation split: evaluated on the training data "
                     "(optimistic)")
        X_eval, eval_labels, eval_texts = X_train, train.labels, train.texts
    else:
        eval_labels, eval_texts = held.labels, held.texts
        if len(eval_labels) < 2 * len(set(train.labels)):
            notes.append(f"small evaluation split ({len(eval_labels)} items for "
                         f"{len(set(train.labels))} classes): figures are rough")
    metrics = evaluate_model(fitted.model, X_eval, eval_labels, oos_label=oos_label,
                             threshold=fitted.oos_threshold,
                             target_oos_recall=options["target_oos_recall"], texts=eval_texts,
                             safe_label=fitted.settings.get("safe_label"),
                             unsafe_threshold=fitted.settings.get("unsafe_threshold"))
    counts = {c: train.labels.count(c) for c in sorted(set(train.labels))}
    metrics.update({
        "n_train": len(train.labels), "n_val": fitted.n_val, "n_eval": len(eval_labels),
        "oos_curve_cv": fitted.oos_curve or None,
        "n_eval_gold": held.n_gold, "class_counts": counts,
        "train_seconds": time.perf_counter() - start,
        "eval_note": "; ".join(notes) or None,
        "settings": {**fitted.settings, "eval_share": options["eval_share"],
                     "val_share": options["val_share"], "oos_val_share": OOS_VAL_SHARE,
                     "target_oos_recall": options["target_oos_recall"],
                     "oos_threshold": fitted.oos_threshold, "oos_label": oos_label},
    })
    metrics.pop("n", None)
    return fitted.model, json.loads(json.dumps(metrics))  # plain JSON types only


@requires(Capability.manage_models)
def retrain(
    *, engine: Engine, task_name: str, encoder: Encoder, models_dir: Path, actor: Actor,
    seed: int = 0, eval_share: float = EVAL_SHARE, val_share: float = VAL_SHARE,
    target_oos_recall: float = TARGET_OOS_RECALL,
) -> TrainedModel:
    """Train on the settled labels outside the frozen evaluation split, calibrate, evaluate on
    the split, and store the model as a new version with its metrics.

    The task's first model serves at once; later versions wait for ``registry.promote``. When
    the split leaves fewer than two classes to train on, all settled items train and the
    evaluation runs on them (``metrics["eval_note"]`` says so).
    """
    start = time.perf_counter()
    recompute(engine=engine, actor=actor, task_name=task_name)
    with session_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        train, held, hashes = split_for_training(session=session, task=task, share=eval_share)
        if len(set(train.labels)) < 2:  # too small to hold anything out
            train, _, hashes = split_for_training(session=session, task=task, share=0.0)
            held = EvaluationSet(item_ids=[], texts=[], labels=[], n_gold=0)
        _check_classes(task_name, train.labels)
        X = embed_texts(session=session, encoder=encoder, texts=train.texts + held.texts)
        pool = (unlabeled_texts(session=session, task=task, share=eval_share, seed=seed)
                if task.self_training else [])
        unlabeled = (embed_texts(session=session, encoder=encoder, texts=pool)
                     if task.self_training else None)
        session.expunge(task)
    overlap = split_overlap(task_name=task_name, train=train, hashes=hashes)
    options = {"eval_share": eval_share, "val_share": val_share,
               "target_oos_recall": target_oos_recall}
    model, metrics = _fit_and_evaluate(X[: len(train.texts)], train, hashes,
                                       X[len(train.texts):], held, task=task, seed=seed,
                                       options=options, unlabeled=unlabeled)
    trained_by = authz.audit_name(actor)
    # The file first, named by its content: a row only ever points at a complete file, and a
    # concurrent training can never overwrite it.
    path, file_hash = save_content_addressed(model, models_dir / task.name)
    with write_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        task_repo.lock(session=session, task_id=task.id)  # one registration at a time per task
        version = model_repo.next_version(session=session, task_id=task.id)
        parent = model_repo.serving(session=session, task_id=task.id)
        registered = model_repo.add(session=session, model=ModelVersion(
            task_id=task.id, version=version, label_snapshot_hash=train.snapshot_hash(),
            file_path=stored_path(path), file_hash=file_hash, trained_by=trained_by,
            parent_id=parent.id if parent else None,
            settings={"classifier": type(model).__name__, "encoder": encoder.name, "seed": seed,
                      **metrics["settings"], "eval_overlap_item_ids": overlap},
            metrics=metrics,
        ))
        serves = parent is None  # the first model serves at once; later ones wait for promotion
        if serves:
            model_repo.set_serving(session=session, task_id=task.id, model_id=registered.id)
        audit.record(session=session, actor=trained_by, action="model.train",
                     entity="modelversion", entity_id=registered.id,
                     after={"task": task.name, "version": version,
                            "n_train": len(train.labels)})
    return TrainedModel(task=task_name, version=version, n_train=len(train.labels),
                        classes=sorted(set(train.labels)), seconds=time.perf_counter() - start,
                        serving=serves, n_eval=metrics["n_eval"],
                        train_seconds=metrics["train_seconds"], metrics=metrics)


BINARY_UNSAFE = "unsafe"


def _binary_truth(labels: list[str], *, safe_label: str, path: Path | str) -> list[str]:
    """``--binary`` labels as the task's: safe stays safe, ``unsafe`` stands for any other."""
    allowed = {safe_label, "safe", BINARY_UNSAFE}
    wrong = sorted({v for v in labels if v not in allowed})
    if wrong:
        raise TrainingError(f"{path}: --binary labels are 'safe' or 'unsafe'; found "
                            f"{', '.join(map(repr, wrong[:5]))}")
    return [BINARY_UNSAFE if v == BINARY_UNSAFE else safe_label for v in labels]


@requires(Capability.manage_models)
def evaluate_file(*, engine: Engine, actor: Actor, task_name: str, encoder: Encoder,
                  path: Path | str, text_col: str = "text", label_col: str = "label",
                  oos_label: str | None = None, binary: bool = False) -> dict[str, Any]:
    """The serving model's metrics on a labeled JSONL/CSV file.

    Rows labeled ``oos_label`` (default: the task's out-of-scope label) are out of scope: the
    result's ``oos`` holds in-scope accuracy and out-of-scope recall with the stored threshold.
    For a safety task ``unsafe`` holds precision, recall and F1 of unsafe against safe at the
    model's unsafe threshold; with ``binary`` the file's labels are ``safe`` / ``unsafe`` and
    only those figures are given.
    """
    texts, labels = read_labeled_file(path, text_col=text_col, label_col=label_col)
    with session_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        serving = model_repo.serving(session=session, task_id=task.id)
        if serving is None:
            raise TrainingError(f"task {task_name!r} has no serving model; train one first")
        if binary and task.safe_label is None:
            raise TrainingError(f"--binary is for safety tasks; {task_name!r} has no safe label")
        oos_label = oos_label or task.oos_label
        safe_label = task.safe_label
        X = embed_texts(session=session, encoder=encoder, texts=texts)
        file_path, file_hash = serving.file_path, serving.file_hash
        version, stored = serving.version, dict(serving.settings or {})
    model = MODEL_CACHE.get(file_path, file_hash)
    threshold = stored.get("oos_threshold")
    if oos_label is not None and threshold is None:
        threshold = 0.0  # an older model without a tuned threshold: the OOS class alone rejects
    if binary:
        labels = _binary_truth(labels, safe_label=safe_label, path=path)
    out = evaluate_model(model, X, labels, oos_label=None if binary else oos_label,
                         threshold=threshold, target_oos_recall=stored.get("target_oos_recall"),
                         texts=texts, safe_label=safe_label,
                         unsafe_threshold=stored.get("unsafe_threshold"))
    if binary:
        out = {"n": len(labels), "unsafe": out["unsafe"], "binary": True}
    out.update({"task": task_name, "version": version, "file": str(path),
                "temperature": stored.get("temperature")})
    return json.loads(json.dumps(out))
