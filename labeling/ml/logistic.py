"""``FastLogisticRegression``: scikit-learn's ``LogisticRegression`` whose ``fit`` runs scipy's
L-BFGS with float32 matrix products on one BLAS thread, and fails loudly when it does not
converge.

The parameters, the multinomial objective and the fitted attributes are scikit-learn's, so
``clone``, ``cross_val_predict`` and skops model files work as before. On 2 cores shared with
other work, scikit-learn's fit of CLINC150-sized data (15,000 x 384, 150 classes) took 4 to 17 s,
mostly OpenBLAS threads waiting on each other in L-BFGS's small vector steps; this one took 2.4
to 3.3 s. A fit that stops before converging says so (a ``ConvergenceWarning``, and
``converged_`` is ``False``); ``fit_logistic`` fits one from another model's weights.
``labeling.ml.classifier.make_classifier`` holds the settings every caller fits with.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import sparse
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, validate_data
from threadpoolctl import threadpool_limits

MAX_LINE_SEARCH = 50
"""L-BFGS line-search steps per iteration (scikit-learn's setting; scipy's default is 20)."""
FIT_BLAS_THREADS = 1
"""BLAS threads while ``FastLogisticRegression`` fits. On 2 cores shared with other work, two
OpenBLAS threads made scipy's L-BFGS step (small vector operations on 57,750 weights) 40 times
slower (76 vs 1.7 ms a step) and the whole 3,000 x 384, 150-class fit 10 times slower (4.2 vs
0.45 s); one thread was also no slower for the 15,000-row matrix products. (scikit-learn's own
fit with one thread: 2.5 s for 15,000 x 384 float32 rows, 150 classes, against 4 to 13 s.)"""


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

    ``sample_weight`` multiplies each row's weight, as in scikit-learn (with ``"balanced"``, the
    class weights come from the weighted class counts).

    Everything else (two classes, sparse input, another solver, penalty,
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
            ``(n,)`` non-negative per-row weights (``None``: all 1).
        """
        return self._fit(X, y, sample_weight=sample_weight,
                         init=self if self.warm_start else None)

    def _fast_path_applies(self, X: Any) -> bool:
        """Whether the settings and input are ones the float32 path fits exactly."""
        return (not sparse.issparse(X) and self.solver == "lbfgs"
                and self.penalty == "deprecated" and self.l1_ratio == 0
                and self.fit_intercept and not self.dual and self.n_jobs is None
                and self.class_weight in ("balanced", None) and self.C < np.inf)

    def _fit(self, X: Any, y: Any, *, sample_weight: Any,
             init: LogisticRegression | None) -> FastLogisticRegression:
        """The fit, starting from ``init``'s weights where it has the same classes and width."""
        self._validate_params()
        if not self._fast_path_applies(X):
            return self._fit_by_scikit_learn(X, y, sample_weight)
        X_checked, y_checked = validate_data(self, X, y, dtype=np.float32, order="C")
        check_classification_targets(y_checked)
        classes, y_index = np.unique(y_checked, return_inverse=True)
        if len(classes) < 3:
            return self._fit_by_scikit_learn(X, y, sample_weight)
        dim, k = X_checked.shape[1], len(classes)
        weights = _check_sample_weight(sample_weight, X_checked, dtype=np.float64,
                                       ensure_non_negative=True)
        if self.class_weight == "balanced":  # scikit-learn's compute_class_weight, weighted
            counts = np.bincount(y_index, weights=weights, minlength=k)
            weights = weights * (weights.sum() / (k * counts))[y_index]
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
                 warm_start: LogisticRegression | None = None,
                 sample_weight: np.ndarray | None = None) -> FastLogisticRegression:
    """Fit ``model`` (from ``make_classifier``), from ``warm_start``'s weights if given.

    Parameters
    ----------
    model
        An unfitted (or to-be-refitted) ``FastLogisticRegression``.
    warm_start
        A fitted logistic regression with the same classes and features to start from (a refit
        on more rows then takes a few iterations); otherwise the fit starts from zeros.
    sample_weight
        ``(n,)`` per-row weights, as ``FastLogisticRegression.fit`` takes them.

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
    return model._fit(X, y, sample_weight=sample_weight, init=warm_start)
