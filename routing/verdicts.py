"""Plain-words verdicts on two ranker configurations compared on the same logged sessions (pure,
no database): for each estimator, which is better and by how much, or why it cannot tell.

"discovery better than balanced by 3.1% ± 1.2% (reward-interaction estimator)" when the
interval of the difference (``offpolicy.compare``: paired bootstrap, or empirical likelihood
for the estimators with a control variate) lies on one side of 0; "cannot
tell apart" when it spans 0; "cannot tell: too little support" when the weights leave too few
effective sessions; "cannot estimate" when the log did not explore.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from routing.counterfactual import LoggedLists, Replayed, terms_for
from routing.offpolicy import (
    ESTIMATORS,
    MARGINAL_ESTIMATORS,
    Difference,
    SupportError,
    compare,
)

ESTIMATOR_NAMES: dict[str, str] = {
    "ips": "IPS",
    "snips": "self-normalised IPS",
    "dr": "doubly robust",
    "independent_position": "independent-position",
    "sn_independent_position": "self-normalised independent-position",
    "reward_interaction": "reward-interaction",
    "sn_reward_interaction": "self-normalised reward-interaction",
}
"""How the estimators are called in words (the keys are ``offpolicy.ESTIMATORS``)."""

BETTER, WORSE, TIE, NO_SUPPORT, NO_EXPLORATION, UNUSABLE = (
    "better", "worse", "tie", "no_support", "no_exploration", "unusable")
ROUNDING = 1e-9
"""A difference within this share of the values is floating-point rounding, not a difference
(a ratio of sums that cancels exactly on paper can differ in the last digits)."""
NO_EXPLORATION_TEXT = ("cannot estimate: the log did not explore (every logged probability is "
                       "1); log with exploration (WORKBENCH_EXPLORATION above 0) first")


@dataclass(frozen=True)
class Verdict:
    """One estimator's verdict on ``target`` against ``baseline``."""

    target: str
    baseline: str
    estimator: str
    kind: str
    """``better``, ``worse``, ``tie``, ``no_support``, ``no_exploration`` or ``unusable``
    (the estimator's inputs are out of range)."""
    text: str
    difference: Difference | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "baseline": self.baseline, "estimator": self.estimator,
                "kind": self.kind, "text": self.text,
                "difference": self.difference.as_dict() if self.difference else None}


def input_problem(estimator: str, exc: ValueError) -> str:
    """Why an estimator's inputs were refused, in words (the estimator's name first)."""
    if estimator in MARGINAL_ESTIMATORS:
        return (f"{estimator}: a shown track's chance to sit at its position came out 0 in the "
                "lists drawn for its request; draw more lists per request (samples)")
    return f"{estimator}: {exc}"


def brief(refused: str) -> str:
    """A refusal without the estimator's name in front and the advice after it."""
    head, _, rest = refused.partition(": ")
    text = rest if head in ESTIMATORS else refused
    return text.split("; ")[0]


def verdict_text(target: str, baseline: str, difference: Difference) -> tuple[str, str]:
    """The kind and the words for a comparison that could be made."""
    words = f"{ESTIMATOR_NAMES.get(difference.estimator, difference.estimator)} estimator"
    rounding = ROUNDING * max(1.0, abs(difference.value_a), abs(difference.value_b))
    if difference.low - rounding <= 0 <= difference.high + rounding:
        return TIE, (f"cannot tell apart: the interval of the difference spans 0 "
                     f"({difference.low:+.3f} to {difference.high:+.3f} reward per session; "
                     f"{words})")
    kind = BETTER if difference.difference > 0 else WORSE
    if difference.relative is not None and difference.relative_low is not None \
            and difference.relative_high is not None:
        spread = (difference.relative_high - difference.relative_low) / 2
        size = f"{abs(difference.relative):.1f}% ± {spread:.1f}%"
    else:
        spread = (difference.high - difference.low) / 2
        size = f"{abs(difference.difference):.3f} ± {spread:.3f} reward per session"
    return kind, f"{target} {kind} than {baseline} by {size} ({words})"


def refusal_verdict(target: str, baseline: str, estimator: str, exc: SupportError) -> Verdict:
    """The verdict when the comparison was refused: too little support, or no exploration."""
    words = f"{ESTIMATOR_NAMES.get(estimator, estimator)} estimator"
    if exc.beyond_support is not None:
        return Verdict(target, baseline, estimator, NO_SUPPORT,
                       f"cannot tell: too little support ({exc.beyond_support:.0%} of the "
                       f"lists reach tracks the logged configuration could not show; {words})")
    if exc.effective_sessions is None:
        return Verdict(target, baseline, estimator, NO_EXPLORATION, NO_EXPLORATION_TEXT)
    return Verdict(target, baseline, estimator, NO_SUPPORT,
                   f"cannot tell: too little support ({exc.sessions:,} sessions count as "
                   f"{exc.effective_sessions:.1f}; {words})")


def paired_verdicts(log: LoggedLists, replayed: Mapping[str, Replayed], *, baseline: str,
                    rounds: int, seed: int = 0,
                    estimators: Sequence[str] = tuple(ESTIMATORS)) -> list[Verdict]:
    """Every other configuration against ``baseline``, estimator by estimator, on the same
    sessions of ``log``."""
    out = []
    for target, inputs in replayed.items():
        if target == baseline:
            continue
        for estimator in estimators:
            try:
                difference = compare(estimator, terms_for(estimator, log, inputs),
                                     terms_for(estimator, log, replayed[baseline]),
                                     rounds=rounds, seed=seed)
            except SupportError as exc:
                out.append(refusal_verdict(target, baseline, estimator, exc))
                continue
            except ValueError as exc:
                out.append(Verdict(target, baseline, estimator, UNUSABLE,
                                   f"cannot tell: {brief(input_problem(estimator, exc))}"))
                continue
            kind, text = verdict_text(target, baseline, difference)
            out.append(Verdict(target, baseline, estimator, kind, text, difference))
    return out


def unexplored_verdicts(targets: Sequence[str], *, baseline: str,
                        estimators: Sequence[str] = tuple(ESTIMATORS)) -> list[Verdict]:
    """The verdicts on a log that did not explore: every estimator cannot estimate."""
    return [Verdict(target, baseline, estimator, NO_EXPLORATION, NO_EXPLORATION_TEXT)
            for target in targets if target != baseline for estimator in estimators]
