"""The preview's impression log as the off-policy estimators' arrays: each usable impression
with its candidates (catalogue rows and score parts), its logging configuration, the rows shown,
their logged probabilities and the feedback that followed; the impressions that cannot be used
are counted by reason."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine

from labeling.project.authz import Actor, Capability, requires
from routing.counterfactual import Candidates, LoggedLists
from routing.lexicon import duration_minutes
from routing.ranker import PARTS, CatalogueArrays, RankerConfig
from routing.reward import RewardWeights, composite_rewards, list_diversity, list_novelty
from routing.session import ACTIONS
from storage.db import session_scope
from storage.repositories import routing as routing_repo

NO_PARTS = "no score parts logged (logged before the ranker kept them)"
MISSING_TRACKS = "tracks no longer in the catalogue"
NO_CONFIG = "no ranker configuration logged"
SIDE_BY_SIDE = "shown side by side (A/B), where no like, skip or save could be given"
BAD_PROPENSITY = "a logged probability outside (0, 1]"
NOT_LOGGED, NO_INTENT, UNSET = "(not logged)", "(no intent)", "-"
CONFIG_FIELDS = frozenset(f.name for f in fields(RankerConfig))


@dataclass
class LoadedLog:
    """The usable impressions, one entry per impression in each list, and what was left out."""

    candidates: list[Candidates] = field(default_factory=list)
    configs: list[RankerConfig] = field(default_factory=list)
    shown: list[np.ndarray] = field(default_factory=list)
    propensities: list[np.ndarray] = field(default_factory=list)
    actions: list[dict[str, np.ndarray]] = field(default_factory=list)
    intents: list[str] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)
    """Each impression's prompt as logged (redacted): what another intent model would read."""
    buckets: list[str] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)


@requires(Capability.run_experiments)
def load_log(*, engine: Engine, actor: Actor, arrays: CatalogueArrays, since: datetime | None,
             until: datetime | None, limit: int) -> LoadedLog:
    """The newest ``limit`` impressions logged at or after ``since`` and before ``until``
    (oldest first) with their feedback, against the catalogue ``arrays``."""
    out = LoadedLog()
    with session_scope(engine) as session:
        total = routing_repo.count_impressions(session=session, since=since, until=until)
        rows = routing_repo.impressions_in_window(session=session, since=since, until=until,
                                                  limit=limit)
        feedback = routing_repo.feedback_in_window(
            session=session, since=since, until=until,
            first_id=rows[0].id if rows else None) if rows else []
    if total > len(rows):
        out.skipped[f"older than the newest {limit:,} in the window (narrow the window)"] = \
            total - len(rows)
    by_impression: dict[int, list[tuple[int, str]]] = {}
    for f in feedback:
        by_impression.setdefault(f.impression_id, []).append((f.position, f.action))
    for row in rows:
        reason = _add(out, arrays, row, by_impression.get(row.id or 0, []))
        if reason is not None:
            out.skipped[reason] += 1
    return out


def _add(out: LoadedLog, arrays: CatalogueArrays, row: Any, feedback: list[tuple[int, str]]
         ) -> str | None:
    """Add one impression to ``out``; the reason it cannot be used otherwise."""
    ranker = dict(row.ranker or {})
    if ranker.get("interactive") is False:
        return SIDE_BY_SIDE
    if not isinstance(ranker.get("config"), dict):
        return NO_CONFIG
    candidates = list(row.candidates or [])
    if not candidates or any(not c.get("parts") or set(PARTS) - set(c["parts"])
                             for c in candidates):
        return NO_PARTS
    ids = [str(c["track_id"]) for c in candidates] + [str(t) for t in row.shown]
    if any(track_id not in arrays.row_of for track_id in ids):
        return MISSING_TRACKS
    propensities = np.asarray(row.propensities, dtype=np.float64)
    if len(propensities) != len(row.shown) or not row.shown \
            or ((propensities <= 0) | (propensities > 1)).any():
        return BAD_PROPENSITY
    minutes = duration_minutes(str((row.slots or {}).get("duration", "")))
    out.candidates.append(Candidates(
        rows=np.array([arrays.row_of[str(c["track_id"])] for c in candidates], dtype=np.int64),
        parts={name: np.array([float(c["parts"][name]) for c in candidates])
               for name in PARTS},
        target_ms=None if minutes is None else int(minutes * 60_000)))
    out.configs.append(RankerConfig(**{k: v for k, v in ranker["config"].items()
                                       if k in CONFIG_FIELDS}))
    out.shown.append(np.array([arrays.row_of[str(t)] for t in row.shown], dtype=np.int64))
    out.propensities.append(propensities)
    actions = {action: np.zeros(len(row.shown)) for action in ACTIONS}
    for position, action in feedback:
        if action in actions and 1 <= position <= len(row.shown):
            actions[action][position - 1] = 1.0  # a repeated click counts once
    out.actions.append(actions)
    intent = ranker.get("intent", NOT_LOGGED)
    out.intents.append(NO_INTENT if intent is None else str(intent))
    out.prompts.append(str(row.prompt))
    context = dict(row.context or {})
    out.buckets.append(f"{context.get('time_of_day') or UNSET} / "
                       f"{context.get('device') or UNSET}")
    out.times.append(row.created_at)
    return None


def logged_lists(loaded: LoadedLog, arrays: CatalogueArrays, weights: RewardWeights
                  ) -> LoggedLists:
    """The impressions as ``(sessions, positions)`` arrays, padded to the longest list."""
    n, width = len(loaded.shown), max(len(s) for s in loaded.shown)
    shown = np.full((n, width), -1, dtype=np.int64)
    propensities = np.ones((n, width))
    actions = {action: np.zeros((n, width)) for action in ACTIONS}
    for i, rows in enumerate(loaded.shown):
        shown[i, :len(rows)] = rows
        propensities[i, :len(rows)] = loaded.propensities[i]
        for action in ACTIONS:
            actions[action][i, :len(rows)] = loaded.actions[i][action]
    rewards = composite_rewards(actions, weights=weights,
                                diversity=list_diversity(arrays.unit_features, shown),
                                novelty=list_novelty(arrays.popularity, shown))
    return LoggedLists(np.arange(n), shown, propensities, rewards)
