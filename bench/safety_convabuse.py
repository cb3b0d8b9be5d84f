"""Safety model on ConvAbuse against the peer library alt-profanity-check, on the same split.

    python -m bench.safety_convabuse [--data ../shared/data] [--extra ailuminate,clinc,demo]

ConvAbuse items (the user message) are abusive when most judgements say severity -1, -2 or -3;
ties are dropped. A fixed stratified 80/20 split by item (seed 0): the 80% is imported into a
fresh safety task (categories mapped in ``safety/sources.py``) and trained with the product's
training code (``workbench train``: MiniLM embedding stacked with character and word n-gram
TF-IDF, calibrated, unsafe threshold tuned out of fold); the 20% is scored as unsafe vs safe
with ``workbench evaluate --binary``. Printed next to it: the same training without the n-gram
features (MiniLM + logistic regression alone) and alt-profanity-check's ``predict`` on the same
20%. ``--extra`` adds training rows from other sources (never ConvAbuse's 20%).
Goal (issue 9): our unsafe F1 above the peer's (measured before: MiniLM + LR 0.81, peer 0.86).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pandas as pd  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from labeling.dataio.demo_content import load_intent_prompts  # noqa: E402
from labeling.lifecycle.training import evaluate_file, retrain  # noqa: E402
from labeling.ml.encoders import SentenceTransformerEncoder  # noqa: E402
from labeling.ml.evaluation import binary_metrics  # noqa: E402
from labeling.project.authz import Operator  # noqa: E402
from labeling.project.importing import import_file  # noqa: E402
from labeling.project.tasks import create_task  # noqa: E402
from safety.demo_content import load_safety_prompts  # noqa: E402
from safety.sources import DEFAULT_DATA, ailuminate, clinc_benign, convabuse_items  # noqa: E402
from safety.taxonomy import SAFE_LABEL, category_names  # noqa: E402
from storage.db import make_engine, migrate  # noqa: E402

BENCH = Operator("bench")
SEED = 0
TEST_SHARE = 0.2


def split(data: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    items = convabuse_items(data)
    return train_test_split(items, test_size=TEST_SHARE, stratify=items["unsafe"],
                            random_state=SEED)


def extras(data: Path, names: list[str]) -> pd.DataFrame:
    parts = []
    if "ailuminate" in names:
        parts.append(ailuminate(data)[["text", "label"]])
    if "clinc" in names:
        parts.append(clinc_benign(data, n=3000, seed=SEED))
    if "demo" in names:
        parts.append(pd.DataFrame(load_safety_prompts()))
        parts.append(pd.DataFrame({"text": [p["text"] for p in load_intent_prompts()],
                                   "label": SAFE_LABEL}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["text",
                                                                                    "label"])


def write(path: Path, frame: pd.DataFrame, *, binary: bool = False) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for text, label, unsafe in zip(frame["text"], frame["label"],
                                       frame.get("unsafe", frame["label"] != SAFE_LABEL),
                                       strict=True):
            value = ("unsafe" if unsafe else "safe") if binary else label
            handle.write(json.dumps({"text": text, "label": value}) + "\n")
    return path


def ours(engine, encoder, work: Path, train_file: Path, test_file: Path, *, name: str,
         text_features: bool) -> tuple[dict, dict, float]:
    create_task(engine=engine, actor=BENCH, name=name, kind="safety", labels=category_names(),
                text_features=text_features)
    import_file(engine=engine, task_name=name, path=train_file, encoder=encoder, actor=BENCH)
    start = time.perf_counter()
    trained = retrain(engine=engine, task_name=name, encoder=encoder,
                      models_dir=work / "models", actor=BENCH)
    seconds = time.perf_counter() - start
    binary = evaluate_file(engine=engine, actor=BENCH, task_name=name, encoder=encoder,
                           path=test_file, binary=True)
    return binary["unsafe"], trained.metrics, seconds


def peer(texts: list[str], truth: pd.Series) -> dict:
    from profanity_check import predict_prob

    return binary_metrics(predict_prob(texts) >= 0.5, truth.to_numpy(dtype=bool))


def row(name: str, m: dict) -> str:
    return (f"{name:44s} precision {m['precision']:.3f}  recall {m['recall']:.3f}  "
            f"F1 {m['f1']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--extra", default="", help="ailuminate,clinc,demo (comma-separated)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    train, test = split(args.data)
    extra_names = [n for n in args.extra.split(",") if n]
    training = pd.concat([train[["text", "label"]], extras(args.data, extra_names)],
                         ignore_index=True)
    print(f"ConvAbuse items with a majority: {len(train) + len(test):,}; train {len(train):,} "
          f"({int(train['unsafe'].sum())} abusive), test {len(test):,} "
          f"({int(test['unsafe'].sum())} abusive); extra training rows: "
          f"{len(training) - len(train):,} ({', '.join(extra_names) or 'none'})")
    work = Path(tempfile.mkdtemp(prefix="safety_convabuse-"))
    engine = make_engine(f"sqlite:///{work / 'workbench.db'}")
    migrate(engine)
    encoder = SentenceTransformerEncoder()
    train_file = write(work / "train.jsonl", training)
    test_file = write(work / "test.jsonl", test, binary=True)
    stacked, metrics, seconds = ours(engine, encoder, work, train_file, test_file,
                                     name="stacked", text_features=True)
    plain, _, _ = ours(engine, encoder, work, train_file, test_file, name="plain",
                       text_features=False)
    reference = peer(test["text"].tolist(), test["unsafe"])
    print(f"\nunsafe vs safe on ConvAbuse's 20% ({len(test)} items, seed {SEED}):")
    print(row("ours: MiniLM + char/word n-grams (stacked)", stacked))
    print(row("MiniLM + logistic regression alone", plain))
    print(row("peer: alt-profanity-check", reference))
    verdict = "met" if stacked["f1"] > reference["f1"] else "NOT met"
    print(f"goal (F1 above the peer's {reference['f1']:.3f}): {verdict}, "
          f"{stacked['f1'] - reference['f1']:+.3f}")
    settings = metrics["settings"]
    print(f"training {seconds:.1f} s; unsafe threshold {settings['unsafe_threshold']:.3f} "
          f"(tuned out of fold), temperature {settings['temperature']:.3f}")
    print("per category on the frozen evaluation split of the training share:")
    for entry in metrics["per_class"]:
        print(f"  {entry['label']:<12} precision {entry['precision']:.3f}  recall "
              f"{entry['recall']:.3f}  F1 {entry['f1']:.3f}  ({entry['support']})")
    print(f"(work files in {work})")


if __name__ == "__main__":
    main()
