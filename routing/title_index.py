"""Which tracks' titles hold asked-for words ("songs with rain in the title"): a word index over
the catalogue's folded titles, so that an ask costs a few lookups rather than a scan of every
title.

Titles are folded as prompts are (``labeling.text.normalise.fold``) and split into words, runs
of ``a-z`` and ``0-9``. The words asked for must appear as whole words, in order, the last one
also as a plural ("dance" finds "Dances", not "Danceable"). The index gives the candidate titles
(those holding every asked word, the last one in any of its forms) and a regular expression
confirms the phrase on them alone. An ask with no such word (another script) scans the folded
titles instead, as before the index.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict

import numpy as np
import pandas as pd

from labeling.text.normalise import fold

WORD = re.compile(r"[a-z0-9]+")
PLURALS = ("", "s", "es")
"""Endings the last asked word may carry in a title."""
MASKS_KEPT = 32
"""Title masks kept per catalogue (a mask is one byte per track; rebuilding one is cheap)."""


def _pattern(key: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![a-z0-9]){re.escape(key)}(?:s|es)?(?![a-z0-9])")


class TitleIndex:
    """Folded titles and their words, built on the first ask (thread-safe, then read-only)."""

    def __init__(self, titles: pd.Series) -> None:
        self._titles = titles
        self._built: tuple[np.ndarray, list[str], dict[str, np.ndarray]] | None = None
        self._lock = threading.Lock()
        self._masks: dict[str, np.ndarray] = {}

    @property
    def built(self) -> bool:
        return self._built is not None

    def build(self) -> tuple[np.ndarray, list[str], dict[str, np.ndarray]]:
        """Each track's code into the distinct titles, those titles folded, and each word's
        titles (codes): built once, on the first call (the router's warm-up makes it)."""
        with self._lock:
            if self._built is None:
                codes, uniques = pd.factorize(self._titles.astype(str))
                folded = [fold(str(title)) for title in uniques]
                holders: dict[str, list[int]] = defaultdict(list)
                for code, text in enumerate(folded):
                    for word in set(WORD.findall(text)):
                        holders[word].append(code)
                words = {word: np.asarray(found, dtype=np.int64)
                         for word, found in holders.items()}
                self._built = (np.asarray(codes), folded, words)
        return self._built

    def mask(self, words: str) -> np.ndarray:
        """Which tracks' titles hold ``words`` (cached per asked-for words)."""
        key = fold(words)
        masks = self._masks
        if key not in masks:
            if len(masks) >= MASKS_KEPT:  # prompts ask for any words: start a new cache
                masks = self._masks = {}  # (replaced, not emptied: other threads read it)
            masks[key] = self._compute(key)
        return masks[key]

    def _compute(self, key: str) -> np.ndarray:
        codes, folded, words = self.build()
        asked = WORD.findall(key)
        pattern = _pattern(key)
        if asked:
            candidates = self._candidates(asked, words)
            found = [code for code in candidates.tolist() if pattern.search(folded[code])]
        else:  # no a-z or 0-9 word to look up: scan every distinct title
            found = [code for code, text in enumerate(folded) if pattern.search(text)]
        hit = np.zeros(len(folded), dtype=bool)
        hit[found] = True
        return hit[codes] if len(codes) else np.zeros(0, dtype=bool)

    @staticmethod
    def _candidates(asked: list[str], words: dict[str, np.ndarray]) -> np.ndarray:
        """Codes of the titles that hold every asked word, the last one in any plural form."""
        empty = np.zeros(0, dtype=np.int64)
        last = np.unique(np.concatenate([words.get(asked[-1] + end, empty) for end in PLURALS]))
        for word in asked[:-1]:
            last = np.intersect1d(last, words.get(word, empty), assume_unique=True)
        return last
