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


def register(app: typer.Typer) -> None:
    app.add_typer(store_app, name="store")
