"""Build the safety training file from the public data sets, mapped to our taxonomy.

    python -m bench.safety_data --out DIR [--data ../shared/data] [--clinc N] [--davidson]

Writes ``DIR/safety_public.jsonl`` (``text``, ``label``): every ConvAbuse item with a majority,
AILuminate's 1,200 prompts, ``--clinc`` benign CLINC150 requests (default 3,000), our demo
intent prompts as benign music requests and, with ``--davidson``, Davidson's tweets (left out by
default: tweets with dialect bias, and they hurt in-domain results in our trials). The mappings
live in ``safety/sources.py``. Then:

    workbench task create safety_public --kind safety \
      --labels safe,hate,harassment,sexual,self_harm,violence,illicit,privacy_pii,\
               jailbreak_injection
    workbench import DIR/safety_public.jsonl --task safety_public
    workbench train --task safety_public
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from labeling.dataio.demo_content import load_intent_prompts
from safety.sources import DEFAULT_DATA, ailuminate, clinc_benign, convabuse_items, davidson
from safety.taxonomy import SAFE_LABEL


def public_training_frame(data: Path, *, clinc: int = 3000, with_davidson: bool = False,
                          seed: int = 0) -> pd.DataFrame:
    """``text``, ``label``, ``source`` rows from the public sets (one row per distinct text
    and label)."""
    parts = [convabuse_items(data).assign(source="convabuse"),
             ailuminate(data).assign(source="ailuminate"),
             clinc_benign(data, n=clinc, seed=seed).assign(source="clinc150"),
             pd.DataFrame({"text": [p["text"] for p in load_intent_prompts()],
                           "label": SAFE_LABEL, "source": "demo_intents"})]
    if with_davidson:
        parts.append(davidson(data).assign(source="davidson"))
    frame = pd.concat([p[["text", "label", "source"]] for p in parts], ignore_index=True)
    frame["text"] = frame["text"].astype(str).str.strip()
    frame = frame[frame["text"] != ""]
    return frame.drop_duplicates(["text", "label"]).reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--clinc", type=int, default=3000)
    parser.add_argument("--davidson", action="store_true")
    args = parser.parse_args()
    frame = public_training_frame(args.data, clinc=args.clinc, with_davidson=args.davidson)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "safety_public.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for text, label in zip(frame["text"], frame["label"], strict=True):
            handle.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")
    counts = frame.groupby(["source", "label"]).size().unstack(fill_value=0)
    print(counts.to_string())
    print(f"wrote {len(frame):,} rows to {path}")


if __name__ == "__main__":
    main()
