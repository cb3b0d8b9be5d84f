"""Offline evaluation of ranker configurations on the preview's impression log (issue 12).

Every logged impression is one session and its own request: the candidates it was ranked from
(each with its score parts, from which any configuration's scores follow), the order shown,
the logging configuration's probability of each position given the ones above, and the likes,
saves and skips that followed, weighed into the lead's composite reward (``routing.reward``; no
feedback is a reward of 0). For each configuration, every estimator of ``routing.offpolicy``
gives its value over the window, per intent and per context bucket (time of day / device); each
other configuration is compared with the first, the baseline, on the same sessions, in plain
words (``routing.verdicts``).

A configuration is judged as the preview would serve it: with the exploration each impression
was logged with (the preview serves every configuration at the one ``WORKBENCH_EXPLORATION``),
ranking the logged candidates (a track the logging configuration never considered cannot be
judged). Impressions that cannot be replayed are counted with the reason and left out.

An intent model version is judged the same way (``IntentTarget``): what changes with it is the
configuration each prompt is served (the router's choice by intent, ``INTENT_CONFIGS``), so each
logged prompt is classified by that version and replayed with the configuration its intent
picks. What the replay cannot show: a version that would answer "out of scope" (no playlist) is
judged on the playlist its top intent would get.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine

from labeling.exceptions import LabelingError
from labeling.lifecycle.model_files import ModelFileError
from labeling.lifecycle.registry import load_version
from labeling.ml.encoders import Encoder
from labeling.ml.text_features import predict_proba_for
from labeling.project.authz import Actor, Capability, requires
from routing.counterfactual import (
    LoggedLists,
    Outcome,
    PolicySamples,
    Replayed,
    Unsupported,
    estimate_all,
    policy_lists,
    replay_log,
)
from routing.impression_log import LoadedLog, load_log, logged_lists
from routing.mmr import Lists
from routing.offpolicy import ESTIMATORS
from routing.promotion import preview_default
from routing.ranker import (
    CONFIGS,
    DEFAULT_CONFIG,
    INTENT_CONFIGS,
    CatalogueArrays,
    RankerConfig,
)
from routing.reward import RewardWeights
from routing.tracks import load_catalogue
from routing.verdicts import (
    NO_EXPLORATION_TEXT,
    Verdict,
    input_problem,
    paired_verdicts,
    unexplored_verdicts,
)

EVALUATION_ROUNDS = 500
"""Bootstrap rounds per estimate and comparison."""
MAX_IMPRESSIONS = 5_000
"""The newest impressions of a window evaluated at once."""
EVALUATION_SAMPLES = 50
"""Lists drawn per impression and configuration (their position marginals are averaged over
the drawn prefixes, so a few dozen suffice)."""
REPLAY_BLOCK = 250
"""Impressions replayed together (their drawn lists are held in memory meanwhile)."""


class ExperimentError(LabelingError):
    """An evaluation that cannot be run as asked."""


@dataclass(frozen=True)
class IntentTarget:
    """The preview serving each prompt the configuration its intent picks, as the registered
    version ``version`` of the intent task ``task`` classifies it."""

    task: str
    version: int

    @property
    def name(self) -> str:
        return f"intent v{self.version}"

    @property
    def label(self) -> str:
        return f"{self.task} intent model v{self.version}"


Target = RankerConfig | IntentTarget


@dataclass(frozen=True)
class SegmentResult:
    """The estimates for one slice of the log (all of it, one intent or one context bucket)."""

    dimension: str
    """``all``, ``intent`` or ``context``."""
    segment: str
    sessions: int
    logged_mean: float
    """The mean reward per session of the lists that were shown."""
    outcomes: dict[str, list[Outcome]]
    """Per configuration, each estimator's estimate or refusal."""


