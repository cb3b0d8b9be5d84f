"""Selection speed: time and peak memory to pick the next batch of 20 with each query strategy.

    python -m bench.selection_speed [--sizes 100000 1000000] [--strategies margin ...]
                                    [--repeat 3]

The pool is random unit vectors (384-d float32, like MiniLM's), the model a logistic regression
(``make_classifier``) fitted on 3,000 labeled rows of 150 classes. Timing is the wall-clock
median (and minimum) of ``--repeat`` ``select`` calls, after a warm-up call on a small pool;
the load average is printed because the machine may be shared. Memory is the peak of
Python-traced allocations during the first call (``tracemalloc``; NumPy reports its buffers to
it) above what was allocated before, so the pool itself is not counted; BLAS work buffers are
not traced.
Goals (issue): margin from 100,000 items <= 0.5 s, from 1,000,000 items <= 5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import tracemalloc

import numpy as np

from labeling.ml.classifier import make_classifier
from labeling.ml.strategies import STRATEGIES, get_strategy

DIM = 384
N_CLASSES = 150
N_LABELED = 3_000
BATCH = 20
GOALS = {100_000: 0.5, 1_000_000: 5.0}


def unit_vectors(n: int, *, rng: np.random.Generator) -> np.ndarray:
    """``n`` random unit vectors of dimension ``DIM`` in float32, built in chunks."""
    out = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):
        block = rng.standard_normal((min(100_000, n - start), DIM), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + len(block)] = block
    return out


def labeled_set(*, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """3,000 rows of 150 classes: noisy copies of 150 class centres, so the model is not trivial."""
    centres = unit_vectors(N_CLASSES, rng=rng)
    y = np.arange(N_LABELED) % N_CLASSES
    X = centres[y] + 0.08 * rng.standard_normal((N_LABELED, DIM), dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X, np.array([f"intent_{k:03d}" for k in y], dtype=object)


def measure(name: str, *, model, pool, X_lab, y_lab, repeat: int) -> tuple[list[float], float]:
    """Seconds of each of ``repeat`` ``select`` calls of ``BATCH`` items, and the first call's
    peak traced MiB."""
    strategy = get_strategy(name)
    seconds, peak = [], 0.0
    for attempt in range(repeat):
        if attempt == 0:
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
        start = time.perf_counter()
        selection = strategy.select(model=model, X_pool=pool, n_instances=BATCH, X_labeled=X_lab,
                                    y_labeled=y_lab, rng=np.random.default_rng(attempt))
        seconds.append(time.perf_counter() - start)
        if attempt == 0:
            peak = (tracemalloc.get_traced_memory()[1] - base) / 2**20
            tracemalloc.stop()
        assert len(np.unique(selection.indices)) == BATCH
    return seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES),
                        choices=list(STRATEGIES))
    parser.add_argument("--repeat", type=int, default=3, help="timed calls per measurement")
    args = parser.parse_args()
    print("load average (1, 5, 15 min): " + ", ".join(f"{v:.1f}" for v in os.getloadavg())
          + f" on {os.cpu_count()} cores")

    rng = np.random.default_rng(0)
    X_lab, y_lab = labeled_set(rng=rng)
    start = time.perf_counter()
    model = make_classifier(seed=0).fit(X_lab, list(y_lab))
    print(f"model: {model!r}, fitted on {N_LABELED:,} x {DIM} with {N_CLASSES} classes "
          f"in {time.perf_counter() - start:.2f} s")
    warm = unit_vectors(2_000, rng=rng)
    for name in args.strategies:  # warm-up: imports, BLAS threads, first-call costs
        get_strategy(name).select(model=model, X_pool=warm, n_instances=BATCH, X_labeled=X_lab,
                                  y_labeled=y_lab, rng=np.random.default_rng(0))

    results: dict[tuple[int, str], float] = {}
    print(f"\n{'pool':>10}  {'strategy':<17}{'median s':>9}{'min s':>8}"
          f"{'peak MiB (tracemalloc)':>25}")
    for size in args.sizes:
        pool = unit_vectors(size, rng=rng)
        for name in args.strategies:
            repeat = 1 if name == "qbc" else args.repeat  # qbc refits its committee: slow
            seconds, peak = measure(name, model=model, pool=pool, X_lab=X_lab, y_lab=y_lab,
                                    repeat=repeat)
            results[size, name] = statistics.median(seconds)
            print(f"{size:>10,}  {name:<17}{results[size, name]:>9.3f}{min(seconds):>8.3f}"
                  f"{peak:>25.1f}", flush=True)
        del pool

    print()
    for size, goal in GOALS.items():
        if (size, "margin") in results:
            label = f"{size // 1000}k" if size < 1_000_000 else f"{size // 1_000_000}M"
            seconds = results[size, "margin"]
            verdict = "met" if seconds <= goal else "NOT met"
            print(f"{label} margin: {seconds:.3f} s median (goal <= {goal:g} s): {verdict}")


if __name__ == "__main__":
    main()
