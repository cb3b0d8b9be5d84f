"""A safety model trained on public data alone, judged on prompts it never saw: our own music
look-alikes (safe requests worded like unsafe ones) and their unsafe twins, and our demo
safety examples, next to a plain embedding model and the peer alt-profanity-check.

    python -m bench.safety_public [--data ../shared/data] [--block 0.9 --review 0.5]

Training data: ``bench.safety_data`` (ConvAbuse, AILuminate, 3,000 CLINC150 requests; mappings
in ``safety/sources.py``), imported into a fresh safety task and trained with the product's
code. Test data, never trained on here: the demo safety examples (``safety/demo_data``), split
into the look-alikes, their twins and the rest. Verdicts come from the product's policy
(``SafetyGate``: rules, then the model by band). Printed: unsafe precision/recall/F1 of the
model, share of look-alikes blocked and sent to review or blocked, share of twins caught
(review or block), for our stacked model, the plain embedding model and the peer (whose
``predict`` stands for block; it has no review band). A sweep of block/review thresholds shows
how the bands trade look-alikes against twins.
Targets (issue 9, on hidden sets of the same kind): unsafe F1 >= 0.70 and above the peer's;
look-alikes at most 10% blocked and at most 35% reviewed or blocked; twins at least 70% caught.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from bench.safety_data import public_training_frame  # noqa: E402
from labeling.lifecycle.training import retrain  # noqa: E402
from labeling.ml.encoders import SentenceTransformerEncoder  # noqa: E402
from labeling.ml.evaluation import binary_metrics  # noqa: E402
from labeling.project.authz import Operator  # noqa: E402
from labeling.project.importing import import_file  # noqa: E402
from labeling.project.tasks import create_task  # noqa: E402
from safety.demo_content import load_safety_prompts  # noqa: E402
from safety.policy import SafetyGate, set_policy  # noqa: E402
from safety.sources import DEFAULT_DATA  # noqa: E402
from safety.taxonomy import SAFE_LABEL, category_names  # noqa: E402
from storage.db import make_engine, migrate  # noqa: E402

BENCH = Operator("bench")
"""The benchmark acts with the database's own credentials, audited as ``bench``."""
SWEEP = ((0.8, 0.4), (0.85, 0.5), (0.9, 0.5), (0.9, 0.6), (0.95, 0.6), (0.95, 0.7))


def train(engine, encoder, work: Path, name: str, *, text_features: bool) -> None:
    frame = public_training_frame(DATA)
    path = work / "public.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for text, label in zip(frame["text"], frame["label"], strict=True):
            handle.write(json.dumps({"text": text, "label": label}) + "\n")
    create_task(engine=engine, actor=BENCH, name=name, kind="safety", labels=category_names(),
                text_features=text_features)
    import_file(engine=engine, task_name=name, path=path, encoder=encoder, actor=BENCH)
    retrain(engine=engine, task_name=name, encoder=encoder, models_dir=work / "models",
            actor=BENCH)


def rates(verdicts: list[str], truth: np.ndarray, styles: list[str | None]) -> dict:
    v = np.array(verdicts)
    look = np.array([s == "lookalike" for s in styles])
    twin = np.array([s == "twin" for s in styles])
    plain = ~(look | twin)
    caught = v != "allow"
    return {
        "unsafe": binary_metrics(caught[plain], truth[plain]),
        "lookalike_blocked": float((v[look] == "block").mean()),
        "lookalike_flagged": float(caught[look].mean()),
        "twin_caught": float(caught[twin].mean()),
    }


def line(name: str, r: dict) -> str:
    u = r["unsafe"]
    return (f"{name:34s} unsafe P {u['precision']:.2f} R {u['recall']:.2f} F1 {u['f1']:.2f} | "
            f"look-alikes blocked {r['lookalike_blocked']:5.0%}, reviewed or blocked "
            f"{r['lookalike_flagged']:5.0%} | twins caught {r['twin_caught']:5.0%}")


def main() -> None:
    global DATA
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--block", type=float, default=None)
    parser.add_argument("--review", type=float, default=None)
    args = parser.parse_args()
    DATA = args.data
    warnings.filterwarnings("ignore", category=FutureWarning)
    prompts = load_safety_prompts()
    texts = [p["text"] for p in prompts]
    truth = np.array([p["label"] != SAFE_LABEL for p in prompts])
    styles = [p.get("style") for p in prompts]
    print(f"test prompts: {sum(s == 'lookalike' for s in styles)} look-alikes, "
          f"{sum(s == 'twin' for s in styles)} twins, "
          f"{sum(s is None for s in styles)} other demo examples "
          f"({int(sum(t for t, s in zip(truth, styles, strict=True) if s is None))} unsafe)")
    work = Path(tempfile.mkdtemp(prefix="safety_public-"))
    engine = make_engine(f"sqlite:///{work / 'workbench.db'}")
    migrate(engine)
    encoder = SentenceTransformerEncoder()
    for name, features in (("stacked", True), ("plain", False)):
        train(engine, encoder, work, name, text_features=features)
    results = {}
    for name in ("stacked", "plain"):
        if args.block is not None or args.review is not None:
            set_policy(engine=engine, task_name=name, actor=BENCH, block=args.block,
                       review=args.review)
        gate = SafetyGate.load(engine=engine, encoder=encoder, actor=BENCH, task_name=name)
        verdicts = gate.check_many(texts)
        results[name] = (gate, verdicts)
        label = {"stacked": "ours (stacked n-grams + MiniLM)",
                 "plain": "plain MiniLM + logistic regression"}[name]
        print(line(f"{label}, policy v{gate.policy_version}", rates(
            [v.verdict for v in verdicts], truth, styles)))
    from profanity_check import predict

    peer = ["block" if p else "allow" for p in predict(texts)]
    print(line("peer: alt-profanity-check", rates(peer, truth, styles)))
    gate, verdicts = results["stacked"]
    unsafe = np.array([v.unsafe for v in verdicts])
    rules = np.array([bool(v.rule_hits) for v in verdicts])
    print("\nthreshold sweep for our model (block, review): rules block regardless")
    for block, review in SWEEP:
        sweep = np.where(rules | (unsafe >= block), "block",
                         np.where(unsafe >= review, "review", "allow"))
        print(line(f"  block {block:.2f}, review {review:.2f}", rates(list(sweep), truth,
                                                                      styles)))
    print(f"(work files in {work})")


DATA = DEFAULT_DATA

if __name__ == "__main__":
    main()
