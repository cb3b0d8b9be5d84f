"""Active learning on CLINC150: test accuracy against labels, margin sampling against random.

    python -m bench.al_clinc [--strategies margin random ...] [--seeds 0 1 2] [--out DIR]
                             [--eval-split test|val] [--training supervised self-training]

The pool is CLINC150's in-scope ``train`` split (15,000 prompts, 150 intents), the test set its
``test`` split (4,500; ``--eval-split val`` scores on ``val`` instead, which is what the
classifier settings were tuned on). Texts are embedded once with all-MiniLM-L6-v2 and cached as
``.npy`` under ``--cache``. Each seed starts from the same 150 random labels for every strategy
and adds batches of 150 up to 3,000; each round trains as ``workbench retrain`` does
(``TaskTrainer``: ``make_classifier``'s logistic regression, calibrated), or a plain
``make_classifier`` with ``--C`` / ``--class-weight``. By default every strategy runs twice:
trained as a task with self-training off (``supervised``) and on (``self-training``: each round
also pseudo-labels the rest of the pool; its curves are named ``<strategy> + self-training``).
Floors and goals (issue): margin beats random at every budget from 600 to 3,000; margin's mean
accuracy >= 0.92 at 1,500 (goal 0.933) and >= 0.945 at 3,000 (goal 0.955); checked for each
training.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import warnings
from functools import partial
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score  # noqa: E402

from app.components.simulation_charts import write_outputs  # noqa: E402
from bench.clinc_to_jsonl import DEFAULT_DATA  # noqa: E402
from labeling.ml.classifier import make_classifier, predict_fast  # noqa: E402
from labeling.ml.encoders import SentenceTransformerEncoder  # noqa: E402
from labeling.ml.fitting import TaskTrainer  # noqa: E402
from labeling.ml.simulation import simulate, summarise  # noqa: E402
from labeling.ml.strategies import STRATEGIES  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
TRAININGS = {"supervised": "", "self-training": " + self-training"}
"""Training -> the suffix of its curves' strategy names."""
FLOORS = {1_500: (0.92, 0.933), 3_000: (0.945, 0.955)}
"""budget: (floor, goal) for margin's mean test accuracy."""


def load_split(data: Path, split: str) -> tuple[list[str], np.ndarray]:
    pairs = json.loads(data.read_text(encoding="utf-8"))[split]
    return [t for t, _ in pairs], np.array([label for _, label in pairs], dtype=object)


def embed_cached(texts: list[str], *, name: str, cache: Path, encoder) -> np.ndarray:
    """MiniLM vectors of ``texts``, read from ``cache`` if these exact texts were embedded."""
    digest = hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()[:16]
    path = cache / f"{name}-{digest}.npy"
    if path.is_file():
        return np.load(path)
    start = time.perf_counter()
    vectors = encoder.encode(texts)
    print(f"embedded {len(texts):,} {name} texts in {time.perf_counter() - start:.0f} s",
          file=sys.stderr)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def table(summary: pd.DataFrame) -> str:
    """Budget x strategy: mean accuracy +- std and mean macro-F1."""
    cells = summary.assign(
        cell=[f"{a:.4f} ± {s:.4f} / {f:.4f}" for a, s, f in zip(
            summary["accuracy_mean"], summary["accuracy_std"], summary["macro_f1_mean"],
            strict=True)]
    )
    wide = cells.pivot(index="budget", columns="strategy", values="cell")
    return "accuracy mean ± std / macro-F1 mean\n" + wide.to_string()


