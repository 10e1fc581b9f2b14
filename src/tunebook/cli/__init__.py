"""The ``tunebook`` command: a thin table of commands, each calling one library function.

Commands live in modules by area; each module defines ``register(app)``. Every command takes
``--json`` and then prints one JSON document (see ``tunebook.cli.output``).
"""

from __future__ import annotations

import sys

import typer

from tunebook.cli import (
    analysis,
    core,
    data,
    decide,
    interop,
    kit,
    rounds,
    runbook,
    search,
    serve,
    team,
)

app = typer.Typer(
    name="tunebook",
    help="Tune a deep-learning project the disciplined way: rounds, diagnosis, promotion.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# The areas of the CLI, each a module with ``register(app)``, in the order of ``--help``.
for _area in (core, rounds, kit, data, analysis, decide, search, team, runbook, serve, interop):
    _area.register(app)


def main() -> None:
    from tunebook.cli.output import run_app

    sys.exit(run_app(app))
