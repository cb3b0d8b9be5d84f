"""The task classifier on text embeddings, and fast float32 probabilities for big pools.

``make_classifier`` is the one place the model's settings live, so active learning, the
simulation, training, cleanlab's cross-validation and the query-by-committee members all fit the
same thing: a ``FastLogisticRegression`` (``labeling.ml.logistic``, imported here too, where
model files written before it moved name it).

``predict_proba_fast`` scores a pool of a million embeddings in float32 chunks instead of making
a float64 copy of it, and ``FastProbaClassifier`` puts that behind the ``classes_`` /
``predict_proba`` / ``predict`` face that modAL's query functions expect. A
``TemperatureScaledClassifier`` is scored as its logistic regression with the weights divided by
the temperature.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from labeling.ml.calibration import TemperatureScaledClassifier
from labeling.ml.logistic import (  # noqa: F401 (re-exported: older model files name them here)
    FIT_BLAS_THREADS,
    FastLogisticRegression,
    fit_logistic,
)

DEFAULT_C = 20.0
DEFAULT_CHUNK = 200_000
def make_classifier(
    *,
    seed: int = 0,
    C: float = DEFAULT_C,
    class_weight: str | None = "balanced",
    max_iter: int = 300,
    tol: float = 1e-4,
) -> FastLogisticRegression:
    """An unfitted multinomial logistic regression (lbfgs) for L2-normalised embeddings.

    Parameters
    ----------
    seed
        ``random_state`` (lbfgs is deterministic; kept so every model factory takes a seed).
    C
        Inverse L2 strength. Unit-length 384-d embeddings have small coordinates, so ``C=1``
        under-fits (CLINC150 ``val`` accuracy 0.78 vs 0.90 with 1,500 random labels). With
        margin sampling (3 seeds, ``val``) C = 10 / 20 / 30 gave 0.932 / 0.940 / 0.936 at 1,500
        labels and 0.956 / 0.957 / 0.956 at 3,000.
    class_weight
        ``"balanced"``: the items active learning picks are far from class-balanced; weighting
        classes by inverse frequency raised margin sampling's ``val`` accuracy from 0.817 to
        0.847 at 600 labels (equal at 3,000).
    max_iter, tol
        lbfgs limits. With 150 classes the loss gradient at the start is only ~1e-3 (max abs),
        so ``tol=1e-3`` can stop at the first iterates (it did in 2 of 3 runs: accuracy below
        0.01); ``1e-4`` takes 15 to 35 iterations and matches the converged (``1e-6``) accuracy
        in a third of the time (1 to 2 s for 3,000 x 384 with 150 classes on 2 cores, with
        scikit-learn's own fit).

    Notes
    -----
    Tuned on CLINC150's ``val`` split with MiniLM embeddings (``bench/al_clinc.py
    --eval-split val``); the test split was not used to choose anything.
    """
    return FastLogisticRegression(
        C=C, class_weight=class_weight, max_iter=max_iter, tol=tol, random_state=seed,
    )


def inner_model(model: Any) -> Any:
    """The classifier inside a wrapper that scores as it does, else ``None``: a text-feature
    model's embedding view, a ``ScopedClassifier``'s calibrated classifier, or the model a
    ``TaskTrainer`` trained."""
    if hasattr(model, "embedding_model") and hasattr(model, "predict_proba_texts"):
        return model.embedding_model
    if hasattr(model, "scope_scores") and hasattr(model, "estimator"):
        return model.estimator
    if hasattr(model, "oos_threshold_") and hasattr(model, "model_"):
        return model.model_  # the simulation's TaskTrainer: the model it trained
    return None


def _linear_parts(model: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """``(W, b)`` with ``logits = X @ W + b`` (float32) for a fitted linear model, else ``None``.

    Handles a ``LogisticRegression``, a ``Pipeline`` of ``StandardScaler`` steps ending in
    one (the scaling is folded into the weights), a ``TemperatureScaledClassifier`` around
    either (the weights are divided by the temperature), and the wrappers of ``inner_model``.
    """
    inner = inner_model(model)
    if inner is not None:
        return _linear_parts(inner)
    if isinstance(model, TemperatureScaledClassifier):
        parts = _linear_parts(model.estimator)
        if parts is None:
            return None
        scale = np.float32(1.0 / model.temperature)
        return parts[0] * scale, parts[1] * scale
    scalers: list[StandardScaler] = []
    if isinstance(model, Pipeline):
        *head, (_, last) = model.steps
        if not all(isinstance(step, StandardScaler) for _, step in head):
            return None
        scalers = [step for _, step in head]
        model = last
    if not isinstance(model, LogisticRegression) or not hasattr(model, "coef_"):
        return None
    weights = np.asarray(model.coef_, dtype=np.float64).T  # (d, k)
    bias = np.asarray(model.intercept_, dtype=np.float64).copy()
    for scaler in reversed(scalers):
        # ((x - mean) / scale) @ W + b  ==  x @ (W / scale) + (b - mean @ (W / scale))
        if scaler.with_std:
            weights = weights / np.reshape(scaler.scale_, (-1, 1))
        if scaler.with_mean:
            bias = bias - np.asarray(scaler.mean_) @ weights
    return np.ascontiguousarray(weights, dtype=np.float32), bias.astype(np.float32)


def _softmax_rows(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, in place on a float32 array."""
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    return logits