def verdicts(summary: pd.DataFrame, suffix: str = "") -> list[str]:
    """The issue's checks on the curves named ``margin<suffix>`` and ``random<suffix>``."""
    acc = summary.pivot(index="budget", columns="strategy", values="accuracy_mean")
    margin, random = f"margin{suffix}", f"random{suffix}"
    lines = []
    if {margin, random} <= set(acc.columns):
        span = acc.loc[(acc.index >= 600) & (acc.index <= 3000)]
        beats = bool((span[margin] > span[random]).all())
        lines.append(f"{margin} beats {random} at every budget from 600 to 3000: "
                     f"{'yes' if beats else 'no'}")
    if margin in acc.columns:
        for budget, (floor, goal) in FLOORS.items():
            if budget in acc.index:
                value = acc.loc[budget, margin]
                verdict = "goal met" if value >= goal else (
                    "floor met" if value >= floor else "BELOW FLOOR")
                lines.append(f"{margin} mean accuracy at {budget:,}: {value:.4f} "
                             f"(floor {floor}, goal {goal}): {verdict}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=OUT / "al_clinc")
    parser.add_argument("--cache", type=Path, default=OUT / "clinc_minilm")
    parser.add_argument("--strategies", nargs="+", default=["margin", "random"],
                        choices=list(STRATEGIES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--eval-split", choices=["test", "val"], default="test")
    parser.add_argument("--C", type=float, default=None, help="override make_classifier's C")
    parser.add_argument("--class-weight", choices=["balanced", "none"], default=None,
                        help="override make_classifier's class_weight")
    parser.add_argument("--training", nargs="+", choices=list(TRAININGS),
                        default=list(TRAININGS),
                        help="train as a task with self-training off (supervised) and/or on")
    args = parser.parse_args()
    # 150 seed labels over 150 intents: scikit-learn warns that y "could represent a regression"
    warnings.filterwarnings("ignore", message="The number of unique classes is greater than")
    overrides = {} if args.C is None else {"C": args.C}
    if args.class_weight is not None:
        overrides["class_weight"] = None if args.class_weight == "none" else args.class_weight
    # the product's training (TaskTrainer), unless a setting of the classifier is overridden
    trainings = ({"": partial(make_classifier, **overrides)} if overrides else {
        TRAININGS[name]: partial(TaskTrainer, oos_label=None,
                                 self_training=name == "self-training")
        for name in args.training})

    encoder = SentenceTransformerEncoder()
    texts, y_pool = load_split(args.data, "train")
    X_pool = embed_cached(texts, name="train", cache=args.cache, encoder=encoder)
    texts, y_test = load_split(args.data, args.eval_split)
    X_test = embed_cached(texts, name=args.eval_split, cache=args.cache, encoder=encoder)
    models = ", ".join(repr(make_model()) for make_model in trainings.values())
    print(f"pool {X_pool.shape}, {args.eval_split} {X_test.shape}, "
          f"{len(set(y_pool))} intents; models: {models}")

    start = time.perf_counter()
    # the same training on every label (with no unlabeled rows left, self-training is the same)
    full = next(iter(trainings.values()))(seed=0).fit(X_pool, list(y_pool))
    predicted = predict_fast(full, X_test)
    print(f"all {len(y_pool):,} labels: accuracy {accuracy_score(y_test, predicted):.4f}, "
          f"macro-F1 {f1_score(y_test, predicted, average='macro'):.4f} "
          f"(fit {time.perf_counter() - start:.1f} s)")

    budgets = list(range(600, 3001, 150))
    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if done % 19 == 0 or done == total:
            print(f"  {done}/{total} rounds, {time.perf_counter() - start:.0f} s",
                  file=sys.stderr, flush=True)

    runs = []
    for suffix, make_model in trainings.items():
        run = simulate(X_pool=X_pool, y_pool=y_pool, X_test=X_test, y_test=y_test,
                       strategies=args.strategies, seed_size=150, batch=150, budgets=budgets,
                       seeds=args.seeds, make_model=make_model, progress=progress)
        runs.append(run.assign(strategy=run["strategy"] + suffix))
    df = pd.concat(runs, ignore_index=True)
    print(f"simulated {len(args.strategies)} strategies x {len(args.seeds)} seeds x "
          f"{len(trainings)} trainings in {time.perf_counter() - start:.0f} s")
    last = df[df["budget"] == budgets[-1]].groupby("strategy")[["seconds", "query_seconds"]]
    print("seconds per run (fit + query; query only):")
    print(last.mean().round(1).to_string())

    summary = summarise(df)
    print()
    print(table(summary))
    print()
    for suffix in trainings:
        print("\n".join(verdicts(summary, suffix)))
    paths = write_outputs(df, args.out)
    print("\nwrote " + ", ".join(str(p) for p in paths.values()))


if __name__ == "__main__":
    main()
