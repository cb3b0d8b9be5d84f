"""Data commands: init, task create/list, import, export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.cli import common
from app.demo import seed_demo
from labeling.exceptions import LabelingError
from labeling.project import exporting, importing, overview
from labeling.project import tasks as task_service
from storage.db import migrate
from storage.secret_key import ensure_secret_file
from storage.settings import Settings


def init(
    demo: Annotated[bool, typer.Option("--demo", help="Add the demo project if empty.")] = False,
    encoder: common.EncoderOption = None,
) -> None:
    """Create or migrate the database and, unless WORKBENCH_SECRET_KEY is set, the
    installation's secret key (<data dir>/secret.key, owner-only, never replaced); with --demo,
    fill an empty database with the demo project and train its first intent and safety models
    (they serve at once)."""
    _secret_key(common.settings())
    engine = common.engine(migrated=False)
    migrate(engine)
    typer.echo(f"database ready: {engine.url.render_as_string(hide_password=True)}")
    if not demo:
        return
    if task_service.list_tasks(engine=engine, actor=common.operator()):
        typer.echo("demo: the database has tasks already; left as it is")
        return
    counts = seed_demo(engine=engine, encoder=common.encoder(encoder),
                       progress=common.progress("embedding"),
                       models_dir=common.settings().models_dir)
    typer.echo("demo: " + ", ".join(f"{k}={v}" for k, v in counts.items()))


def _secret_key(settings: Settings) -> None:
    if settings.secret_key:
        settings.require_secret_key()
        typer.echo("secret key: from WORKBENCH_SECRET_KEY")
        return
    path = settings.secret_key_file
    if ensure_secret_file(path):
        typer.echo(f"secret key: created {path} (owner-only; back it up with the database)")
    else:
        typer.echo(f"secret key: {path}")


def task_create(
    name: str,
    kind: Annotated[str, typer.Option(help="intent or safety")],
    labels: Annotated[str, typer.Option(help="a,b,c or a file (one label a line, or JSON)")],
    oos_label: Annotated[str | None, typer.Option(help="the out-of-scope label (intent)")] = None,
    guideline: Annotated[Path | None, typer.Option(help="a Markdown file")] = None,
    ordered: Annotated[bool, typer.Option(help="the labels form an ordered scale")] = False,
    safe_label: Annotated[str | None, typer.Option(
        help="safety: the label meaning safe (default: safe)")] = None,
    text_features: Annotated[bool | None, typer.Option(
        "--text-features/--no-text-features",
        help="train on character and word n-grams too (default: on for safety tasks)")] = None,
) -> None:
    """Create a task with its label set (and first guideline version)."""
    label_list = task_service.parse_labels(labels)
    text = None
    if guideline is not None:
        if not guideline.is_file():
            raise LabelingError(f"guideline file not found: {guideline}")
        text = guideline.read_text(encoding="utf-8")
    task = task_service.create_task(
        engine=common.engine(), name=name, kind=kind, labels=label_list, guideline=text,
        oos_label=oos_label, ordered=ordered, safe_label=safe_label,
        text_features=text_features, actor=common.operator(),
    )
    typer.echo(f"created task {task.name} ({task.kind}) with {len(task.labels)} labels")


def task_list() -> None:
    """List the tasks with their counts."""
    for row in overview.task_summaries(engine=common.engine(), actor=common.operator()):
        typer.echo("\t".join(f"{k}={v}" for k, v in row.items()))


def import_(
    file: Path,
    task: Annotated[str, typer.Option(help="the task to import into")],
    text_col: Annotated[str, typer.Option(help="column with the prompt text")] = "text",
    label_col: Annotated[str | None, typer.Option(help="column with labels")] = None,
    user_col: Annotated[
        str | None, typer.Option(help="column with end-user ids (stored pseudonymised)")
    ] = None,
    add_labels: Annotated[bool, typer.Option(help="add unknown labels to the task")] = False,
    gold: Annotated[bool, typer.Option(help="the labels are known answers (gold items)")] = False,
    encoder: common.EncoderOption = None,
) -> None:
    """Import prompts (CSV, JSONL or Parquet), with labels if the file has them."""
    settings = common.settings()
    result = importing.import_file(
        engine=common.engine(), task_name=task, path=file, encoder=common.encoder(encoder),
        text_col=text_col, label_col=label_col, user_col=user_col,
        pseudonym_key=settings.require_secret_key() if user_col else "",
        allow_new_labels=add_labels, gold=gold,
        actor=common.operator(), max_chars=settings.max_text_chars,
        progress=common.progress("embedding"),
    )
    typer.echo(
        f"{file}: {result.rows} rows, {result.items_added} new items, "
        + (f"{result.labels_added} gold answers set, " if gold
           else f"{result.labels_added} new labels, ")
        + f"{result.vectors_added} new vectors"
        + (f"; labels added to the task: {', '.join(result.new_labels_in_set)}"
           if result.new_labels_in_set else "")
        + (f"; personal data redacted in {result.redacted_rows} rows "
           f"({', '.join(result.redacted_types)})" if result.redacted_rows else "")
    )


def export(
    task: Annotated[str, typer.Option(help="the task to export")],
    format: Annotated[
        str, typer.Option("--format", help="csv, jsonl, parquet or label-studio")
    ] = "jsonl",
    out: Annotated[Path | None, typer.Option(help="file to write (default: stdout)")] = None,
) -> None:
    """Export every label of a task with its provenance."""
    written = exporting.export_task(engine=common.engine(), actor=common.operator(),
                                    task_name=task, fmt=format, out=out)
    if out is not None:
        typer.echo(f"wrote {written} labels to {out}", err=True)




def register(app: typer.Typer, task_app: typer.Typer) -> None:
    app.command()(common.friendly(init))
    task_app.command("create")(common.friendly(task_create))
    task_app.command("list")(common.friendly(task_list))
    app.command("import")(common.friendly(import_))
    app.command()(common.friendly(export))
