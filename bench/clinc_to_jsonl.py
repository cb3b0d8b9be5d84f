"""Convert CLINC150's ``data_full.json`` into JSONL files (``text``, ``label``), one per split.

    python bench/clinc_to_jsonl.py [--data ../shared/data/clinc150/data_full.json] --out DIR

Writes ``DIR/<split>.jsonl`` for train, val, test, oos_train, oos_val and oos_test, and
``DIR/labels.txt`` (the 150 in-scope intents plus ``oos``). The data stays outside the repo.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/clinc150/data_full.json"


def convert(data: Path, out: Path) -> dict[str, int]:
    splits = json.loads(data.read_text(encoding="utf-8"))
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split, pairs in splits.items():
        with open(out / f"{split}.jsonl", "w", encoding="utf-8") as handle:
            for text, label in pairs:
                handle.write(json.dumps({"text": text, "label": label}) + "\n")
        counts[split] = len(pairs)
    labels = sorted({label for _, label in splits["train"]}) + ["oos"]
    (out / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    for split, n in convert(args.data, args.out).items():
        print(f"{split}\t{n}")


if __name__ == "__main__":
    main()
