"""An offline evaluation where the truth is known (pure, no database): log sessions of simulated
users under one ranker configuration with exploration (``routing.simulation``), estimate other
configurations from that log with every estimator, and set each estimate and each paired
verdict next to the simulator's true value, so a lead sees how far the estimators can be
trusted at a given log size, exploration and browsing model before reading the real log.

The demo catalogue and the intent demo prompts stand in for the real ones; lists are the first
``size`` tracks, and every configuration is served at the logging exploration (as the preview
serves them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from labeling.dataio.demo_content import load_intent_prompts
from routing.catalogue import generate_demo_catalogue
from routing.counterfactual import Outcome, estimate_all, replay_log
from routing.experiments import ExperimentError
from routing.offpolicy import BOOTSTRAP_ROUNDS
from routing.ranker import RankerConfig
from routing.reward import RewardWeights
from routing.simulation import BROWSING, Experiment, UserModel, build_scenario, log_sessions
from routing.verdicts import Verdict, paired_verdicts

SIMULATION_EXPLORATION = 0.3
SIMULATION_SIZE = 5
TRUTH_SESSIONS = 20_000
SAMPLES = 200
NO_EXPLORATION = ("cannot estimate: a log without exploration (exploration 0) holds one fixed "
                  "order per request and says nothing about another configuration; simulate "
                  "with exploration above 0, e.g. 0.3")


@dataclass(frozen=True)
class SimulatedTarget:
    """One configuration: its true value and each estimator's estimate from the log."""

    name: str
    truth: float
    outcomes: list[Outcome]

    def as_dict(self) -> dict[str, Any]:
        rows = []
        for o in self.outcomes:
            row = o.as_dict()
            row["covers_truth"] = (o.estimate.low <= self.truth <= o.estimate.high
                                   if o.estimate else None)
            rows.append(row)
        return {"name": self.name, "truth": self.truth, "estimates": rows}


@dataclass(frozen=True)
class SimulatedEvaluation:
    logging: str
    exploration: float
    size: int
    browsing: str
    sessions: int
    seed: int
    weights: RewardWeights
    targets: list[SimulatedTarget]
    verdicts: list[Verdict]
    """Every target against the first, with ``true_difference`` beside them."""

    def true_difference(self, target: str, baseline: str) -> float:
        truth = {t.name: t.truth for t in self.targets}
        return truth[target] - truth[baseline]

    def as_dict(self) -> dict[str, Any]:
        return {"logging": self.logging, "exploration": self.exploration, "size": self.size,
                "browsing": self.browsing, "sessions": self.sessions, "seed": self.seed,
                "weights": vars(self.weights),
                "targets": [t.as_dict() for t in self.targets],
                "verdicts": [{**v.as_dict(), "true_difference": self.true_difference(
                    v.target, v.baseline)} for v in self.verdicts]}


def simulate_evaluation(*, logging: RankerConfig, targets: Sequence[RankerConfig],
                        sessions: int, exploration: float = SIMULATION_EXPLORATION,
                        size: int = SIMULATION_SIZE, browsing: str = "cascade",
                        weights: RewardWeights | None = None, requests: int = 40,
                        users: int = 1_000, samples: int = SAMPLES,
                        truth_sessions: int = TRUTH_SESSIONS,
                        rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0,
                        tracks: pd.DataFrame | None = None,
                        prompts: Sequence[dict] | None = None) -> SimulatedEvaluation:
    """Log ``sessions`` simulated sessions under ``logging`` and estimate each of ``targets``.

    ``tracks`` and ``prompts`` default to the demo catalogue and the intent demo prompts.
    Raises ``ExperimentError`` for exploration 0 (nothing could be estimated) and other bad
    settings.
    """
    _check(targets=targets, sessions=sessions, exploration=exploration, size=size,
           browsing=browsing, requests=requests, samples=samples, truth_sessions=truth_sessions,
           rounds=rounds)
    logged = replace(logging, size=size, exploration=exploration)
    served = {t.name if [u.name for u in targets].count(t.name) == 1 else t.label:
              replace(t, size=size, exploration=exploration) for t in targets}
    if len(served) < len(targets):
        raise ExperimentError("a target is given twice; name different configurations")
    tracks = tracks if tracks is not None else pd.DataFrame(generate_demo_catalogue())
    scenario = build_scenario(tracks, list(prompts or load_intent_prompts()), logging=logged,
                              requests=requests, users=users,
                              user_model=UserModel(browsing=browsing),
                              weights=weights or RewardWeights(), seed=seed)
    experiment = Experiment.prepare(scenario, logged, served, samples=samples,
                                    truth_sessions=truth_sessions, seed=seed)
    log, _ = log_sessions(scenario, logged, sessions=sessions,
                          rng=np.random.default_rng(seed))
    replayed = {name: replay_log(scenario.arrays, scenario.candidates, log,
                                 logging=experiment.logging_samples,
                                 target=experiment.target_samples[name]) for name in served}
    results = [SimulatedTarget(name, experiment.truth[name],
                               estimate_all(log, replayed[name], rounds=rounds, seed=seed))
               for name in served]
    verdicts = paired_verdicts(log, replayed, baseline=next(iter(served)), rounds=rounds,
                               seed=seed) if len(served) > 1 else []
    return SimulatedEvaluation(logging=logged.name, exploration=exploration, size=size,
                               browsing=browsing, sessions=sessions, seed=seed,
                               weights=scenario.weights, targets=results, verdicts=verdicts)


def _check(*, targets: Sequence[RankerConfig], sessions: int, exploration: float, size: int,
           browsing: str, requests: int, samples: int, truth_sessions: int,
           rounds: int) -> None:
    if exploration <= 0:
        raise ExperimentError(NO_EXPLORATION)
    if not np.isfinite(exploration) or exploration > 10:
        raise ExperimentError(f"exploration must lie in (0, 10], got {exploration}")
    if not targets:
        raise ExperimentError("give at least one target configuration")
    if min(sessions, size, requests, samples, truth_sessions, rounds) < 1:
        raise ExperimentError("sessions, size, requests, samples, truth sessions and rounds "
                              "must be at least 1")
    if browsing not in BROWSING:
        raise ExperimentError(f"browsing is one of {', '.join(BROWSING)}, got {browsing!r}")
