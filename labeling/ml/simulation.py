"""Offline replay of the labeling loop on an already labeled dataset (its labels are the oracle).

``simulate`` runs each query strategy from the same random seed set, fits, queries a batch, adds
the oracle's labels and evaluates on a held-out test set whenever the labeled count reaches a
budget; ``summarise`` averages over seeds. Each round trains as the product does
(``labeling.ml.fitting.TaskTrainer``: the same classifier, calibration and out-of-scope
threshold as ``workbench retrain``), so a curve says what the served model would score,
rejections included. The chart of the curves is built in
``app/components/charts.py``.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score

from labeling.ml.classifier import predict_fast
from labeling.ml.fitting import TaskTrainer
from labeling.ml.strategies import get_strategy

ModelFactory = Callable[..., Any]
"""Called as ``make_model(seed=seed)``; returns an unfitted classifier."""

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(rounds_done, rounds_total)``."""

METRICS = ("accuracy", "macro_f1", "in_scope_accuracy", "oos_recall")


def _check_budgets(
    budgets: Sequence[int], *, seed_size: int, batch: int, pool_size: int
) -> list[int]:
    if seed_size < 1 or batch < 1:
        raise ValueError(f"seed_size and batch must be >= 1, got {seed_size} and {batch}")
    if not budgets:
        raise ValueError("budgets is empty: give the labeled counts to evaluate at")
    wanted = sorted(set(int(b) for b in budgets))
    bad = [b for b in wanted if b < seed_size or (b - seed_size) % batch]
    if bad:
        raise ValueError(
            f"budgets {bad} cannot be reached: labeled counts go seed_size + k * batch = "
            f"{seed_size}, {seed_size + batch}, {seed_size + 2 * batch}, ..."
        )
    if wanted[-1] > pool_size:
        raise ValueError(f"budget {wanted[-1]} is more than the {pool_size} items in the pool")
    return wanted


def _check_data(X_pool, y_pool, X_test, y_test) -> tuple[np.ndarray, ...]:
    X_pool, X_test = np.asarray(X_pool), np.asarray(X_test)
    y_pool, y_test = np.asarray(list(y_pool), dtype=object), np.asarray(list(y_test), dtype=object)
    if X_pool.ndim != 2 or X_test.ndim != 2 or X_pool.shape[1] != X_test.shape[1]:
        raise ValueError(f"X_pool {X_pool.shape} and X_test {X_test.shape} must be 2-d, same width")
    if len(X_pool) != len(y_pool) or len(X_test) != len(y_test):
        raise ValueError("X_pool/y_pool and X_test/y_test must have the same number of rows")
    if len(X_test) == 0:
        raise ValueError("the test set is empty")
    return X_pool, y_pool, X_test, y_test


def _evaluate(y_test: np.ndarray, predicted: np.ndarray, oos_label: str | None,
              rejected: np.ndarray | None = None) -> dict:
    """Accuracy and macro-F1 of the arg-max; with an out-of-scope label, in-scope accuracy and
    OOS recall, where ``rejected`` rows (the product's rejections) answer out of scope."""
    labels = np.unique(y_test)
    scores = {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "macro_f1": float(f1_score(y_test, predicted, labels=labels, average="macro",
                                   zero_division=0)),
    }
    if oos_label is not None:
        answered = np.where(rejected, oos_label, predicted) if rejected is not None else predicted
        in_scope = y_test != oos_label
        scores["in_scope_accuracy"] = float(np.mean(answered[in_scope] == y_test[in_scope])
                                            if in_scope.any() else np.nan)
        scores["oos_recall"] = float(np.mean(answered[~in_scope] == oos_label)
                                     if (~in_scope).any() else np.nan)
    return scores


def _replay(
    *, strategy: str, seed: int, seed_rows: np.ndarray, data: tuple[np.ndarray, ...],
    batch: int, budgets: list[int], make_model: ModelFactory, oos_label: str | None,
    tick: Callable[[], None],
) -> list[dict]:
    """One learning curve: one strategy from one seed set."""
    X_pool, y_pool, X_test, y_test = data
    rng = np.random.default_rng([seed, zlib.crc32(strategy.encode())])
    query = get_strategy(strategy)
    labeled = np.zeros(len(X_pool), dtype=bool)
    labeled[seed_rows] = True
    rows, elapsed, query_seconds = [], 0.0, 0.0
    while True:
        start = time.perf_counter()
        model = make_model(seed=seed)
        pool = {"unlabeled": X_pool[~labeled]} if getattr(model, "self_training", False) else {}
        model = model.fit(X_pool[labeled], list(y_pool[labeled]), **pool)
        elapsed += time.perf_counter() - start
        count = int(labeled.sum())
        if count in budgets:
            scores = _evaluate(y_test, predict_fast(model, X_test), oos_label,
                               model.rejected(X_test) if hasattr(model, "rejected") else None)
            rows.append({"strategy": strategy, "seed": seed, "budget": count, **scores,
                         "seconds": elapsed, "query_seconds": query_seconds})
        if count >= budgets[-1]:
            return rows
        start = time.perf_counter()
        unlabeled = np.flatnonzero(~labeled)
        picked = query.select(model=model, X_pool=X_pool[unlabeled], n_instances=batch,
                              X_labeled=X_pool[labeled], y_labeled=y_pool[labeled], rng=rng)
        labeled[unlabeled[picked.indices]] = True  # the oracle: y_pool is already known
        query_seconds += time.perf_counter() - start
        elapsed += time.perf_counter() - start
        tick()


