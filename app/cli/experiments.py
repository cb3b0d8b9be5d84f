"""Offline evaluation of ranker configurations: ``workbench experiments evaluate`` (on the
preview's impression log), ``simulate`` (on simulated users, next to the true values),
``promote`` (the preview's default configuration) and ``promotions``."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from app.cli import common
from routing.counterfactual import Outcome
from routing.experiments import (
    EVALUATION_ROUNDS,
    EVALUATION_SAMPLES,
    Evaluation,
    ExperimentError,
    IntentTarget,
    SegmentResult,
    default_baseline,
    evaluate_log,
)
from routing.promotion import BY_INTENT, promote_config, promotion_history
from routing.ranker import CONFIGS, config_named
from routing.reward import RewardWeights
from routing.router import default_intent_task
from routing.simulated_experiments import (
    SAMPLES,
    SIMULATION_EXPLORATION,
    SIMULATION_SIZE,
    TRUTH_SESSIONS,
    SimulatedEvaluation,
    simulate_evaluation,
)
from routing.simulation import BROWSING
from routing.verdicts import Verdict, brief

NAMES = ", ".join(CONFIGS)
INTENT_TARGET = re.compile(r"intent:v?(\d{1,6})")
DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]
DEFAULTS = RewardWeights()

Like = Annotated[float, typer.Option(help="reward of a like")]
Save = Annotated[float, typer.Option(help="reward of a save")]
Skip = Annotated[float, typer.Option(help="reward of a skip (usually negative)")]
Diversity = Annotated[float, typer.Option(help="reward of a list's diversity (0-1)")]
Novelty = Annotated[float, typer.Option(help="reward of a list's novelty (0-1)")]
OnSaves = Annotated[bool, typer.Option(
    "--on-saves", help="judge on saves alone (save 1, every other weight 0)")]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON")]


def _weights(like: float, save: float, skip: float, diversity: float, novelty: float,
             on_saves: bool) -> RewardWeights:
    if on_saves:
        return RewardWeights(like=0.0, save=1.0, skip=0.0, diversity=0.0, novelty=0.0)
    return RewardWeights(like=like, save=save, skip=skip, diversity=diversity, novelty=novelty)


def _utc(value: datetime | None) -> datetime | None:
    """A time given on the command line, read as UTC unless it names its zone."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _interval(outcome: Outcome) -> str:
    e = outcome.estimate
    if e is None:
        return f"refused: {brief(outcome.refused or '')}"
    beyond = (f"; {outcome.beyond_support:.1%} beyond the log's support (reward model)"
              if outcome.beyond_support > 0 else "")
    return (f"{e.value:8.3f}  [{e.low:.3f}, {e.high:.3f}]  effective sessions "
            f"{e.effective_sessions:,.1f} of {e.sessions:,}{beyond}")


def _segment_lines(segment: SegmentResult) -> list[str]:
    lines = []
    for config, outcomes in segment.outcomes.items():
        lines += [f"  {config:<16}{o.estimator:<22}{_interval(o)}" for o in outcomes]
    return lines


def _verdict_lines(verdicts: list[Verdict]) -> list[str]:
    return [f"  {v.target} vs {v.baseline}: {v.text}" for v in verdicts]


def _evaluation_text(evaluation: Evaluation, by: str | None) -> str:
    w = evaluation.weights
    lines = [f"impressions {evaluation.first_logged:%Y-%m-%d %H:%M} to "
             f"{evaluation.last_logged:%Y-%m-%d %H:%M} UTC: {evaluation.used:,} used"]
    lines += [f"  skipped {count:,}: {reason}" for reason, count in evaluation.skipped.items()]
    lines.append(f"reward: like {w.like:g}, save {w.save:g}, skip {w.skip:g}, diversity "
                 f"{w.diversity:g}, novelty {w.novelty:g}; logged mean per session "
                 f"{evaluation.overall.logged_mean:.3f}")
    lines.append("estimates (95% interval: bootstrap; empirical likelihood for ips, dr and "
                 "reward_interaction):")
    lines += _segment_lines(evaluation.overall)
    if by is not None:
        for segment in evaluation.by_intent if by == "intent" else evaluation.by_context:
            lines.append(f"{by} {segment.segment} ({segment.sessions:,} sessions, logged mean "
                         f"{segment.logged_mean:.3f}):")
            lines += _segment_lines(segment)
    lines.append(f"verdicts against {evaluation.baseline}:")
    lines += _verdict_lines(evaluation.verdicts)
    return "\n".join(lines)


