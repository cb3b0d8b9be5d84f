"""The ``workbench`` command line: init, tasks, import, export, accounts, serve.

Every command turns the services' typed errors into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import functools
import getpass
import os
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from tqdm import tqdm

from labeling import accounts as account_service
from labeling import exporting, importing
from labeling import tasks as task_service
from labeling.embeddings import Encoder, make_encoder
from labeling.exceptions import LabelingError
from storage.db import DatabaseError, check_schema, make_engine, migrate, session_scope
from storage.repositories import summary
from storage.repositories import tasks as task_repo
from storage.settings import Settings, SettingsError

app = typer.Typer(help="Prompt Workbench: label, measure and serve prompt classifiers.",
                  no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
task_app = typer.Typer(help="Create and list tasks.", no_args_is_help=True)
account_app = typer.Typer(help="Create and list accounts.", no_args_is_help=True)
app.add_typer(task_app, name="task")
app.add_typer(account_app, name="account")

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def friendly(func: F) -> F:
    """Turn our typed errors into one clear line on stderr and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (LabelingError, DatabaseError, SettingsError, ValueError) as exc:
            raise _fail(str(exc)) from None
        except ValidationError as exc:
            raise _fail(f"bad settings: {exc.errors()[0]['msg']}") from None

    return wrapper  # type: ignore[return-value]


def _settings() -> Settings:
    return Settings()


def _engine(*, migrated: bool = True) -> Engine:
    engine = make_engine(_settings().resolved_database_url)
    if migrated:
        check_schema(engine)
    return engine


def _encoder(name: str | None) -> Encoder:
    return make_encoder(name or _settings().encoder)


def _progress(description: str) -> Callable[[int, int], None]:
    bar = tqdm(desc=description, unit="text", file=sys.stderr, disable=None)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return update


EncoderOption = Annotated[
    str | None, typer.Option("--encoder", help="minilm or hashing (default: WORKBENCH_ENCODER)")
]


@app.command()
@friendly
def init(
    demo: Annotated[bool, typer.Option("--demo", help="Add the demo project if empty.")] = False,
    encoder: EncoderOption = None,
) -> None:
    """Create or migrate the database; with --demo, fill an empty one with the demo project."""
    engine = _engine(migrated=False)
    migrate(engine)
    typer.echo(f"database ready: {engine.url.render_as_string(hide_password=True)}")
    if not demo:
        return
    with session_scope(engine) as session:
        has_tasks = bool(task_repo.list_tasks(session=session))
    if has_tasks:
        typer.echo("demo: the database has tasks already; left as it is")
        return
    from app.demo import seed_demo  # loads the demo content only when asked

    counts = seed_demo(engine=engine, encoder=_encoder(encoder), progress=_progress("embedding"))
    typer.echo("demo: " + ", ".join(f"{k}={v}" for k, v in counts.items()))


@task_app.command("create")
@friendly
def task_create(
    name: str,
    kind: Annotated[str, typer.Option(help="intent or safety")],
    labels: Annotated[str, typer.Option(help="a,b,c or a file (one label a line, or JSON)")],
    oos_label: Annotated[str | None, typer.Option(help="the out-of-scope label (intent)")] = None,
    guideline: Annotated[Path | None, typer.Option(help="a Markdown file")] = None,
    ordered: Annotated[bool, typer.Option(help="the labels form an ordered scale")] = False,
) -> None:
    """Create a task with its label set (and first guideline version)."""
    label_list = task_service.parse_labels(labels)
    text = None
    if guideline is not None:
        if not guideline.is_file():
            raise LabelingError(f"guideline file not found: {guideline}")
        text = guideline.read_text(encoding="utf-8")
    with session_scope(_engine()) as session:
        task = task_service.create_task(
            session=session, name=name, kind=kind, labels=label_list, guideline=text,
            oos_label=oos_label, ordered=ordered, actor=getpass.getuser(),
        )
        typer.echo(f"created task {task.name} ({task.kind}) with {len(task.labels)} labels")


@task_app.command("list")
@friendly
def task_list() -> None:
    """List the tasks with their counts."""
    with session_scope(_engine()) as session:
        rows = summary.per_task(session=session)
    for row in rows:
        typer.echo("\t".join(f"{k}={v}" for k, v in row.items()))


