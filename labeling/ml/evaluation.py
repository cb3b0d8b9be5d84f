"""Evaluation of a classifier's predictions: accuracy, F1, confusion, calibration, out-of-scope.

Pure functions over arrays; every result is plain JSON (floats, ints, strings, lists, dicts),
ready for ``ModelVersion.metrics``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from labeling.ml.classifier import predict_proba_fast

ECE_BINS = 15


def expected_calibration_error(
    proba: np.ndarray, y_true_index: np.ndarray, *, bins: int = ECE_BINS
) -> tuple[float, list[dict[str, Any]]]:
    """Top-label expected calibration error over ``bins`` equal-width confidence bins.

    Parameters
    ----------
    proba
        ``(n, n_classes)`` predicted probabilities.
    y_true_index
        ``(n,)`` column of each row's true class; ``-1`` for a class the model does not know
        (always wrong).

    Returns
    -------
    ece
        ``sum_b (n_b / n) |accuracy_b - confidence_b|`` (0.0 with no rows).
    reliability
        One row per bin: ``bin_lower``, ``bin_upper``, ``confidence`` and ``accuracy`` (mean
        over the bin, ``None`` when empty) and ``count``; the counts sum to ``n``.
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    proba = np.asarray(proba, dtype=np.float64)
    y_true_index = np.asarray(y_true_index, dtype=np.int64)
    n = len(y_true_index)
    confidence = proba.max(axis=1) if n else np.zeros(0)
    correct = (proba.argmax(axis=1) == y_true_index) if n else np.zeros(0, dtype=bool)
    # bin b holds confidences in (lower, upper]; a confidence of 0 falls into the first bin
    which = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    ece = 0.0
    rows = []
    for b in range(bins):
        members = which == b
        count = int(members.sum())
        conf = float(confidence[members].mean()) if count else None
        acc = float(correct[members].mean()) if count else None
        if count:
            ece += count / n * abs(acc - conf)
        rows.append({"bin_lower": b / bins, "bin_upper": (b + 1) / bins, "confidence": conf,
                     "accuracy": acc, "count": count})
    return float(ece), rows


