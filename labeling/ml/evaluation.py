"""Evaluation of a classifier's predictions: accuracy, F1, confusion, calibration, out-of-scope.

Pure functions over arrays; every result is plain JSON (floats, ints, strings, lists, dicts),
ready for ``ModelVersion.metrics``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from labeling.ml.scope import scope_scores_if_any
from labeling.ml.text_features import predict_proba_for

ECE_BINS = 15


def figure(metrics: Mapping[str, Any] | None, key: str, *, within: str | None = None
           ) -> float | None:
    """One number of an ``evaluate_model`` result (``within`` a nested part such as ``oos``),
    or ``None`` where it is missing."""
    source = metrics or {}
    if within is not None:
        source = source.get(within) or {}
    value = source.get(key)
    return None if value is None else float(value)


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
             threshold: float, scores: np.ndarray | None = None) -> np.ndarray:
    """Rows sent to out-of-scope: predicted as ``oos_label``, or a score below ``threshold``.

    The score is ``scores`` when given (a ``ScopedClassifier``'s in-scope score), else the
    largest probability.
    """
    proba = np.asarray(proba)
    if len(proba) == 0:
        return np.zeros(0, dtype=bool)
    predicted = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    score = proba.max(axis=1) if scores is None else np.asarray(scores)
    return (predicted == oos_label) | (score < threshold)


TRADEOFF_POINTS = 40
IN_SCOPE_SPAN = 0.3
"""The curve's thresholds reach up to this quantile of the in-scope scores (rejecting more
in-scope prompts than that is never an operating point anyone wants)."""


def oos_tradeoff(proba: np.ndarray, y_true: Sequence[str], classes: Sequence[str], *,
                 oos_label: str, scores: np.ndarray | None = None,
                 points: int = TRADEOFF_POINTS) -> list[dict[str, float]]:
    """In-scope accuracy against out-of-scope recall over thresholds: the operating points a
    lead chooses from.

    The thresholds are ``points`` quantiles of the scores (``scores``, else the largest
    probability) of the out-of-scope rows and as many of the lowest ``IN_SCOPE_SPAN`` of the
    in-scope rows (of the rows not already predicted out of scope), plus one that rejects no
    more. Empty without both in-scope and out-of-scope rows.
    """
    y = np.asarray([str(v) for v in y_true], dtype=object)
    proba = np.asarray(proba)
    oos = y == oos_label
    if not len(y) or not oos.any() or oos.all():
        return []
    score = proba.max(axis=1) if scores is None else np.asarray(scores, dtype=np.float64)
    predicted = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    open_rows = predicted != oos_label
    right = (predicted == y) & ~oos
    candidates = np.unique(np.concatenate(
        [np.quantile(score[open_rows & rows], np.linspace(0, top, points))
         for rows, top in ((oos, 1.0), (~oos, IN_SCOPE_SPAN)) if (open_rows & rows).any()]
        or [np.zeros(1)]))
    out = []
    for threshold in [float(score.min()) - 1.0, *map(float, candidates)]:
        out_rows = ~open_rows | (score < threshold)
        out.append({"threshold": threshold,
                    "in_scope_accuracy": float((right & ~out_rows)[~oos].mean()),
                    "oos_recall": float(out_rows[oos].mean())})
    return out


def operating_point(curve: Sequence[dict[str, float]], *, target_recall: float
                    ) -> dict[str, float] | None:
    """The point of a trade-off curve with the highest in-scope accuracy among those reaching
    ``target_recall`` (the highest recall if none does); ``None`` for an empty curve."""
    if not curve:
        return None
    reaching = [p for p in curve if p["oos_recall"] >= target_recall - 1e-12]
    if not reaching:
        return max(curve, key=lambda p: (p["oos_recall"], p["in_scope_accuracy"]))
    return max(reaching, key=lambda p: (p["in_scope_accuracy"], -p["threshold"]))


def point_at(curve: Sequence[dict[str, float]], threshold: float) -> dict[str, float] | None:
    """The curve's point at ``threshold``: the nearest computed threshold not above it, or the
    first point (below every score: no rejection by score) for a threshold below them all;
    ``None`` for an empty curve."""
    if not curve:
        return None
    below = [p for p in curve if p["threshold"] <= threshold + 1e-12]
    return max(below or [min(curve, key=lambda p: p["threshold"])],
               key=lambda p: p["threshold"])


def oos_metrics(
    proba: np.ndarray, y_true: Sequence[str], classes: Sequence[str], *, oos_label: str,
    threshold: float, target_recall: float | None = None, scores: np.ndarray | None = None,
) -> dict[str, Any]:
    """In-scope accuracy and out-of-scope recall with rejection below ``threshold``.

    An in-scope row is right only if it is not rejected and its arg-max is its label; an
    out-of-scope row (labeled ``oos_label``) is right if it is rejected. ``scores`` as in
    ``rejected``; ``curve`` is ``oos_tradeoff`` on these rows.

    Returns
    -------
    dict
        ``in_scope_accuracy``, ``oos_recall`` (``None`` without such rows),
        ``in_scope_accuracy_no_threshold`` (arg-max only), ``in_scope_rejected`` (share),
        ``n_in_scope``, ``n_oos``, ``label``, ``threshold``, ``target_recall``, ``score``
        (``"scope"`` or ``"max_probability"``), ``curve``.
    """
    y = np.asarray([str(v) for v in y_true], dtype=object)
    proba = np.asarray(proba)
    out = rejected(proba, classes, oos_label=oos_label, threshold=threshold, scores=scores)
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
        "score": "max_probability" if scores is None else "scope",
        "curve": oos_tradeoff(proba, y, classes, oos_label=oos_label, scores=scores),
    }


def best_f1_threshold(scores: np.ndarray, positive: np.ndarray, *, default: float = 0.5) -> float:
    """The score threshold (``score >= t`` means positive) with the highest F1 on these rows;
    among equal F1s the middle of the best run. ``default`` without positives or rows."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    if not positive.any() or len(scores) == 0:
        return float(default)
    order = np.argsort(-scores, kind="stable")
    hits = np.cumsum(positive[order])
    flagged = np.arange(1, len(scores) + 1)
    f1 = 2 * hits / (flagged + positive.sum())
    ranked = scores[order]
    last = np.r_[ranked[1:] != ranked[:-1], True]  # cut only between distinct scores
    f1 = np.where(last, f1, -1.0)
    best = np.flatnonzero(f1 >= f1.max() - 1e-12)
    cut = best[len(best) // 2]
    below = ranked[cut + 1] if cut + 1 < len(ranked) else 0.0
    return float((ranked[cut] + below) / 2) if below < ranked[cut] else float(ranked[cut])


def binary_metrics(predicted: np.ndarray, actual: np.ndarray) -> dict[str, Any]:
    """Precision, recall and F1 of boolean predictions against boolean truth (``None`` where
    undefined), with the counts."""
    predicted, actual = np.asarray(predicted, dtype=bool), np.asarray(actual, dtype=bool)
    hits = int((predicted & actual).sum())
    precision = hits / int(predicted.sum()) if predicted.any() else None
    recall = hits / int(actual.sum()) if actual.any() else None
    f1 = (2 * precision * recall / (precision + recall)
          if precision is not None and recall is not None and precision + recall > 0 else
          (0.0 if precision is not None and recall is not None else None))
    return {"precision": precision, "recall": recall, "f1": f1, "support": int(actual.sum()),
            "predicted": int(predicted.sum()), "n": len(actual)}


def unsafe_metrics(proba: np.ndarray, y_true: Sequence[str], classes: Sequence[str], *,
                   safe_label: str, threshold: float) -> dict[str, Any]:
    """Unsafe versus safe: a row is predicted unsafe when ``1 - P(safe_label) >= threshold``;
    it is unsafe when its label is not ``safe_label``."""
    unsafe = unsafe_scores(proba, classes, safe_label=safe_label)
    actual = np.array([str(v) != safe_label for v in y_true], dtype=bool)
    return {**binary_metrics(unsafe >= threshold, actual), "threshold": float(threshold)}


def unsafe_scores(proba: np.ndarray, classes: Sequence[str], *, safe_label: str) -> np.ndarray:
    """``1 - P(safe_label)`` per row (1.0 everywhere if the model does not know the label)."""
    classes = [str(c) for c in classes]
    proba = np.asarray(proba, dtype=np.float64)
    if safe_label not in classes:
        return np.ones(len(proba))
    return 1.0 - proba[:, classes.index(safe_label)]


def category_thresholds(proba: np.ndarray, y_true: Sequence[str], classes: Sequence[str], *,
                        safe_label: str) -> dict[str, float]:
    """Per unsafe category, the F1-best threshold on ``P(category)`` (one against the rest)."""
    y = np.array([str(v) for v in y_true], dtype=object)
    return {str(c): best_f1_threshold(np.asarray(proba)[:, i], y == str(c))
            for i, c in enumerate(classes) if str(c) != safe_label}


def evaluate_model(model: Any, X: np.ndarray, y: list[str], *, oos_label: str | None,
                   threshold: float | None, target_oos_recall: float | None = None,
                   texts: Sequence[str] | None = None, safe_label: str | None = None,
                   unsafe_threshold: float | None = None) -> dict[str, Any]:
    """``classification_metrics`` of ``model`` on ``(X, y)``, with ``oos`` figures (or ``None``)
    and, for a safety model (``safe_label``), ``unsafe`` figures (or ``None``). A model that
    reads texts (``predict_proba_texts``) is given ``texts``."""
    proba = predict_proba_for(model, texts, X).astype(np.float64)
    classes = [str(c) for c in model.classes_]
    predicted = [classes[i] for i in proba.argmax(axis=1)] if len(proba) else []
    out = classification_metrics(y, predicted, proba, classes)
    out["oos"] = None if oos_label is None or threshold is None else oos_metrics(
        proba, y, classes, oos_label=oos_label, threshold=threshold,
        target_recall=target_oos_recall, scores=scope_scores_if_any(model, X))
    out["unsafe"] = None if safe_label is None else unsafe_metrics(
        proba, y, classes, safe_label=safe_label,
        threshold=0.5 if unsafe_threshold is None else unsafe_threshold)
    return out