@dataclass(frozen=True)
class Evaluation:
    """Configurations evaluated on one window of the impression log."""

    since: datetime | None
    until: datetime | None
    weights: RewardWeights
    configs: list[str]
    """The configurations' names, the baseline first."""
    explored: bool
    """Whether any logged probability is below 1 (without, nothing can be estimated)."""
    used: int
    skipped: dict[str, int]
    """Impressions left out, by reason."""
    first_logged: datetime
    last_logged: datetime
    overall: SegmentResult
    by_intent: list[SegmentResult]
    by_context: list[SegmentResult]
    verdicts: list[Verdict]

    @property
    def baseline(self) -> str:
        return self.configs[0]

    @property
    def notice(self) -> str | None:
        """What stops every estimate, in plain words (``None`` when estimates could be made)."""
        return None if self.explored else NO_EXPLORATION_TEXT

    def segments(self) -> list[SegmentResult]:
        return [self.overall, *self.by_intent, *self.by_context]

    def rows(self) -> list[dict[str, Any]]:
        """One row per segment, configuration and estimator (for tables and charts)."""
        return [{"dimension": s.dimension, "segment": s.segment, "configuration": config,
                 "logged_mean": s.logged_mean, **o.as_dict()}
                for s in self.segments() for config, outcomes in s.outcomes.items()
                for o in outcomes]

    def as_dict(self) -> dict[str, Any]:
        return {"since": _iso(self.since), "until": _iso(self.until),
                "first_logged": _iso(self.first_logged), "last_logged": _iso(self.last_logged),
                "weights": vars(self.weights), "configs": self.configs,
                "baseline": self.baseline, "explored": self.explored, "used": self.used,
                "skipped": self.skipped, "logged_mean": self.overall.logged_mean,
                "estimates": self.rows(), "verdicts": [v.as_dict() for v in self.verdicts]}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@requires(Capability.run_experiments)
def evaluate_log(*, engine: Engine, actor: Actor, targets: Sequence[Target],
                 since: datetime | None = None, until: datetime | None = None,
                 encoder: Encoder | None = None,
                 weights: RewardWeights | None = None, rounds: int = EVALUATION_ROUNDS,
                 samples: int = EVALUATION_SAMPLES, seed: int = 0,
                 max_impressions: int = MAX_IMPRESSIONS,
                 progress: Callable[[int, int], None] | None = None) -> Evaluation:
    """Evaluate ``targets`` (two or more; the first is the baseline the others are compared
    with) on the impressions logged at or after ``since`` and before ``until``.

    Parameters
    ----------
    targets
        Ranker configurations, and intent model versions (``IntentTarget``: each prompt gets
        the configuration its intent picks under that version; needs ``encoder``).
    weights
        The composite reward (default ``RewardWeights()``); ``RewardWeights(like=0, save=1,
        skip=0)`` judges on saves alone.
    samples
        Lists drawn per impression and configuration for the position marginals (the
        independent-position estimator) and the doubly robust estimator's reward model.
    progress
        Called with (impressions replayed, impressions to replay) over all configurations.

    Raises ``ExperimentError`` for fewer than two distinct configurations, an empty window, or a
    window none of whose impressions can be evaluated (with the reasons).
    """
    names = _names(targets)
    weights = weights or RewardWeights()
    if rounds < 1 or samples < 1:
        raise ExperimentError("rounds and samples must be at least 1")
    if since is not None and until is not None and since >= until:
        raise ExperimentError(f"the window is empty: {since:%Y-%m-%d %H:%M} is not before "
                              f"{until:%Y-%m-%d %H:%M}")
    _, tracks = load_catalogue(engine=engine, actor=actor)
    arrays = CatalogueArrays(tracks)
    loaded = load_log(engine=engine, actor=actor, arrays=arrays, since=since, until=until,
                      limit=max_impressions)
    n = len(loaded.candidates)
    if n == 0:
        raise ExperimentError(_nothing_to_evaluate(loaded.skipped, since, until))
    log = logged_lists(loaded, arrays, weights)
    explored = not np.isin(log.propensities, (0.0, 1.0)).all()
    configs = {name: _per_impression(target, loaded, engine=engine, actor=actor,
                                     encoder=encoder)
               for name, target in zip(names, targets, strict=True)}
    replayed = _replay_all(arrays, loaded, log, configs, samples=samples, seed=seed,
                           progress=progress) if explored else None

    def segment(dimension: str, label: str, mask: np.ndarray) -> SegmentResult:
        part = log.subset(mask)
        outcomes = {name: _estimates(part, None if replayed is None
                                     else _subset(replayed[name], mask), rounds=rounds,
                                     seed=seed) for name in names}
        return SegmentResult(dimension, label, int(mask.sum()),
                             float(part.rewards.sum(axis=1).mean()), outcomes)

    verdicts = (paired_verdicts(log, replayed, baseline=names[0], rounds=rounds, seed=seed)
                if replayed is not None else unexplored_verdicts(names, baseline=names[0]))
    return Evaluation(
        since=since, until=until, weights=weights, configs=names, explored=explored, used=n,
        skipped=dict(loaded.skipped), first_logged=min(loaded.times),
        last_logged=max(loaded.times),
        overall=segment("all", "all", np.ones(n, dtype=bool)),
        by_intent=[segment("intent", label, mask) for label, mask in _groups(loaded.intents)],
        by_context=[segment("context", label, mask) for label, mask in _groups(loaded.buckets)],
        verdicts=verdicts)


