"""Model registry commands: list, promote, roll back."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from app.cli import common
from labeling.lifecycle import registry


def models_list(task: Annotated[str, typer.Option(help="the task")]) -> None:
    """The task's model versions, with their metrics and which one serves."""
    versions = registry.list_versions(engine=common.engine(), task_name=task)
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


def models_promote(
    task: Annotated[str, typer.Option(help="the task")],
    version: Annotated[int | None, typer.Option(help="version (default: the newest)")] = None,
    force: Annotated[bool, typer.Option(help="promote despite the macro-F1 gate")] = False,
    reason: Annotated[str | None, typer.Option(help="why (needed with --force)")] = None,
) -> None:
    """Serve a version (refused if its macro-F1 is over 1 point below the serving one's)."""
    served = registry.promote(engine=common.engine(), task_name=task, version=version,
                              actor=getpass.getuser(), force=force, reason=reason)
    typer.echo(f"{task}: v{served} serves")


def models_rollback(
    task: Annotated[str, typer.Option(help="the task")],
    version: Annotated[int, typer.Option(help="the earlier version to serve again")],
) -> None:
    """Serve an earlier version again."""
    served = registry.rollback(engine=common.engine(), task_name=task, version=version,
                               actor=getpass.getuser())
    typer.echo(f"{task}: rolled back; v{served} serves")


def register(app: typer.Typer) -> None:
    models_app = typer.Typer(help="List, promote and roll back model versions.",
                             no_args_is_help=True)
    models_app.command("list")(common.friendly(models_list))
    models_app.command("promote")(common.friendly(models_promote))
    models_app.command("rollback")(common.friendly(models_rollback))
    app.add_typer(models_app, name="models")