def experiments_evaluate(
    target: Annotated[list[str], typer.Option(
        help=f"a configuration to evaluate, repeatable: {NAMES}; or an intent model "
             "version, intent:vN (each prompt served the configuration its intent picks)")],
    baseline: Annotated[str | None, typer.Option(
        help="the configuration to compare with (default: the promoted one, else balanced)")
    ] = None,
    since: Annotated[datetime | None, typer.Option(
        formats=DATE_FORMATS, help="impressions logged from this date/time on (UTC)")] = None,
    until: Annotated[datetime | None, typer.Option(
        formats=DATE_FORMATS, help="impressions logged before this date/time (UTC)")] = None,
    like: Like = DEFAULTS.like, save: Save = DEFAULTS.save, skip: Skip = DEFAULTS.skip,
    diversity: Diversity = DEFAULTS.diversity, novelty: Novelty = DEFAULTS.novelty,
    on_saves: OnSaves = False,
    by: Annotated[str | None, typer.Option(
        help="also print the estimates per intent or per context (time of day / device)")
    ] = None,
    rounds: Annotated[int, typer.Option(help="bootstrap rounds")] = EVALUATION_ROUNDS,
    samples: Annotated[int, typer.Option(
        help="lists drawn per impression and configuration")] = EVALUATION_SAMPLES,
    seed: Annotated[int, typer.Option(help="seed of the draws and the bootstrap")] = 0,
    as_json: AsJson = False,
) -> None:
    """Estimate configurations on the preview's impression log with every off-policy
    estimator, and compare each with the baseline in plain words."""
    if by not in (None, "intent", "context"):
        raise ExperimentError(f"--by is intent or context, got {by!r}")
    engine, actor = common.engine(), common.operator()
    base = config_named(baseline or default_baseline(engine=engine, actor=actor))
    targets = [_target(name, engine, actor) for name in dict.fromkeys(target)
               if name != base.name]
    if not targets:
        raise ExperimentError(f"give a --target other than the baseline ({base.name})")
    intents = any(isinstance(t, IntentTarget) for t in targets)
    evaluation = evaluate_log(
        engine=engine, actor=actor, targets=[base, *targets], since=_utc(since),
        until=_utc(until), encoder=common.encoder(None) if intents else None,
        weights=_weights(like, save, skip, diversity, novelty, on_saves), rounds=rounds,
        samples=samples, seed=seed)
    if evaluation.notice is not None:
        raise ExperimentError(evaluation.notice)
    if as_json:
        typer.echo(json.dumps(evaluation.as_dict(), indent=1, default=_plain))
        return
    typer.echo(_evaluation_text(evaluation, by))


def _target(name: str, engine: Any, actor: Any) -> Any:
    """A bundled configuration by name, or ``intent:vN``: version N of the intent task."""
    match = INTENT_TARGET.fullmatch(name.strip())
    if match is None:
        return config_named(name)
    task = default_intent_task(engine=engine, actor=actor)
    if task is None:
        raise ExperimentError(f"{name}: there is no intent task")
    return IntentTarget(task=task, version=int(match.group(1)))


def _simulation_text(result: SimulatedEvaluation) -> str:
    lines = [f"{result.sessions:,} simulated sessions logged under {result.logging} "
             f"(exploration {result.exploration:g}, {result.size} tracks, {result.browsing} "
             "users); estimates (95% interval) next to the true value:"]
    for target in result.targets:
        lines.append(f"  {target.name}: true value {target.truth:.3f}")
        lines += [f"    {o.estimator:<22}{_interval(o)}" for o in target.outcomes]
    if result.verdicts:
        lines.append(f"verdicts against {result.verdicts[0].baseline}:")
        lines += [f"  {v.target}: {v.text} (true difference "
                  f"{result.true_difference(v.target, v.baseline):+.3f})"
                  for v in result.verdicts]
    return "\n".join(lines)


