"""Aggregating several raters' labels into one per item.

Pure functions over (item, rater, value) votes; the services load and store.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ItemConsensus:
    value: str | None
    """The winning label, or ``None`` for a tie (never broken silently)."""
    confidence: float
    """Share of the votes for the winner (for a tie: the tied share)."""
    n_votes: int
    tie: bool


def majority_vote(votes: Iterable[tuple[Hashable, str]]) -> dict[Hashable, ItemConsensus]:
    """Per item, the label most raters chose; ties are reported as ties.

    ``votes`` are (item, value) pairs, one per rater judgement.
    """
    by_item: dict[Hashable, Counter[str]] = defaultdict(Counter)
    for item, value in votes:
        by_item[item][value] += 1
    result = {}
    for item, counts in by_item.items():
        ranked = counts.most_common()
        n = sum(counts.values())
        top_value, top_count = ranked[0]
        tie = len(ranked) > 1 and ranked[1][1] == top_count
        result[item] = ItemConsensus(
            value=None if tie else top_value, confidence=top_count / n, n_votes=n, tie=tie,
        )
    return result