def simulate(
    *,
    X_pool: np.ndarray,
    y_pool: Sequence[Any],
    X_test: np.ndarray,
    y_test: Sequence[Any],
    strategies: list[str],
    seed_size: int,
    batch: int,
    budgets: list[int],
    seeds: list[int],
    make_model: ModelFactory | None = None,
    oos_label: str | None = None,
    progress: ProgressCallback | None = None,
    self_training: bool = False,
) -> pd.DataFrame:
    """Replay pool-based active learning for each strategy and seed; score on the test set.

    For each seed, the seed set is one random sample of ``seed_size`` pool items, the same for
    every strategy, so the curves differ only by strategy. Each round fits ``make_model`` on
    the labeled items (a model with ``self_training`` also gets the rest of the pool as
    ``unlabeled``), lets the strategy pick ``batch`` more and adds their pool labels.

    Parameters
    ----------
    budgets
        Labeled counts to evaluate at; each must be ``seed_size + k * batch`` and fit the pool.
    make_model
        ``make_model(seed=seed)`` gives an unfitted classifier; by default the product's
        training, ``TaskTrainer(oos_label=oos_label, seed=seed, self_training=self_training)``.
    oos_label
        The out-of-scope label, if the data has one: adds ``in_scope_accuracy`` (test items
        whose true label is not it, right only when not rejected) and ``oos_recall`` (of those
        that are, the share predicted as it or rejected by the product's threshold).
    self_training
        Train as a task with self-training on (the default factory's ``TaskTrainer`` gets the
        rest of the pool as unlabeled rows each round).

    Returns
    -------
    pandas.DataFrame
        One row per (strategy, seed, budget): ``accuracy``, ``macro_f1`` (over the test set's
        labels), ``seconds`` (fits and queries so far in that run) and ``query_seconds``.

    Raises
    ------
    ValueError
        Unreachable budgets, an unknown strategy, no seeds, mismatched arrays, or a seed set
        with a single label.
    """
    if make_model is None:
        def make_model(*, seed: int) -> TaskTrainer:
            return TaskTrainer(oos_label=oos_label, seed=seed, self_training=self_training)
    data = _check_data(X_pool, y_pool, X_test, y_test)
    budgets = _check_budgets(budgets, seed_size=seed_size, batch=batch, pool_size=len(data[0]))
    for name in strategies:
        get_strategy(name)  # unknown names fail before any work
    if not strategies or not seeds:
        raise ValueError("give at least one strategy and one seed")
    rounds = (budgets[-1] - seed_size) // batch
    total, done = rounds * len(strategies) * len(seeds), 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    rows: list[dict] = []
    for seed in seeds:
        seed_rows = np.random.default_rng(seed).choice(len(data[0]), seed_size, replace=False)
        if len(np.unique(data[1][seed_rows])) < 2:
            raise ValueError(f"the seed set of seed {seed} has only one label: a classifier "
                             "needs two; use a larger seed_size")
        for strategy in strategies:
            rows += _replay(strategy=strategy, seed=seed, seed_rows=seed_rows, data=data,
                            batch=batch, budgets=budgets, make_model=make_model,
                            oos_label=oos_label, tick=tick)
    return pd.DataFrame(rows)


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Mean, std (0 for a single seed) and number of seeds per (strategy, budget).

    Columns: ``strategy``, ``budget``, ``n`` and ``<metric>_mean`` / ``<metric>_std`` for each
    metric in ``df`` (``accuracy``, ``macro_f1`` and, with an out-of-scope label, the others).
    """
    metrics = [m for m in METRICS if m in df.columns]
    grouped = df.groupby(["strategy", "budget"], sort=True)
    out = grouped[metrics].agg(["mean", "std"])
    out.columns = [f"{metric}_{stat}" for metric, stat in out.columns]
    out = out.fillna({f"{m}_std": 0.0 for m in metrics})
    out.insert(0, "n", grouped.size())
    return out.reset_index()