@app.command("import")
@friendly
def import_(
    file: Path,
    task: Annotated[str, typer.Option(help="the task to import into")],
    text_col: Annotated[str, typer.Option(help="column with the prompt text")] = "text",
    label_col: Annotated[str | None, typer.Option(help="column with labels")] = None,
    user_col: Annotated[
        str | None, typer.Option(help="column with end-user ids (stored pseudonymised)")
    ] = None,
    add_labels: Annotated[bool, typer.Option(help="add unknown labels to the task")] = False,
    encoder: EncoderOption = None,
) -> None:
    """Import prompts (CSV, JSONL or Parquet), with labels if the file has them."""
    settings = _settings()
    result = importing.import_file(
        engine=_engine(), task_name=task, path=file, encoder=_encoder(encoder),
        text_col=text_col, label_col=label_col, user_col=user_col,
        pseudonym_key=settings.secret_key, allow_new_labels=add_labels,
        actor=getpass.getuser(), max_chars=settings.max_text_chars,
        progress=_progress("embedding"),
    )
    typer.echo(
        f"{file}: {result.rows} rows, {result.items_added} new items, "
        f"{result.labels_added} new labels, {result.vectors_added} new vectors"
        + (f"; labels added to the task: {', '.join(result.new_labels_in_set)}"
           if result.new_labels_in_set else "")
    )


@app.command()
@friendly
def export(
    task: Annotated[str, typer.Option(help="the task to export")],
    format: Annotated[str, typer.Option("--format", help="csv, jsonl or parquet")] = "jsonl",
    out: Annotated[Path | None, typer.Option(help="file to write (default: stdout)")] = None,
) -> None:
    """Export every label of a task with its provenance."""
    with session_scope(_engine()) as session:
        rows = exporting.label_rows(session=session, task_name=task)
    exporting.write_rows(rows, fmt=format, out=out)
    if out is not None:
        typer.echo(f"wrote {len(rows)} labels to {out}", err=True)


@account_app.command("create")
@friendly
def account_create(
    username: str,
    role: Annotated[str, typer.Option(help="rater, reviewer, lead or admin")],
    display_name: Annotated[str, typer.Option(help="name shown in the app")] = "",
    password_stdin: Annotated[bool, typer.Option(help="read the password from stdin")] = False,
) -> None:
    """Create an account (the password is asked for, or read from stdin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    with session_scope(_engine()) as session:
        account = account_service.create_account(
            session=session, username=username, password=password, role=role,
            display_name=display_name, actor=getpass.getuser(),
        )
    typer.echo(f"created account {account.username} ({account.role})")


@account_app.command("list")
@friendly
def account_list() -> None:
    """List the accounts."""
    with session_scope(_engine()) as session:
        for account in account_service.list_accounts(session=session):
            state = "" if account.active else "\t(disabled)"
            typer.echo(f"{account.username}\t{account.role}\t{account.display_name}{state}")


def streamlit_flags(config: Path) -> list[str]:
    """``streamlit_config.toml`` as ``--section.option=value`` flags for ``streamlit run``."""
    data = tomllib.loads(config.read_text(encoding="utf-8"))
    flags = []
    for section, options in data.items():
        for key, value in options.items():
            rendered = str(value).lower() if isinstance(value, bool) else str(value)
            flags.append(f"--{section}.{key}={rendered}")
    return flags


def _default_config() -> Path:
    local = Path("streamlit_config.toml")
    return local if local.is_file() else Path(__file__).resolve().parent.parent / local.name


@app.command()
@friendly
def serve(
    port: Annotated[int | None, typer.Option(help="port (default: from the config)")] = None,
    config: Annotated[Path | None, typer.Option(help="Streamlit settings file")] = None,
    demo: Annotated[bool, typer.Option(help="demo mode: list the demo accounts")] = False,
) -> None:
    """Start the workbench (Streamlit) with the settings in streamlit_config.toml."""
    _engine()  # refuse to start on a database that is not migrated
    config = config or _default_config()
    if not config.is_file():
        raise LabelingError(f"Streamlit settings not found: {config}")
    main = Path(__file__).resolve().parent / "main.py"
    command = [sys.executable, "-m", "streamlit", "run", str(main), *streamlit_flags(config)]
    if port is not None:
        command.append(f"--server.port={port}")
    env = dict(os.environ)
    if demo:
        env["WORKBENCH_DEMO"] = "1"
    raise typer.Exit(subprocess.call(command, env=env))


def main() -> None:
    app()
