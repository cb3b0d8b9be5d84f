"""Import speed: CLINC150's 15,000 training prompts with their embeddings, against encoding alone.

    python bench/import_speed.py [--database-url URL] [--limit N]

Creates a task for CLINC150's labels in a fresh database (a temporary SQLite file unless
``--database-url`` names an empty one), imports ``train.jsonl`` through the same service the
``workbench import`` command uses, and times ``SentenceTransformer.encode`` on the same texts.
Goal (issue 2): import time at most 1.15x the encode time.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.clinc_to_jsonl import DEFAULT_DATA, convert  # noqa: E402
from labeling.ml.encoders import SentenceTransformerEncoder  # noqa: E402
from labeling.project.authz import Operator  # noqa: E402
from labeling.project.importing import import_file  # noqa: E402
from labeling.project.tasks import create_task  # noqa: E402
from storage.db import make_engine, migrate  # noqa: E402

BENCH = Operator("bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--limit", type=int, default=None, help="first N training prompts")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="wb-bench-"))
    convert(args.data, work)
    train = work / "train.jsonl"
    if args.limit:
        lines = train.read_text().splitlines()[: args.limit]
        train.write_text("\n".join(lines) + "\n")
    texts = [json.loads(line)["text"] for line in train.read_text().splitlines()]
    labels = (work / "labels.txt").read_text().split()

    encoder = SentenceTransformerEncoder()
    model = encoder._load()  # load once, outside both timings
    model.encode(texts[:64], batch_size=64)  # warm-up

    start = time.perf_counter()
    model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    encode_seconds = time.perf_counter() - start

    engine = make_engine(args.database_url or f"sqlite:///{work / 'bench.db'}")
    migrate(engine)
    create_task(engine=engine, actor=BENCH, name="clinc", kind="intent", labels=labels,
                oos_label="oos")
    start = time.perf_counter()
    result = import_file(engine=engine, actor=BENCH, task_name="clinc", path=train, encoder=encoder)
    import_seconds = time.perf_counter() - start

    print(f"database            {engine.dialect.name}")
    print(f"prompts             {len(texts):,}")
    print(f"items / labels      {result.items_added:,} / {result.labels_added:,}")
    print(f"encode alone        {encode_seconds:8.2f} s  ({len(texts) / encode_seconds:,.0f}/s)")
    print(f"workbench import    {import_seconds:8.2f} s")
    print(f"ratio               {import_seconds / encode_seconds:8.3f}  (goal <= 1.15)")


if __name__ == "__main__":
    main()
