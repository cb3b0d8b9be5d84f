"""Offline simulation on a task's own settled labels: which strategy should this task use?

The settled labels are the oracle: a stratified share is held out as the test set, the rest is
the pool that each strategy draws from. A simulation writes no labels: its "raters" are the
oracle's answers, replayed in memory.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sqlalchemy.engine import Engine

from labeling.exceptions import LabelingError
from labeling.ml.encoders import Encoder, ProgressCallback
from labeling.ml.simulation import simulate
from labeling.project.authz import Actor, Capability, requires
from labeling.project.tasks import get_task
from labeling.project.vectors import embed_texts
from labeling.review.consensus import recompute, training_set
from storage.db import session_scope


@dataclass(frozen=True)
class SimulationPlan:
    pool_size: int
    test_size: int
    budgets: list[int]


def plan(*, n_labels: int, seed_size: int, batch: int, test_share: float,
         rounds: int = 6) -> SimulationPlan:
    """Budgets every round from the seed set up to the pool size (at most ``rounds`` points)."""
    test_size = max(1, int(round(n_labels * test_share)))
    pool_size = n_labels - test_size
    if seed_size + batch > pool_size:
        raise LabelingError(
            f"{n_labels} settled labels leave a pool of {pool_size}: too few for a seed set of "
            f"{seed_size} plus one batch of {batch}; lower them or label more"
        )
    reachable = list(range(seed_size + batch, pool_size + 1, batch))
    step = max(1, len(reachable) // rounds)
    budgets = reachable[step - 1 :: step][:rounds] or reachable[:1]
    return SimulationPlan(pool_size=pool_size, test_size=test_size, budgets=budgets)


@requires(Capability.simulate)
def simulate_task(
    *,
    engine: Engine,
    actor: Actor,
    task_name: str,
    encoder: Encoder,
    strategies: list[str],
    seed_size: int,
    batch: int,
    seeds: list[int],
    test_share: float = 0.25,
    progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Learning curves of ``strategies`` on the task's settled labels (one row per run)."""
    recompute(engine=engine, actor=actor, task_name=task_name)
    with session_scope(engine) as session:
        task = get_task(session=session, name=task_name)
        data = training_set(session=session, task=task)
        X = embed_texts(session=session, encoder=encoder, texts=data.texts)
        oos_label = task.oos_label
    labels = np.asarray(data.labels, dtype=object)
    setup = plan(n_labels=len(labels), seed_size=seed_size, batch=batch, test_share=test_share)
    counts = Counter(data.labels)
    stratify = labels if min(counts.values()) >= 2 and len(counts) <= setup.test_size else None
    X_pool, X_test, y_pool, y_test = train_test_split(
        X, labels, test_size=setup.test_size, random_state=0, stratify=stratify
    )
    return simulate(
        X_pool=X_pool, y_pool=list(y_pool), X_test=X_test, y_test=list(y_test),
        strategies=strategies, seed_size=seed_size, batch=batch, budgets=setup.budgets,
        seeds=seeds, oos_label=oos_label, progress=progress,
    )