def _index_of(y: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    position = {label: i for i, label in enumerate(classes)}
    return np.array([position.get(label, -1) for label in y], dtype=np.int64)


def classification_metrics(
    y_true: Sequence[str], y_pred: Sequence[str], proba: np.ndarray, classes: Sequence[str],
    *, bins: int = ECE_BINS,
) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1, the confusion matrix and ECE.

    Parameters
    ----------
    y_true, y_pred
        True and predicted labels.
    proba
        ``(n, len(classes))`` probabilities, columns in ``classes`` order.
    classes
        The model's classes; a true label outside them is listed after them in ``per_class``
        and ``confusion``.

    Returns
    -------
    dict
        ``accuracy``, ``macro_f1`` (scikit-learn's ``f1_score(average="macro")``), ``per_class``
        (``label``, ``precision``, ``recall``, ``f1``, ``support``), ``confusion`` (``labels``,
        ``matrix``: rows true, columns predicted), ``ece``, ``reliability``, ``n``.
    """
    y_true = [str(v) for v in y_true]
    y_pred = [str(v) for v in y_pred]
    classes = [str(c) for c in classes]
    if len(y_true) != len(y_pred) or len(y_true) != len(proba):
        raise ValueError("y_true, y_pred and proba must have the same number of rows")
    labels = classes + sorted(set(y_true) - set(classes))
    if not y_true:
        return {"n": 0, "accuracy": None, "macro_f1": None, "per_class": [],
                "confusion": {"labels": labels, "matrix": []}, "ece": None, "reliability": []}
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    ece, reliability = expected_calibration_error(proba, _index_of(y_true, classes), bins=bins)
    return {
        "n": len(y_true),
        "accuracy": float(np.mean(np.array(y_true, dtype=object) == np.array(y_pred,
                                                                             dtype=object))),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "per_class": [{"label": label, "precision": float(p), "recall": float(r),
                       "f1": float(f), "support": int(s)}
                      for label, p, r, f, s in zip(labels, precision, recall, f1, support,
                                                   strict=True)],
        "confusion": {"labels": labels,
                      "matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist()},
        "ece": ece,
        "reliability": reliability,
    }


def tune_oos_threshold(
    max_proba_val: np.ndarray, is_oos_val: np.ndarray, *, target_recall: float = 0.8
) -> float:
    """The smallest threshold whose rejections (max probability below it) reach
    ``target_recall`` of the out-of-scope validation rows.

    Rows the classifier already assigns to the out-of-scope label are rejected whatever the
    threshold: pass them with a score of 0. With no out-of-scope rows, 0.0 (reject nothing).
    """
    if not 0.0 <= target_recall <= 1.0:
        raise ValueError(f"target_recall must lie in [0, 1], got {target_recall}")
    scores = np.sort(np.asarray(max_proba_val, dtype=np.float64)[np.asarray(is_oos_val,
                                                                               dtype=bool)])
    needed = int(np.ceil(target_recall * len(scores) - 1e-9))
    if needed == 0:
        return 0.0
    return float(np.nextafter(scores[needed - 1], np.inf))


def rejected(proba: np.ndarray, classes: Sequence[str], *, oos_label: str | None,
             threshold: float) -> np.ndarray:
    """Rows sent to out-of-scope: predicted as ``oos_label`` or max probability < threshold."""
    proba = np.asarray(proba)
    if len(proba) == 0:
        return np.zeros(0, dtype=bool)
    predicted = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    return (predicted == oos_label) | (proba.max(axis=1) < threshold)


def oos_metrics(
    proba: np.ndarray, y_true: Sequence[str], classes: Sequence[str], *, oos_label: str,
    threshold: float, target_recall: float | None = None,
) -> dict[str, Any]:
    """In-scope accuracy and out-of-scope recall with rejection below ``threshold``.

    An in-scope row is right only if it is not rejected and its arg-max is its label; an
    out-of-scope row (labeled ``oos_label``) is right if it is rejected.

    Returns
    -------
    dict
        ``in_scope_accuracy``, ``oos_recall`` (``None`` without such rows),
        ``in_scope_accuracy_no_threshold`` (arg-max only), ``in_scope_rejected`` (share),
        ``n_in_scope``, ``n_oos``, ``label``, ``threshold``, ``target_recall``.
    """
    y = np.asarray([str(v) for v in y_true], dtype=object)
    proba = np.asarray(proba)
    out = rejected(proba, classes, oos_label=oos_label, threshold=threshold)
    predicted = (np.asarray(classes, dtype=object)[proba.argmax(axis=1)] if len(y)
                 else np.zeros(0, dtype=object))
    oos = y == oos_label
    inside = ~oos
    right = (predicted == y) & inside

    def share(mask: np.ndarray, of: np.ndarray) -> float | None:
        return float(mask[of].mean()) if of.any() else None

    return {
        "in_scope_accuracy": share(right & ~out, inside),
        "oos_recall": share(out, oos),
        "in_scope_accuracy_no_threshold": share(right, inside),
        "in_scope_rejected": share(out, inside),
        "n_in_scope": int(inside.sum()), "n_oos": int(oos.sum()), "label": oos_label,
        "threshold": float(threshold),
        "target_recall": None if target_recall is None else float(target_recall),
    }


def evaluate_model(model: Any, X: np.ndarray, y: list[str], *, oos_label: str | None,
                   threshold: float | None, target_oos_recall: float | None = None
                   ) -> dict[str, Any]:
    """``classification_metrics`` of ``model`` on ``(X, y)``, with ``oos`` figures (or ``None``)."""
    proba = predict_proba_fast(model, X).astype(np.float64)
    classes = [str(c) for c in model.classes_]
    predicted = [classes[i] for i in proba.argmax(axis=1)] if len(proba) else []
    out = classification_metrics(y, predicted, proba, classes)
    out["oos"] = None if oos_label is None or threshold is None else oos_metrics(
        proba, y, classes, oos_label=oos_label, threshold=threshold,
        target_recall=target_oos_recall)
    return out
