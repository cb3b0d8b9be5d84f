"""Model registry commands: list, compare, promote, roll back."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated

import typer

from app.cli import common
from labeling.exceptions import LabelingError
from labeling.lifecycle import registry
from labeling.lifecycle.comparison import Comparison, compare_versions


def models_list(task: Annotated[str, typer.Option(help="the task")]) -> None:
    """The task's model versions, with their metrics and which one serves."""
    versions = registry.list_versions(engine=common.engine(), actor=common.operator(),
                                      task_name=task)
    if not versions:
        typer.echo(f"{task}: no model yet; train one with `workbench train --task {task}`")
        return
    typer.echo("version\tserving\ttrained_at\ttrained_by\tn_train\taccuracy\tmacro_f1\tece")
    for v in versions:
        m = v.metrics or {}

        def fmt(key: str, metrics: dict = m) -> str:
            value = metrics.get(key)
            return "-" if value is None else (f"{value:.4f}" if isinstance(value, float)
                                              else str(value))

        typer.echo(f"v{v.version}\t{'*' if v.serving else ''}\t{v.trained_at:%Y-%m-%d %H:%M}\t"
                   f"{v.trained_by or '-'}\t{fmt('n_train')}\t{fmt('accuracy')}\t"
                   f"{fmt('macro_f1')}\t{fmt('ece')}")


def _comparison_text(compared: Comparison) -> list[str]:
    lines = [f"compared on {compared.n_eval} held-out items ({compared.n_gold} gold; "
             f"{compared.n_excluded} left out as training items of a version)"]
    for version, metrics in compared.metrics.items():
        if metrics is None:
            lines.append(f"  v{version}: not scored")
            continue
        oos = metrics.get("oos") or {}
        figures = [f"accuracy {metrics['accuracy']:.4f}", f"macro_f1 {metrics['macro_f1']:.4f}",
                   f"ece {metrics['ece']:.4f}"]
        if oos.get("oos_recall") is not None:
            figures.append(f"oos_recall {oos['oos_recall']:.4f}")
        lines.append(f"  v{version}: " + ", ".join(figures))
    lines += [f"  {'pass' if c.passed else 'BLOCK'}\t{c.rule}\t{c.detail}"
              for c in compared.checks]
    lines += [f"  note: {n}" for n in compared.notes]
    return lines


def _as_json(compared: Comparison) -> str:
    data = dataclasses.asdict(compared)
    data["problem"] = compared.problem
    data["metrics"] = {f"v{k}": v for k, v in compared.metrics.items()}
    return json.dumps(data, indent=2)


def models_compare(
    task: Annotated[str, typer.Option(help="the task")],
    version: Annotated[int | None, typer.Option(help="version (default: the newest)")] = None,
    against: Annotated[int | None, typer.Option(
        help="the version to compare with (default: the serving one)")] = None,
    encoder: common.EncoderOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Score two versions on the same current evaluation split, with the promotion gate's
    verdict."""
    engine = common.engine()
    if version is None:
        versions = registry.list_versions(engine=engine, actor=common.operator(),
                                          task_name=task)
        if not versions:
            raise LabelingError(f"task {task!r} has no trained model yet")
        version = versions[-1].version
    compared = compare_versions(engine=engine, actor=common.operator(), task_name=task,
                                encoder=common.encoder(encoder),
                                candidate=version, baseline=against)
    if as_json:
        typer.echo(_as_json(compared))
        return
    typer.echo(f"{task}: v{compared.candidate} against " +
               (f"v{compared.baseline}" if compared.baseline else "nothing (no other version)"))
    for line in _comparison_text(compared):
        typer.echo(line)
    typer.echo(f"gate: {'blocks: ' + compared.problem if compared.problem else 'passes'}")


def models_promote(
    task: Annotated[str, typer.Option(help="the task")],
    version: Annotated[int | None, typer.Option(help="version (default: the newest)")] = None,
    force: Annotated[bool, typer.Option(help="promote despite the gate")] = False,
    reason: Annotated[str | None, typer.Option(help="why (needed with --force)")] = None,
    encoder: common.EncoderOption = None,
) -> None:
    """Serve a version, once it and the serving one are scored on the same current evaluation
    split and no rule of the gate blocks (macro-F1, a class's F1, ECE, out-of-scope recall)."""
    served = registry.promote(engine=common.engine(), task_name=task, version=version,
                              actor=common.operator(), encoder=common.encoder(encoder),
                              force=force, reason=reason)
    typer.echo(f"{task}: v{served} serves")


def models_rollback(
    task: Annotated[str, typer.Option(help="the task")],
    version: Annotated[int, typer.Option(help="the earlier version to serve again")],
) -> None:
    """Serve an earlier version again."""
    served = registry.rollback(engine=common.engine(), task_name=task, version=version,
                               actor=common.operator())
    typer.echo(f"{task}: rolled back; v{served} serves")


def register(app: typer.Typer) -> None:
    models_app = typer.Typer(help="List, compare, promote and roll back model versions.",
                             no_args_is_help=True)
    models_app.command("list")(common.friendly(models_list))
    models_app.command("compare")(common.friendly(models_compare))
    models_app.command("promote")(common.friendly(models_promote))
    models_app.command("rollback")(common.friendly(models_rollback))
    app.add_typer(models_app, name="models")
