"""Catalogue commands: import a CSV of tracks through a column mapping; show the current one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.cli import common
from routing import tracks


def catalogue_import(
    file: Path,
    mapping: Annotated[Path, typer.Option(help="JSON column mapping (see routing/mappings/)")],
) -> None:
    """Replace the catalogue with a CSV of tracks (a new catalogue version)."""
    result = tracks.import_catalogue(engine=common.engine(), path=file, mapping_path=mapping,
                                     actor=common.operator())
    typer.echo(f"catalogue version {result.version}: {result.tracks:,} tracks from "
               f"{result.rows:,} rows ({result.duplicates:,} duplicate ids merged, "
               f"{result.skipped:,} incomplete rows skipped)")


def catalogue_show() -> None:
    """The catalogue the router serves from."""
    info = tracks.current_catalogue(engine=common.engine(), actor=common.operator())
    if info is None:
        typer.echo("no catalogue yet: `workbench init --demo` or `workbench catalogue import`")
        return
    typer.echo(f"catalogue version {info.version}: {info.n_tracks:,} tracks from {info.source}")


def register(app: typer.Typer) -> None:
    catalogue_app = typer.Typer(help="The track catalogue.", no_args_is_help=True)
    catalogue_app.command("import")(common.friendly(catalogue_import))
    catalogue_app.command("show")(common.friendly(catalogue_show))
    app.add_typer(catalogue_app, name="catalogue")
