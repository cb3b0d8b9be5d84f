"""The ``workbench`` command line: init, tasks, import, export, accounts, the loop, serve, route,
experiments.

Every command turns the services' typed errors into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import typer

from app.cli import (
    accounts,
    catalogue,
    data,
    encoder,
    experiments,
    loop,
    models,
    privacy,
    quality,
    route,
    safety,
    serve,
    training,
)

app = typer.Typer(help="Prompt Workbench: label, measure and serve prompt classifiers.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
task_app = typer.Typer(help="Create, list and configure tasks.", no_args_is_help=True)
account_app = typer.Typer(help="Create, list, disable and enable accounts; roles and passwords.",
                          no_args_is_help=True)
app.add_typer(task_app, name="task")
app.add_typer(account_app, name="account")

data.register(app, task_app)
loop.register(app, task_app)
quality.register(app)
models.register(app)
accounts.register(account_app)
serve.register(app)
safety.register(app)
catalogue.register(app)
training.register(app)
route.register(app)
encoder.register(app)
experiments.register(app)
privacy.register(app)


def main() -> None:
    app()