@requires(Capability.run_experiments)
def default_baseline(*, engine: Engine, actor: Actor) -> str:
    """The configuration to compare with by default: the one promoted for the preview, or
    ``balanced`` while the preview picks by intent (``balanced`` serves most intents) or when
    the promoted one is no longer bundled."""
    current = preview_default(engine=engine, actor=actor)
    return current if current in CONFIGS else "balanced"  # by intent, or a name since removed


def _per_impression(target: Target, loaded: LoadedLog, *, engine: Engine, actor: Actor,
                    encoder: Encoder | None) -> list[RankerConfig]:
    """The configuration ``target`` serves each logged impression."""
    if isinstance(target, RankerConfig):
        return [target] * len(loaded.candidates)
    if encoder is None:
        raise ExperimentError(f"judging {target.label} needs the encoder its prompts are read "
                              "with")
    try:
        _, model = load_version(engine=engine, actor=actor, task_name=target.task,
                                version=target.version)
    except (LabelingError, ModelFileError) as exc:
        raise ExperimentError(f"cannot judge {target.label}: {exc}") from exc
    vectors = encoder.encode(loaded.prompts)
    proba = np.asarray(predict_proba_for(model, loaded.prompts, vectors))
    intents = np.asarray([str(c) for c in model.classes_], dtype=object)[proba.argmax(axis=1)]
    return [CONFIGS[INTENT_CONFIGS.get(intent, DEFAULT_CONFIG)] for intent in intents]


def _names(targets: Sequence[Target]) -> list[str]:
    """Each configuration's name (its name and version where names repeat)."""
    if len(targets) < 2:
        raise ExperimentError("give two or more configurations: a target and a baseline to "
                              "compare it with")
    plain = [replace(t, exploration=0.0) if isinstance(t, RankerConfig) else t for t in targets]
    if len(set(plain)) < len(plain):
        raise ExperimentError("a configuration is given twice; compare different ones")
    names = [t.name for t in targets]
    if len(set(names)) < len(names):
        names = [t.label for t in targets]
    if len(set(names)) < len(names):
        raise ExperimentError("two configurations share a name and version; give them apart")
    return names


def _nothing_to_evaluate(skipped: Counter, since: datetime | None,
                         until: datetime | None) -> str:
    window = (f" between {since:%Y-%m-%d %H:%M} and {until:%Y-%m-%d %H:%M}" if since and until
              else f" since {since:%Y-%m-%d %H:%M}" if since
              else f" before {until:%Y-%m-%d %H:%M}" if until else "")
    if not skipped:
        return (f"no impressions logged{window}: the preview logs every playlist it shows; "
                "route prompts there (with exploration, WORKBENCH_EXPLORATION above 0) and "
                "like, skip or save tracks")
    reasons = "; ".join(f"{count:,} {reason}" for reason, count in skipped.most_common())
    return f"none of the impressions logged{window} can be evaluated: {reasons}"


