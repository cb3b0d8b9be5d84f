"""The task classifier on text embeddings, and fast float32 probabilities for big pools.

``make_classifier`` is the one place the model's settings live, so active learning, the
simulation, training, cleanlab's cross-validation and the query-by-committee members all fit the
same thing: a ``FastLogisticRegression``. That is scikit-learn's ``LogisticRegression`` (same
parameters, multinomial objective and fitted attributes, so ``clone``, ``cross_val_predict``
and skops model files work as before) whose ``fit`` runs scipy's L-BFGS with float32 matrix
products on one BLAS thread. On 2 cores shared with other work, scikit-learn's fit of
CLINC150-sized data (15,000 x 384, 150 classes) took 4 to 17 s, mostly OpenBLAS threads waiting
on each other in L-BFGS's small vector steps; this one took 2.4 to 3.3 s. A fit that stops before
converging says so (a ``ConvergenceWarning``, and ``converged_`` is ``False``);
``fit_logistic`` fits one from another model's weights.

``predict_proba_fast`` scores a pool of a million embeddings in float32 chunks instead of making
a float64 copy of it, and ``FastProbaClassifier`` puts that behind the ``classes_`` /
``predict_proba`` / ``predict`` face that modAL's query functions expect. A
``TemperatureScaledClassifier`` is scored as its logistic regression with the weights divided by
the temperature.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import sparse
from scipy.optimize import minimize
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data
from threadpoolctl import threadpool_limits

from labeling.ml.calibration import TemperatureScaledClassifier

DEFAULT_C = 20.0
DEFAULT_CHUNK = 200_000
MAX_LINE_SEARCH = 50
"""L-BFGS line-search steps per iteration (scikit-learn's setting; scipy's default is 20)."""
FIT_BLAS_THREADS = 1
"""BLAS threads while ``FastLogisticRegression`` fits. On 2 cores shared with other work, two
OpenBLAS threads made scipy's L-BFGS step (small vector operations on 57,750 weights) 40 times
slower (76 vs 1.7 ms a step) and the whole 3,000 x 384, 150-class fit 10 times slower (4.2 vs
0.45 s); one thread was also no slower for the 15,000-row matrix products. (scikit-learn's own
fit with one thread: 2.5 s for 15,000 x 384 float32 rows, 150 classes, against 4 to 13 s.)"""


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


def _loss_and_gradient(theta: np.ndarray, X: np.ndarray, y_index: np.ndarray,
                       weights: np.ndarray, l2: float) -> tuple[float, np.ndarray]:
    """Weighted multinomial cross-entropy plus ``l2 / 2 * |W|^2`` and its gradient, at
    ``theta = [W.ravel() (d x k), b (k)]``; the matrix products and the softmax run in float32
    (``X`` and ``weights`` are float32).

    A float64 softmax made the loss 1.5 times slower and changed neither the solver's stopping
    (projected gradient below ``tol``, or no relative decrease of the loss) nor its optimum at
    ``tol`` from 1e-4 to 1e-8 on 150-class, 384-d problems.
    """
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


class FastLogisticRegression(LogisticRegression):
    """scikit-learn's ``LogisticRegression`` with a float32 L-BFGS ``fit`` for many classes.

    The parameters, the objective and the fitted attributes are ``LogisticRegression``'s: for
    three or more classes, the weighted mean multinomial cross-entropy plus
    ``|coef_|^2 / (2 C sum(weights))`` (no penalty on the intercept), with ``class_weight``
    ``"balanced"`` or ``None``, minimised by L-BFGS with ``gtol=tol`` and ``max_iter``
    iterations from zeros (or, with ``warm_start=True``, from the previous fit's weights when
    the classes are the same). The matrix products and the softmax run in float32, on
    ``FIT_BLAS_THREADS`` BLAS threads; the result matches scikit-learn's fit to the solver's
    tolerance. A loss evaluation takes about 0.85 of scikit-learn's time on float32 input and
    0.6 on float64; on shared cores most of the gain is the single thread. One difference in
    stopping: L-BFGS also stops (converged) when the loss no longer falls by a relative 2.2e-9
    (scipy's ``ftol``; scikit-learn's 64 machine epsilons are below a float32 loss's precision).

    Everything else (two classes, ``sample_weight``, sparse input, another solver, penalty,
    ``class_weight`` dict, ``fit_intercept=False``, ``C=inf``, ``dual`` or ``n_jobs``) is fitted
    by ``LogisticRegression.fit`` itself.

    Attributes
    ----------
    converged_ : bool
        Whether the solver converged. When the float32 path does not, ``fit`` emits a
        ``sklearn.exceptions.ConvergenceWarning`` giving the iterations and the gradient; after
        ``LogisticRegression.fit`` (which warns itself) it is whether it stopped before
        ``max_iter``.
    n_iter_ : numpy.ndarray
        ``(1,)`` iterations run (at most ``max_iter``).

    Examples
    --------
    >>> model = make_classifier(seed=0).fit(X, y)  # doctest: +SKIP
    >>> model.converged_, model.n_iter_  # doctest: +SKIP
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> FastLogisticRegression:
        """Fit on ``(X, y)``; return ``self``.

        Parameters
        ----------
        X
            ``(n, d)`` features (embeddings); dense input takes the float32 path.
        y
            ``(n,)`` labels.
        sample_weight
            Per-row weights; given, the fit is ``LogisticRegression.fit``'s.
        """
        return self._fit(X, y, sample_weight=sample_weight,
                         init=self if self.warm_start else None)

    def _fast_path_applies(self, X: Any, sample_weight: Any) -> bool:
        """Whether the settings and input are ones the float32 path fits exactly."""
        return (sample_weight is None and not sparse.issparse(X) and self.solver == "lbfgs"
                and self.penalty == "deprecated" and self.l1_ratio == 0
                and self.fit_intercept and not self.dual and self.n_jobs is None
                and self.class_weight in ("balanced", None) and self.C < np.inf)

    def _fit(self, X: Any, y: Any, *, sample_weight: Any,
             init: LogisticRegression | None) -> FastLogisticRegression:
        """The fit, starting from ``init``'s weights where it has the same classes and width."""
        self._validate_params()
        if not self._fast_path_applies(X, sample_weight):
            return self._fit_by_scikit_learn(X, y, sample_weight)
        X_checked, y_checked = validate_data(self, X, y, dtype=np.float32, order="C")
        check_classification_targets(y_checked)
        classes, y_index = np.unique(y_checked, return_inverse=True)
        if len(classes) < 3:
            return self._fit_by_scikit_learn(X, y, sample_weight)
        n, dim = X_checked.shape
        k = len(classes)
        counts = np.bincount(y_index, minlength=k)
        weights = (n / (k * counts))[y_index] if self.class_weight == "balanced" else np.ones(n)
        total = float(weights.sum())
        with threadpool_limits(limits=FIT_BLAS_THREADS, user_api="blas"):
            result = minimize(_loss_and_gradient, _start(init, classes, dim), jac=True,
                              method="L-BFGS-B",
                              args=(X_checked, y_index, (weights / total).astype(np.float32),
                                    1.0 / (self.C * total)),
                              options={"maxiter": self.max_iter, "gtol": self.tol,
                                       "maxls": MAX_LINE_SEARCH})
        self.classes_ = classes
        self.coef_ = result.x[: dim * k].reshape(dim, k).T.copy()
        self.intercept_ = result.x[dim * k:].copy()
        self.n_iter_ = np.array([min(result.nit, self.max_iter)], dtype=np.int32)
        self.converged_ = bool(result.success)
        if not self.converged_:
            gradient = float(np.abs(result.jac).max())
            warnings.warn(
                f"FastLogisticRegression: L-BFGS stopped without converging after "
                f"{self.n_iter_[0]} of max_iter={self.max_iter} iterations (largest gradient "
                f"component {gradient:.3g}, tol={self.tol:g}; {result.message}). The weights "
                "are not the optimum: raise max_iter or tol.", ConvergenceWarning, stacklevel=3)
        return self

    def _fit_by_scikit_learn(self, X: Any, y: Any, sample_weight: Any
                             ) -> FastLogisticRegression:
        """``LogisticRegression.fit`` (which warns itself if it stops early), with
        ``converged_`` true when it stopped before ``max_iter``."""
        super().fit(X, y, sample_weight=sample_weight)
        self.converged_ = bool(np.all(np.asarray(self.n_iter_) < self.max_iter))
        return self


def _start(init: LogisticRegression | None, classes: np.ndarray, dim: int) -> np.ndarray:
    """``theta`` from ``init``'s weights if it is fitted with ``classes`` on ``dim`` features,
    else zeros."""
    k = len(classes)
    coef = getattr(init, "coef_", None)
    if (coef is None or np.shape(coef) != (k, dim) or np.shape(init.intercept_) != (k,)
            or list(init.classes_) != list(classes)):
        return np.zeros(dim * k + k)
    return np.concatenate([np.asarray(coef, dtype=np.float64).T.ravel(),
                           np.asarray(init.intercept_, dtype=np.float64)])


def fit_logistic(model: FastLogisticRegression, X: np.ndarray, y: Any, *,
                 warm_start: LogisticRegression | None = None) -> FastLogisticRegression:
    """Fit ``model`` (from ``make_classifier``), from ``warm_start``'s weights if given.

    Parameters
    ----------
    model
        An unfitted (or to-be-refitted) ``FastLogisticRegression``.
    warm_start
        A fitted logistic regression with the same classes and features to start from (a refit
        on more rows then takes a few iterations); otherwise the fit starts from zeros.

    Returns
    -------
    FastLogisticRegression
        ``model``, fitted; ``model.converged_`` says whether the solver converged.

    Raises
    ------
    TypeError
        ``model`` is not a ``FastLogisticRegression``.
    """
    if not isinstance(model, FastLogisticRegression):
        raise TypeError(f"fit_logistic needs a FastLogisticRegression (make_classifier()), "
                        f"got {type(model).__name__}")
    return model._fit(X, y, sample_weight=None, init=warm_start)


def _wrapped(model: Any) -> Any:
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
    either (the weights are divided by the temperature), and the wrappers of ``_wrapped``.
    """
    inner = _wrapped(model)
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
