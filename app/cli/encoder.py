"""``workbench encoder build``: build an encoder's model file now instead of on first use."""

from __future__ import annotations

import time

import numpy as np
import typer

from app.cli import common

PROBE = "chill morning playlist for coding"


def build(encoder: common.EncoderOption = None) -> None:
    """Load (and for minilm-onnx-int8 build) the configured encoder, then time one prompt.

    Run it at install so the first routed prompt does not pay for the build."""
    chosen = common.encoder(encoder)
    start = time.perf_counter()
    chosen.encode([PROBE])
    loaded = time.perf_counter() - start
    timings = []
    for _ in range(20):
        start = time.perf_counter()
        chosen.encode([PROBE])
        timings.append((time.perf_counter() - start) * 1000)
    model_file = getattr(chosen, "model_file", None)
    where = f" ({model_file}, {model_file.stat().st_size / 2**20:.1f} MiB)" if model_file else ""
    typer.echo(f"{chosen.name}{where}: ready in {loaded:.1f} s; one prompt "
               f"{np.median(timings):.1f} ms (median of 20)")


def register(app: typer.Typer) -> None:
    encoder_app = typer.Typer(help="The text encoder: build it ahead of first use.",
                              no_args_is_help=True)
    encoder_app.command("build")(common.friendly(build))
    app.add_typer(encoder_app, name="encoder")
