"""Fitting a calibrated classifier: logistic regression, temperature scaling and the
out-of-scope threshold on validation rows, then a warm refit on all rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labeling.ml.calibration import TemperatureScaledClassifier
from labeling.ml.classifier import (
    FastLogisticRegression,
    fit_logistic,
    make_classifier,
    predict_proba_fast,
)
from labeling.ml.evaluation import rejected, tune_oos_threshold

TARGET_OOS_RECALL = 0.8


def _convergence_notes(model: FastLogisticRegression, fit: str) -> list[str]:
    """A note if ``model``'s solver stopped before converging (``converged_`` is false)."""
    if getattr(model, "converged_", True):
        return []
    return [f"logistic regression did not converge in {fit} ({int(np.max(model.n_iter_))} "
            f"of max_iter={model.max_iter} iterations): its weights are not the optimum"]


@dataclass(frozen=True)
class FitResult:
    model: TemperatureScaledClassifier
    oos_threshold: float | None
    n_val: int
    notes: list[str]
    val_proba: np.ndarray | None = None
    """Calibrated probabilities of the validation rows from the model before its refit."""


def fit_calibrated(X: np.ndarray, y: list[str], *, val_rows: np.ndarray, oos_label: str | None,
                   target_oos_recall: float = TARGET_OOS_RECALL, seed: int = 0,
                   refit: bool = True) -> FitResult:
    """Logistic regression on the non-validation rows, its temperature and out-of-scope
    threshold fitted on the validation rows, then (``refit``) refitted on all rows from the
    first fit's weights, keeping the temperature and threshold. A fit whose solver stopped
    before converging adds a note (and its ``ConvergenceWarning`` is passed on)."""
    labels = np.asarray(y, dtype=object)
    notes: list[str] = []
    base = fit_logistic(make_classifier(seed=seed), X[~val_rows], labels[~val_rows])
    notes += _convergence_notes(base, "the fit before calibration")
    model = TemperatureScaledClassifier(base)
    if val_rows.any():
        model.fit(X[val_rows], labels[val_rows])
    else:
        notes.append("no validation rows: temperature left at 1.0")
    threshold = None
    val_proba = predict_proba_fast(model, X[val_rows]) if val_rows.any() else None
    if oos_label is not None:
        is_oos = labels[val_rows] == oos_label
        if is_oos.any():
            proba = val_proba.copy()
            scores = proba.max(axis=1)
            scores[rejected(proba, model.classes_.tolist(), oos_label=oos_label,
                            threshold=0.0)] = 0.0
            threshold = tune_oos_threshold(scores, is_oos, target_recall=target_oos_recall)
        else:
            threshold = 0.0
            notes.append("no out-of-scope validation examples: threshold 0 (only the "
                         "out-of-scope class rejects)")
    if refit and val_rows.any():
        full = fit_logistic(make_classifier(seed=seed), X, labels, warm_start=base)
        notes += _convergence_notes(full, "the refit on all rows")
        model = TemperatureScaledClassifier(full, temperature=model.temperature)
    return FitResult(model=model, oos_threshold=threshold, n_val=int(val_rows.sum()),
                     notes=notes, val_proba=val_proba)