def experiments_simulate(
    logging: Annotated[str, typer.Option(help=f"the logging configuration: {NAMES}")],
    target: Annotated[list[str], typer.Option(
        help="a configuration to estimate, repeatable (the first is the baseline of the "
             "verdicts)")],
    sessions: Annotated[int, typer.Option(help="simulated sessions to log")],
    exploration: Annotated[float, typer.Option(
        help="the temperature every configuration is served at (0: nothing can be "
             "estimated)")] = SIMULATION_EXPLORATION,
    size: Annotated[int, typer.Option(help="tracks per list")] = SIMULATION_SIZE,
    browsing: Annotated[str, typer.Option(
        help=f"how simulated users read a list: {', '.join(BROWSING)}")] = "cascade",
    like: Like = DEFAULTS.like, save: Save = DEFAULTS.save, skip: Skip = DEFAULTS.skip,
    diversity: Diversity = DEFAULTS.diversity, novelty: Novelty = DEFAULTS.novelty,
    on_saves: OnSaves = False,
    requests: Annotated[int, typer.Option(help="distinct simulated requests (prompts)")] = 40,
    samples: Annotated[int, typer.Option(
        help="lists drawn per request and configuration")] = SAMPLES,
    truth_sessions: Annotated[int, typer.Option(
        help="sessions run live for each true value")] = TRUTH_SESSIONS,
    rounds: Annotated[int, typer.Option(help="bootstrap rounds")] = EVALUATION_ROUNDS,
    seed: Annotated[int, typer.Option(help="seed of the simulation")] = 0,
    as_json: AsJson = False,
) -> None:
    """Log simulated sessions under one configuration and estimate others from the log,
    next to the simulator's true values (no database needed)."""
    result = simulate_evaluation(
        logging=config_named(logging), targets=[config_named(t) for t in target],
        sessions=sessions, exploration=exploration, size=size, browsing=browsing,
        weights=_weights(like, save, skip, diversity, novelty, on_saves), requests=requests,
        samples=samples, truth_sessions=truth_sessions, rounds=rounds, seed=seed)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=1, default=_plain))
        return
    typer.echo(_simulation_text(result))


def experiments_promote(
    config: Annotated[str, typer.Argument(
        help=f"{NAMES}, or by-intent (the router picks by the prompt's intent)")],
    reason: Annotated[str, typer.Option(help="why (kept with the promotion and audited)")],
) -> None:
    """Make a ranker configuration the Preview's default."""
    name = BY_INTENT if config in ("by-intent", BY_INTENT) else config
    promoted = promote_config(engine=common.engine(), name=name, actor=common.operator(),
                              reason=reason)
    typer.echo(f"the preview now uses {promoted.label} by default (promotion "
               f"#{promoted.id} by {promoted.promoted_by_name})")


def experiments_promotions(as_json: AsJson = False) -> None:
    """The configurations promoted for the Preview, newest first."""
    history = promotion_history(engine=common.engine(), actor=common.operator())
    if as_json:
        typer.echo(json.dumps([{"id": p.id, "config": p.label, "reason": p.reason,
                                "promoted_by": p.promoted_by_name,
                                "promoted_at": p.promoted_at.isoformat()} for p in history],
                              indent=1))
        return
    if not history:
        typer.echo(f"nothing promoted: the preview picks {BY_INTENT}")
        return
    for p in history:
        typer.echo(f"#{p.id}\t{p.promoted_at:%Y-%m-%d %H:%M}\t{p.label}\t{p.promoted_by_name}\t"
                   f"{p.reason}")


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else str(value)


def register(app: typer.Typer) -> None:
    experiments_app = typer.Typer(
        help="Evaluate ranker configurations offline (impression log, simulation) and promote "
             "one for the Preview.", no_args_is_help=True)
    experiments_app.command("evaluate")(common.friendly(experiments_evaluate))
    experiments_app.command("simulate")(common.friendly(experiments_simulate))
    experiments_app.command("promote")(common.friendly(experiments_promote))
    experiments_app.command("promotions")(common.friendly(experiments_promotions))
    app.add_typer(experiments_app, name="experiments")
