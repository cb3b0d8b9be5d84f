"""Helpers shared by the CLI's commands: error handling, settings, engine, encoder, progress."""

from __future__ import annotations

import functools
import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.engine import Engine, make_url
from tqdm import tqdm

from labeling.exceptions import LabelingError
from labeling.ml.encoders import Encoder, make_encoder
from labeling.project.authz import Operator
from storage.db import DatabaseError, check_schema, make_engine
from storage.settings import Settings, SettingsError

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


def operator() -> Operator:
    """The person at the command line, who acts with the database's credentials: audited as
    ``cli:<user>``."""
    return Operator(f"cli:{getpass.getuser()}")


def settings() -> Settings:
    return Settings()


def engine(*, migrated: bool = True) -> Engine:
    """The configured database; by default refused unless it is migrated."""
    result = make_engine(settings().resolved_database_url)
    if migrated:
        check_schema(result)
    return result


def existing_engine() -> Engine | None:
    """The configured database if it exists and is migrated, else None; creates nothing (a
    missing SQLite file stays missing)."""
    url = settings().resolved_database_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
            and not Path(parsed.database).is_file():
        return None
    try:
        return engine()
    except DatabaseError:
        return None


def encoder(name: str | None) -> Encoder:
    return make_encoder(name or settings().encoder, cache_dir=settings().encoders_dir)


def progress(description: str) -> Callable[[int, int], None]:
    bar = tqdm(desc=description, unit="text", file=sys.stderr, disable=None)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return update


EncoderOption = Annotated[
    str | None, typer.Option(
        "--encoder", help="minilm, minilm-onnx-int8 or hashing (default: WORKBENCH_ENCODER)")
]
