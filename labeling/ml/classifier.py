"""The task classifier on text embeddings, and fast float32 probabilities for big pools.

``make_classifier`` is the one place the model's settings live, so active learning, the
simulation and training all fit the same thing. ``predict_proba_fast`` scores a pool of a million
embeddings in float32 chunks instead of making a float64 copy of it, and
``FastProbaClassifier`` puts that behind the ``classes_`` / ``predict_proba`` / ``predict`` face
that modAL's query functions expect. ``fit_logistic`` fits ``make_classifier``'s model with
float32 gradients (scikit-learn's float64 lbfgs takes 15 to 20 s on CLINC150's 15,000 x 384 with
150 classes on 2 cores). A ``TemperatureScaledClassifier`` is scored as its logistic regression
with the weights divided by the temperature.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from labeling.ml.calibration import TemperatureScaledClassifier

DEFAULT_C = 20.0
DEFAULT_CHUNK = 200_000


def make_classifier(
    *,
    seed: int = 0,
    C: float = DEFAULT_C,
    class_weight: str | None = "balanced",
    max_iter: int = 300,
    tol: float = 1e-4,
) -> LogisticRegression:
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
        in a third of the time (1 to 2 s for 3,000 x 384 with 150 classes on 2 cores).

    Notes
    -----
    Tuned on CLINC150's ``val`` split with MiniLM embeddings (``bench/al_clinc.py
    --eval-split val``); the test split was not used to choose anything.
    """
    return LogisticRegression(
        C=C, class_weight=class_weight, max_iter=max_iter, tol=tol, random_state=seed,
    )


def _loss_and_gradient(theta: np.ndarray, X: np.ndarray, y_index: np.ndarray,
                       weights: np.ndarray, l2: float) -> tuple[float, np.ndarray]:
    """Weighted multinomial cross-entropy plus ``l2 / 2 * |W|^2`` and its gradient, at
    ``theta = [W.ravel() (d x k), b (k)]``; the matrix products run in float32."""
    n, dim = X.shape
    k = len(theta) // (dim + 1)
    coef = theta[: dim * k]
    logits = X @ coef.reshape(dim, k).astype(np.float32)
    logits += theta[dim * k:].astype(np.float32)
    logits -= logits.max(axis=1, keepdims=True)
    rows = np.arange(n)
    true_logit = logits[rows, y_index]
    np.exp(logits, out=logits)
    norm = logits.sum(axis=1)
    loss = float(weights @ (np.log(norm) - true_logit)) + 0.5 * l2 * float(coef @ coef)
    logits *= (weights / norm)[:, None]  # weighted probabilities ...
    logits[rows, y_index] -= weights  # ... minus the weighted one-hot targets
    grad_w = (X.T @ logits).ravel().astype(np.float64) + l2 * coef
    return loss, np.concatenate([grad_w, logits.sum(axis=0, dtype=np.float64)])


def fit_logistic(model: LogisticRegression, X: np.ndarray, y: Any, *,
                 warm_start: LogisticRegression | None = None) -> LogisticRegression:
    """Fit ``model`` (from ``make_classifier``) with float32 matrix products; return it.

    The objective is scikit-learn's multinomial one (L2 on the weights, not the intercept,
    ``class_weight`` of ``"balanced"`` or ``None``, lbfgs with ``gtol=tol``), so the result is
    an ordinary fitted ``LogisticRegression``; it is several times faster at 150 classes. Two
    classes, or other settings, fall back to ``model.fit``.

    Parameters
    ----------
    warm_start
        A fitted model with the same classes to start from (a refit on more rows then takes a
        few iterations).
    """
    labels = np.asarray(list(y), dtype=object)
    classes, y_index = np.unique(labels, return_inverse=True)
    if len(classes) < 3 or model.class_weight not in ("balanced", None):
        return model.fit(X, list(labels))
    X = np.ascontiguousarray(X, dtype=np.float32)
    n, dim = X.shape
    k = len(classes)
    counts = np.bincount(y_index, minlength=k)
    weights = (n / (k * counts))[y_index] if model.class_weight == "balanced" else np.ones(n)
    total = float(weights.sum())
    start = np.zeros(dim * k + k)
    if warm_start is not None and list(warm_start.classes_) == list(classes):
        start = np.concatenate([np.asarray(warm_start.coef_).T.ravel(), warm_start.intercept_])
    result = minimize(_loss_and_gradient, start, jac=True, method="L-BFGS-B",
                      args=(X, y_index, (weights / total).astype(np.float32),
                            1.0 / (model.C * total)),
                      options={"maxiter": model.max_iter, "gtol": model.tol})
    model.classes_ = classes
    model.coef_ = result.x[: dim * k].reshape(dim, k).T.copy()
    model.intercept_ = result.x[dim * k:].copy()
    model.n_iter_ = np.array([result.nit], dtype=np.int32)
    model.n_features_in_ = dim
    return model


def _linear_parts(model: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """``(W, b)`` with ``logits = X @ W + b`` (float32) for a fitted linear model, else ``None``.

    Handles a ``LogisticRegression``, a ``Pipeline`` of ``StandardScaler`` steps ending in
    one (the scaling is folded into the weights) and a ``TemperatureScaledClassifier`` around
    either (the weights are divided by the temperature).
    """
    if hasattr(model, "embedding_model") and hasattr(model, "predict_proba_texts"):
        return _linear_parts(model.embedding_model)  # a text-feature model: its embedding view
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