def _groups(labels: Sequence[str]) -> list[tuple[str, np.ndarray]]:
    """Each label's sessions, the most common first."""
    values = np.asarray(labels, dtype=object)
    return [(label, values == label) for label, _ in Counter(labels).most_common()]


# --- replaying and estimating ------------------------------------------------------------------


def _replay_all(arrays: CatalogueArrays, loaded: LoadedLog, log: LoggedLists,
                configs: dict[str, list[RankerConfig]], *, samples: int, seed: int,
                progress: Callable[[int, int], None] | None = None) -> dict[str, Replayed]:
    """Each target's estimator inputs on the log (``configs``: the configuration it serves each
    impression), served at each impression's logged exploration. Impressions go through in
    blocks of ``REPLAY_BLOCK`` with one exploration each (the doubly robust reward model is
    fitted per block), so that the drawn lists of only one block are held at a time."""
    rng = np.random.default_rng(seed)
    n, k = log.shown.shape
    out = {name: Replayed(*(np.ones((n, k)) for _ in range(3)), np.zeros(n), np.zeros(n),
                          Unsupported.none(n, k)) for name in configs}
    explorations = np.array([c.exploration for c in loaded.configs])
    done = 0
    for value in np.unique(explorations):
        group = np.flatnonzero(explorations == value)
        for start in range(0, len(group), REPLAY_BLOCK):
            rows = group[start:start + REPLAY_BLOCK]
            block = LoggedLists(np.arange(len(rows)), log.shown[rows], log.propensities[rows],
                                log.rewards[rows])
            candidates = [loaded.candidates[i] for i in rows]
            drawn: dict[tuple[int, RankerConfig], Lists] = {}

            def lists(config_of: Sequence[RankerConfig], rows: np.ndarray = rows,
                      drawn: dict = drawn) -> list[Lists]:
                for i, config in zip(rows, config_of, strict=True):
                    if (i, config) not in drawn:
                        drawn[(i, config)] = policy_lists(
                            arrays, loaded.candidates[i], config, sessions=samples, rng=rng)
                return [drawn[(i, config)] for i, config in zip(rows, config_of, strict=True)]

            logged_with = [loaded.configs[i] for i in rows]
            logging = PolicySamples(logged_with[0], lists(logged_with), logged_with)
            for name, per_impression in configs.items():
                served = [replace(per_impression[i], exploration=float(value)) for i in rows]
                part = replay_log(arrays, candidates, block, logging=logging,
                                  target=PolicySamples(served[0], lists(served), served))
                _scatter(out[name], rows, part)
            done += len(rows)
            if progress is not None:
                progress(done, n)
    return out


def _scatter(out: Replayed, rows: np.ndarray, part: Replayed) -> None:
    for name in ("target", "target_marginal", "logging_marginal", "predicted_logged",
                 "predicted_target"):
        getattr(out, name)[rows] = getattr(part, name)
    if out.unsupported is not None and part.unsupported is not None:
        out.unsupported.put(rows, part.unsupported)


def _subset(replayed: Replayed, mask: np.ndarray) -> Replayed:
    return Replayed(replayed.target[mask], replayed.target_marginal[mask],
                    replayed.logging_marginal[mask], replayed.predicted_logged[mask],
                    replayed.predicted_target[mask],
                    None if replayed.unsupported is None else replayed.unsupported.subset(mask))


def _estimates(log: LoggedLists, replayed: Replayed | None, *, rounds: int, seed: int
               ) -> list[Outcome]:
    if replayed is None:
        return [Outcome(name, None, NO_EXPLORATION_TEXT) for name in ESTIMATORS]
    out = []
    for name in ESTIMATORS:  # one at a time: inputs one estimator refuses leave the others
        try:
            out += estimate_all(log, replayed, rounds=rounds, seed=seed, estimators=[name])
        except ValueError as exc:
            out.append(Outcome(name, None, input_problem(name, exc)))
    return out
