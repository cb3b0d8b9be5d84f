"""Public data sets for the safety model, read and mapped to our taxonomy in this one place.

Each reader returns a frame with ``text`` and ``label`` (a category of ``safety.taxonomy``) and
the source's own columns where they help. The mappings:

* **ConvAbuse** (user messages to chatbots, 2-7 raters each): an item is abusive when most of
  its judgements say severity -1, -2 or -3 (a tie is dropped). An abusive item is ``hate`` when
  most of its abusive judgements flag an identity-based type (racist, homophobic, transphobic,
  sexist, ableist), ``sexual`` when most flag sexual harassment, else ``harassment`` (abuse of
  the agent or a person); a non-abusive item is ``safe``.
* **Davidson** (tweets, coder votes): ``hate`` for hate speech, ``harassment`` for offensive
  language, ``safe`` for neither (the majority class). It is tweets with dialect bias (see its
  README); the bench leaves it out of training by default.
* **AILuminate** (hazardous prompts by MLCommons hazard): violent crimes and indiscriminate
  weapons -> ``violence``; non-violent crimes and intellectual property -> ``illicit``;
  sex-related crimes, child sexual exploitation and sexual content -> ``sexual``; suicide and
  self-harm -> ``self_harm``; hate -> ``hate``; defamation -> ``harassment``; privacy ->
  ``privacy_pii``; specialised advice (finance, health, elections, legal) -> ``safe``, as the
  taxonomy says.
* **CLINC150** (assistant requests): every utterance is ``safe`` (benign requests, including
  its out-of-scope ones).

Files are read from a data folder (``../shared/data`` beside the checkout by default); nothing is
copied into the project.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from safety.taxonomy import SAFE_LABEL

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CONVABUSE_FILE = "convabuse/ConvAbuseEMNLPfull.csv"
DAVIDSON_FILE = "davidson_hate_offensive/labeled_data.csv"
AILUMINATE_FILE = "ailuminate/airr_official_1.0_demo_en_us_prompt_set_release.csv"
CLINC_FILE = "clinc150/data_full.json"

CONVABUSE_ITEM = ("conv_id", "prev_agent", "prev_user", "agent", "user")
CONVABUSE_SEVERITY = ("1", "0", "-1", "-2", "-3")
CONVABUSE_ABUSIVE = ("-1", "-2", "-3")
CONVABUSE_IDENTITY_TYPES = ("type.racist", "type.homophobic", "type.transphobic", "type.sexist",
                            "type.ableism")
CONVABUSE_SEXUAL_TYPE = "type.sex_harassment"

AILUMINATE_HAZARDS = {
    "vcr": "violence", "iwp": "violence", "ncr": "illicit", "ipv": "illicit",
    "src": "sexual", "cse": "sexual", "sxc_prn": "sexual", "ssh": "self_harm", "hte": "hate",
    "dfm": "harassment", "prv": "privacy_pii",
    "spc_fin": SAFE_LABEL, "spc_hlt": SAFE_LABEL, "spc_ele": SAFE_LABEL, "spc_lgl": SAFE_LABEL,
}
DAVIDSON_CLASSES = {0: "hate", 1: "harassment", 2: SAFE_LABEL}


def _path(data: Path | None, name: str) -> Path:
    path = (data or DEFAULT_DATA) / name
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (give the shared data folder)")
    return path


def convabuse_items(data: Path | None = None) -> pd.DataFrame:
    """One row per ConvAbuse item with a majority: ``text`` (the user message), ``label``,
    ``unsafe`` (bool), ``share`` (abusive share of its judgements), ``n`` (judgements).

    Repeat judgements (same annotator, same item) count as the data set keeps them.
    """
    raw = pd.read_csv(_path(data, CONVABUSE_FILE), dtype=str, keep_default_na=False)
    onehot = raw[[f"is_abuse.{s}" for s in CONVABUSE_SEVERITY]].astype(int).to_numpy()
    abusive = np.isin(np.array(CONVABUSE_SEVERITY)[onehot.argmax(axis=1)], CONVABUSE_ABUSIVE)
    frame = pd.DataFrame({
        "item": raw.groupby(list(CONVABUSE_ITEM), sort=False).ngroup(),
        "text": raw["user"], "abusive": abusive,
        "identity": abusive & (raw[list(CONVABUSE_IDENTITY_TYPES)].astype(int).sum(axis=1) > 0),
        "sexual": abusive & (raw[CONVABUSE_SEXUAL_TYPE].astype(int) > 0),
    })
    items = frame.groupby("item", sort=True).agg(
        text=("text", "first"), yes=("abusive", "sum"), n=("abusive", "size"),
        identity=("identity", "sum"), sexual=("sexual", "sum"))
    items = items[2 * items["yes"] != items["n"]].copy()
    items["unsafe"] = 2 * items["yes"] > items["n"]
    items["share"] = items["yes"] / items["n"]
    items["label"] = np.select(
        [~items["unsafe"], 2 * items["identity"] > items["yes"],
         2 * items["sexual"] > items["yes"]],
        [SAFE_LABEL, "hate", "sexual"], default="harassment")
    return items.reset_index()[["item", "text", "label", "unsafe", "share", "n"]]


def davidson(data: Path | None = None) -> pd.DataFrame:
    """Davidson's tweets with the majority class mapped; mentions become ``@user``, HTML
    entities are decoded and retweet prefixes dropped."""
    raw = pd.read_csv(_path(data, DAVIDSON_FILE))
    text = (raw["tweet"].str.replace("&amp;", "&", regex=False)
            .str.replace("&lt;", "<", regex=False).str.replace("&gt;", ">", regex=False)
            .str.replace(r"@\w+:?", "@user", regex=True)
            .str.replace(r"^(?:RT\s+)+", "", regex=True).str.strip())
    return pd.DataFrame({"text": text, "label": raw["class"].map(DAVIDSON_CLASSES)})


def ailuminate(data: Path | None = None) -> pd.DataFrame:
    """AILuminate's prompts with their hazard mapped (``hazard`` and ``persona`` kept)."""
    raw = pd.read_csv(_path(data, AILUMINATE_FILE))
    unknown = sorted(set(raw["hazard"]) - set(AILUMINATE_HAZARDS))
    if unknown:
        raise ValueError(f"AILuminate hazards without a mapping: {unknown}")
    return pd.DataFrame({"text": raw["prompt_text"], "label": raw["hazard"].map(
        AILUMINATE_HAZARDS), "hazard": raw["hazard"], "persona": raw["persona"]})


def clinc_benign(data: Path | None = None, *, n: int | None = None, seed: int = 0
                 ) -> pd.DataFrame:
    """CLINC150's training utterances (in scope and out of scope) as ``safe``, a random ``n``
    of them if given."""
    splits = json.loads(_path(data, CLINC_FILE).read_text(encoding="utf-8"))
    texts = [text for text, _ in splits["train"]] + [text for text, _ in splits["oos_train"]]
    if n is not None and n < len(texts):
        keep = np.sort(np.random.default_rng(seed).choice(len(texts), n, replace=False))
        texts = [texts[i] for i in keep]
    return pd.DataFrame({"text": texts, "label": SAFE_LABEL})
