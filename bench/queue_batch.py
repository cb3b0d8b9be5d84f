"""End-to-end batch selection in the queue: database queries + in-memory matrix + strategy.

    python -m bench.queue_batch [--items 100000] [--database-url URL]

Fills a fresh database (temporary SQLite unless ``--database-url`` names an empty one) with N
items and 384-d vectors, trains a model on 3,000 of them, then times ``select_batch`` (batch of
20, margin): the first call (loading the vectors and scoring every item) and warm calls. The pure
strategy time on arrays is in ``bench/selection_speed.py``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from labeling.lifecycle.training import retrain
from labeling.ml.encoders import text_hash
from labeling.project.authz import Operator
from labeling.project.tasks import create_task, update_settings
from labeling.queue.batches import select_batch
from storage.db import make_engine, migrate, session_scope
from storage.models import utcnow
from storage.repositories import embeddings as embedding_repo
from storage.repositories import items as item_repo
from storage.repositories import labels as label_repo

CLASSES = [f"intent_{i:03d}" for i in range(150)]
BENCH = Operator("bench")
"""The benchmark acts with the database's own credentials, audited as ``bench``."""


class RandomEncoder:
    """Stands in for MiniLM: 384-d unit vectors, clustered by class, from stored rows only."""

    name = "bench-random-384"
    dim = 384

    def encode(self, texts, *, progress=None):
        raise RuntimeError(f"every bench text has a stored vector ({len(texts)} asked, {progress})")


def fill(engine, n: int, rng: np.random.Generator) -> None:
    centres = rng.normal(size=(len(CLASSES), 384)).astype(np.float32)
    create_task(engine=engine, actor=BENCH, name="bench", kind="intent", labels=CLASSES)
    update_settings(engine=engine, task_name="bench", actor=BENCH,
                    changes={"batch_size": 20, "strategy": "margin", "overlap_k": 1})
    now = utcnow()
    for start in range(0, n, 20_000):
        stop = min(n, start + 20_000)
        classes = rng.integers(0, len(CLASSES), stop - start)
        vectors = centres[classes] + rng.normal(scale=1.5, size=(stop - start, 384))
        vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
        texts = [f"bench prompt {i}" for i in range(start, stop)]
        with session_scope(engine) as session:
            item_repo.add_many(session=session, rows=[
                {"task_id": 1, "text": t, "text_hash": text_hash(t), "source": "bench",
                 "created_at": now, "opted_out": False} for t in texts])
            embedding_repo.add_many(session=session, model_name=RandomEncoder.name, dim=384,
                                    vectors={text_hash(t): v.tobytes()
                                             for t, v in zip(texts, vectors, strict=True)})
            if start == 0:
                label_repo.add_many(session=session, rows=[
                    {"task_id": 1, "item_id": i + 1, "value": CLASSES[c], "slots": {},
                     "source": "import", "submitted_at": now, "unsure": False,
                     "is_gold": False, "superseded": False}
                    for i, c in enumerate(classes[:3000])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wb-queue-bench-"))
    engine = make_engine(args.database_url or f"sqlite:///{work / 'bench.db'}")
    migrate(engine)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    fill(engine, args.items, rng)
    print(f"database            {engine.dialect.name}")
    print(f"filled {args.items:,} items in {time.perf_counter() - start:.1f} s")
    model = retrain(engine=engine, task_name="bench", encoder=RandomEncoder(),
                    models_dir=work / "models", actor=BENCH)
    print(f"model               v{model.version} on {model.n_train:,} labels "
          f"({model.seconds:.1f} s)")
    for call in ("first (loads vectors)", "warm", "warm"):
        start = time.perf_counter()
        batch = select_batch(engine=engine, actor=BENCH, task_name="bench",
                             encoder=RandomEncoder())
        print(f"select_batch {call:<22} {time.perf_counter() - start:6.3f} s  "
              f"({len(batch.item_ids)} items, {batch.strategy})")


if __name__ == "__main__":
    main()