def _binary_proba(logits: np.ndarray) -> np.ndarray:
    """``[1 - p, p]`` with ``p = sigmoid(logit)`` for a one-column logit array."""
    positive = 1.0 / (1.0 + np.exp(-logits[:, 0]))
    return np.stack([1.0 - positive, positive], axis=1).astype(np.float32)


def predict_proba_fast(model: Any, X: np.ndarray, *, chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    """Class probabilities as float32, computed in chunks of ``chunk`` rows.

    For a fitted ``LogisticRegression`` (or scalers + one in a ``Pipeline``) this is
    ``softmax(X @ coef_.T + intercept_)`` (the sigmoid pair for a binary model) in float32, so a
    1M x 384 pool is never copied to float64. Any other model falls back to
    ``model.predict_proba``.

    Parameters
    ----------
    model
        A fitted classifier.
    X
        ``(n, d)`` embeddings; each chunk is converted to float32 on its own.
    chunk
        Rows per matrix product; bounds the temporary memory to ``chunk x n_classes`` floats.

    Returns
    -------
    np.ndarray
        ``(n, n_classes)`` float32, columns in ``model.classes_`` order.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    parts = _linear_parts(model)
    if parts is None:
        return np.asarray(model.predict_proba(X), dtype=np.float32)
    weights, bias = parts
    n_rows = X.shape[0]
    n_classes = 2 if weights.shape[1] == 1 else weights.shape[1]
    out = np.empty((n_rows, n_classes), dtype=np.float32)
    for start in range(0, n_rows, chunk):
        block = np.asarray(X[start : start + chunk], dtype=np.float32)
        logits = block @ weights
        logits += bias
        if weights.shape[1] == 1:
            out[start : start + len(block)] = _binary_proba(logits)
        else:
            out[start : start + len(block)] = _softmax_rows(logits)
    return out


def top_proba_fast(
    model: Any, X: np.ndarray, *, k: int, chunk: int = DEFAULT_CHUNK
) -> np.ndarray:
    """Each row's ``k`` largest class probabilities (float32, ``(n, k)``, in no set order).

    Enough for a measure that reads only those (least confidence: ``k=1``, margin: ``k=2``),
    and for a linear model cheaper than ``predict_proba_fast`` plus a partition of every row:
    the softmax denominator and a ``k``-partition of the exponentials, one chunk at a time.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    parts = _linear_parts(model)
    if parts is None or parts[0].shape[1] == 1 or parts[0].shape[1] <= k:  # binary, or few
        proba = predict_proba_fast(model, X, chunk=chunk)
        return proba if proba.shape[1] <= k else np.partition(proba, -k, axis=1)[:, -k:]
    weights, bias = parts
    out = np.empty((X.shape[0], k), dtype=np.float32)
    for start in range(0, X.shape[0], chunk):
        logits = np.asarray(X[start : start + chunk], dtype=np.float32) @ weights
        logits += bias
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)  # the largest is now exactly 1
        total = logits.sum(axis=1, keepdims=True)
        top = np.ones_like(total) if k == 1 else np.partition(logits, -k, axis=1)[:, -k:]
        out[start : start + len(logits)] = top / total
    return out


def predict_fast(model: Any, X: np.ndarray, *, chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    """Predicted labels (``model.classes_`` values), by arg-max of the chunked logits."""
    parts = _linear_parts(model)
    if parts is None:
        return np.asarray(model.predict(X))
    weights, bias = parts
    winners = np.empty(X.shape[0], dtype=np.int64)
    for start in range(0, X.shape[0], chunk):
        logits = np.asarray(X[start : start + chunk], dtype=np.float32) @ weights + bias
        if weights.shape[1] == 1:
            winners[start : start + len(logits)] = (logits[:, 0] > 0).astype(np.int64)
        else:
            winners[start : start + len(logits)] = logits.argmax(axis=1)
    return np.asarray(model.classes_)[winners]


class FastProbaClassifier(BaseEstimator):
    """A fitted classifier seen through ``predict_proba_fast``, for modAL's query functions.

    Parameters
    ----------
    model
        A fitted classifier (ideally a ``LogisticRegression``).
    chunk
        Rows per matrix product.
    """

    def __init__(self, model: Any, *, chunk: int = DEFAULT_CHUNK) -> None:
        self.model = model
        self.chunk = chunk

    @property
    def classes_(self) -> np.ndarray:
        return np.asarray(self.model.classes_)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self.model, "classes_")

    def fit(self, X: np.ndarray, y: np.ndarray) -> FastProbaClassifier:
        """Fit the wrapped model (so the wrapper can also stand in as an estimator)."""
        self.model.fit(X, y)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return predict_proba_fast(self.model, X, chunk=self.chunk)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return predict_fast(self.model, X, chunk=self.chunk)


def as_fast(model: Any) -> FastProbaClassifier:
    """``model`` wrapped in a ``FastProbaClassifier`` (unchanged if it already is one)."""
    return model if isinstance(model, FastProbaClassifier) else FastProbaClassifier(model)
