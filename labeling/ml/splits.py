"""Where an item falls: the frozen evaluation split and the stratified validation rows, both
fixed by a hash of (task, text), so an item never moves as items are added."""

from __future__ import annotations

import hashlib

import numpy as np

EVAL_SHARE = 0.2
"""Share of settled (non-gold) items held out, by hash, for the frozen evaluation split."""
VAL_SHARE = 0.1
"""Share of each class's training rows used to fit the temperature and threshold."""
OOS_VAL_SHARE = 0.5
"""Share of the out-of-scope training rows used for validation (the threshold needs them)."""


def split_fraction(task_name: str, text_hash: str, *, salt: str = "eval") -> float:
    """A fixed number in [0, 1) for (task, text hash): where the item falls in the splits."""
    digest = hashlib.sha256(f"{salt}\x1f{task_name}\x1f{text_hash}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def in_eval_split(*, task_name: str, text_hashes: list[str], gold: list[bool],
                  share: float = EVAL_SHARE) -> np.ndarray:
    """Which items belong to the frozen evaluation split: every gold item, and the others whose
    ``split_fraction`` is below ``share`` (so the answer never changes as items are added)."""
    return np.array([g or split_fraction(task_name, h) < share
                     for h, g in zip(text_hashes, gold, strict=True)], dtype=bool)


def validation_rows(*, task_name: str, text_hashes: list[str], labels: list[str],
                    share: float = VAL_SHARE, oos_label: str | None = None,
                    oos_share: float = OOS_VAL_SHARE) -> np.ndarray:
    """Stratified validation rows: per class, the ``round(share * m)`` rows of lowest
    ``split_fraction`` (``oos_share`` for ``oos_label``), always leaving one row to fit on."""
    fractions = np.array([split_fraction(task_name, h, salt="val") for h in text_hashes])
    y = np.asarray(labels, dtype=object)
    out = np.zeros(len(y), dtype=bool)
    for label in set(labels):
        rows = np.flatnonzero(y == label)
        wanted = oos_share if label == oos_label else share
        n_val = min(int(wanted * len(rows) + 0.5), len(rows) - 1)
        out[rows[np.argsort(fractions[rows], kind="stable")[:n_val]]] = True
    return out


