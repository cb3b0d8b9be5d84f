"""``workbench serve``: Streamlit with the settings in streamlit_config.toml."""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path
from typing import Annotated

import typer

from app.cli import common
from labeling.exceptions import LabelingError


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
    return local if local.is_file() else Path(__file__).resolve().parents[2] / local.name


def serve(
    port: Annotated[int | None, typer.Option(help="port (default: from the config)")] = None,
    config: Annotated[Path | None, typer.Option(help="Streamlit settings file")] = None,
    demo: Annotated[bool, typer.Option(help="demo mode: list the demo accounts")] = False,
) -> None:
    """Start the workbench (Streamlit) with the settings in streamlit_config.toml."""
    common.engine()  # refuse to start on a database that is not migrated
    config = config or _default_config()
    if not config.is_file():
        raise LabelingError(f"Streamlit settings not found: {config}")
    main = Path(__file__).resolve().parents[1] / "main.py"
    command = [sys.executable, "-m", "streamlit", "run", str(main), *streamlit_flags(config)]
    if port is not None:
        command.append(f"--server.port={port}")
    env = dict(os.environ)
    if demo:
        env["WORKBENCH_DEMO"] = "1"
    # Replace this process with Streamlit, so signals (Ctrl-C, a service manager's stop) reach it.
    os.execve(sys.executable, command, env)




def register(app: typer.Typer) -> None:
    app.command()(common.friendly(serve))
