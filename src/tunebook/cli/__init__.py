"""The ``tunebook`` command: a thin table of commands, each calling one library function.

Commands live in modules by area; each module defines ``register(app)``. Every command takes
``--json`` and then prints one JSON document (see ``tunebook.cli.output``).
"""

from __future__ import annotations

import importlib
import sys

import typer

app = typer.Typer(
    name="tunebook",
    help="Tune a deep-learning project the disciplined way: rounds, diagnosis, promotion.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Areas of the CLI; a module not yet written is skipped so areas can land one at a time.
_AREAS = ("core", "rounds", "kit", "data", "analysis", "decide", "search", "team", "runbook",
          "serve", "interop")


def _load() -> None:
    for area in _AREAS:
        name = f"tunebook.cli.{area}"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(app)


_load()


def main() -> None:
    from tunebook.cli.output import run_app

    sys.exit(run_app(app))
