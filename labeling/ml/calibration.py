"""Temperature scaling: one scalar that turns a fitted classifier's logits into calibrated
probabilities (Guo et al., 2017), fitted on a validation split by minimising the NLL.

It keeps the classifier's arg-max (so accuracy is unchanged) and costs one bounded scalar
minimisation over cached logits, far less than ``CalibratedClassifierCV``'s refits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model._base import LinearClassifierMixin

TEMPERATURE_BOUNDS = (0.05, 20.0)


DIRECT_ROWS = 64
"""Up to this many finite rows, a plain linear model's logits are computed here directly:
scikit-learn's ``decision_function`` spends about half a millisecond checking its input,
more than the product itself for the one prompt the router scores."""


def logits_of(estimator: Any, X: np.ndarray) -> np.ndarray:
    """``(n, n_classes)`` logits of a fitted linear classifier (a binary one gets ``[0, z]``)."""
    if (type(estimator).decision_function is LinearClassifierMixin.decision_function
            and isinstance(X, np.ndarray) and X.ndim == 2 and len(X) <= DIRECT_ROWS
            and hasattr(estimator, "coef_") and X.shape[1] == estimator.coef_.shape[1]
            and np.isfinite(X).all()):
        scores = X @ np.asarray(estimator.coef_).T + estimator.intercept_
        scores = np.asarray(scores[:, 0] if scores.shape[1] == 1 else scores, dtype=np.float64)
    else:
        scores = np.asarray(estimator.decision_function(X), dtype=np.float64)
    if scores.ndim == 1:
        scores = np.stack([np.zeros_like(scores), scores], axis=1)
    return scores


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax (float64, a new array)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


def nll(logits: np.ndarray, y_index: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of ``y_index`` under ``softmax(logits / temperature)``."""
    scaled = logits / temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(scaled).sum(axis=1))
    return float(np.mean(log_norm - scaled[np.arange(len(y_index)), y_index]))


def fit_temperature(logits: np.ndarray, y_index: np.ndarray, *,
                    bounds: tuple[float, float] = TEMPERATURE_BOUNDS) -> float:
    """The temperature in ``bounds`` that minimises the NLL of ``y_index`` (1.0 if no rows).

    Parameters
    ----------
    logits
        ``(n, n_classes)`` validation logits.
    y_index
        ``(n,)`` column of each row's true class.
    """
    logits = np.asarray(logits, dtype=np.float64)
    y_index = np.asarray(y_index, dtype=np.int64)
    if len(y_index) == 0:
        return 1.0
    # search log T, where the NLL is smoother and both directions are equally reachable
    result = minimize_scalar(lambda log_t: nll(logits, y_index, float(np.exp(log_t))),
                             bounds=tuple(np.log(bounds)), method="bounded",
                             options={"xatol": 1e-4})
    return float(np.exp(result.x))


class TemperatureScaledClassifier(ClassifierMixin, BaseEstimator):
    """A fitted classifier whose probabilities are ``softmax(logits / temperature)``.

    Parameters
    ----------
    estimator
        A fitted classifier with ``classes_`` and ``decision_function`` (a
        ``LogisticRegression``).
    temperature
        The scale applied to the logits; ``fit`` replaces it with the NLL-optimal one.

    Examples
    --------
    >>> model = TemperatureScaledClassifier(lr).fit(X_val, y_val)  # doctest: +SKIP
    >>> model.temperature, model.predict_proba(X_test)  # doctest: +SKIP
    """

    def __init__(self, estimator: Any = None, *, temperature: float = 1.0) -> None:
        self.estimator = estimator
        self.temperature = temperature

    @property
    def classes_(self) -> np.ndarray:
        return np.asarray(self.estimator.classes_)

    def __sklearn_is_fitted__(self) -> bool:
        return self.estimator is not None and hasattr(self.estimator, "classes_")

    def fit(self, X: np.ndarray, y: Any) -> TemperatureScaledClassifier:
        """Fit the temperature on validation rows ``(X, y)``; the estimator stays as it is.

        Rows whose label the estimator does not know are ignored.
        """
        y = np.asarray(list(y), dtype=object)
        position = {label: i for i, label in enumerate(self.classes_.tolist())}
        known = np.array([label in position for label in y], dtype=bool)
        if not known.any():
            self.temperature = 1.0
            return self
        y_index = np.array([position[label] for label in y[known]], dtype=np.int64)
        self.temperature = fit_temperature(logits_of(self.estimator, X[known]), y_index)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Temperature-scaled logits, ``(n, n_classes)``."""
        return logits_of(self.estimator, X) / self.temperature

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return softmax(self.decision_function(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.decision_function(X).argmax(axis=1)]
