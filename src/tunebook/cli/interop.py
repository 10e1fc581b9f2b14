"""Working with what teams already have: store upgrades, export to and import from peers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from tunebook.cli.output import JsonOption, ProjectOption, StoreOption, emit

store_app = typer.Typer(help="The study store itself: upgrades of its tables.",
                        no_args_is_help=True)


def _render_upgrade(console: Console, d: dict[str, Any]) -> None:
    if d["before"] is None:
        console.print(f"created a new store at schema revision {d['after']}: {d['store']}")
    elif not d["applied"]:
        console.print(f"store is already at schema revision {d['after']}: {d['store']}")
    else:
        console.print(f"upgraded {d['store']} from {d['before']} to {d['after']} "
                      f"(ran {', '.join(d['applied'])})")


@store_app.command("upgrade")
def upgrade(project: str = ProjectOption, store: str = StoreOption,
            as_json: bool = JsonOption) -> None:
    """Upgrade the store's tables to this tunebook's schema (back the store up first)."""
    import os
    from dataclasses import asdict

    from tunebook.store.migrations import upgrade as run_upgrade

    url = store or os.environ.get("TUNEBOOK_STORE") or (
        Path(project).resolve().parent / ".tunebook" / "store.db")
    emit(asdict(run_upgrade(url)), as_json, _render_upgrade)


def render_export(console: Console, d: Any) -> None:
    console.print(f"exported {d.trials} trials of round {d.round} to {d.to}: {d.name} "
                  f"in {d.where}")
    for line in d.skipped:
        console.print(f"  skipped {line}")


def _render_import(console: Console, d: Any) -> None:
    roles = ", ".join(f"{k} ({r})" for k, r in d.roles.items())
    console.print(f"imported {d.trials} trials from {d.source} as round {d.round}: {roles}")
    for line in d.skipped:
        console.print(f"  skipped {line}")
    console.print(f"next: tunebook analyze {d.round}")


import_app = typer.Typer(help="Bring another tool's trials in as a round.",
                         no_args_is_help=True)
TargetOption = typer.Option([], "--target", help="A target hyperparameter (repeatable).")
NuisanceOption = typer.Option([], "--nuisance", help="A nuisance hyperparameter (repeatable; "
                              "the default role of any hyperparameter not named).")
FixedOption = typer.Option([], "--fixed", help="A fixed hyperparameter (repeatable).")
RoundOption = typer.Option(..., "--round", help="The name of the new round.")


@import_app.command("optuna")
def import_optuna(storage: str = typer.Argument(..., help="The Optuna storage URL."),
                  study: str = typer.Option(..., "--study", help="The study to import."),
                  round_name: str = RoundOption, target: list[str] = TargetOption,
                  nuisance: list[str] = NuisanceOption, fixed: list[str] = FixedOption,
                  metric: str = typer.Option(None, "--metric", help="What the study's values "
                                             "measure, e.g. dev/accuracy (default: the "
                                             "project's score)."),
                  project: str = ProjectOption, store: str = StoreOption,
                  as_json: bool = JsonOption) -> None:
    """Import an Optuna study's finished trials, curves from its intermediate values."""
    from tunebook.cli.output import project_at, store_at
    from tunebook.interop.importer import Roles
    from tunebook.interop.optuna_study import import_optuna as run

    spec, pdir = project_at(project)
    done = run(store_at(store, pdir), spec, storage, study, round_name,
               Roles(tuple(target), tuple(nuisance), tuple(fixed)), metric)
    emit(done, as_json, _render_import)


@import_app.command("csv")
def import_csv(file: Path = typer.Argument(..., help="A run table exported by MLflow or W&B."),
               round_name: str = RoundOption, target: list[str] = TargetOption,
               nuisance: list[str] = NuisanceOption, fixed: list[str] = FixedOption,
               project: str = ProjectOption, store: str = StoreOption,
               as_json: bool = JsonOption) -> None:
    """Import a run table (MLflow: params.x / metrics.y columns; W&B: config.x / summary.y)."""
    from tunebook.cli.output import project_at, store_at
    from tunebook.interop.importer import Roles
    from tunebook.interop.run_table import import_table

    spec, pdir = project_at(project)
    done = import_table(store_at(store, pdir), spec, file, round_name,
                        Roles(tuple(target), tuple(nuisance), tuple(fixed)))
    emit(done, as_json, _render_import)


def register(app: typer.Typer) -> None:
    app.add_typer(store_app, name="store")
    app.add_typer(import_app, name="import")
