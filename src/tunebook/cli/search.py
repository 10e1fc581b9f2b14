"""Search commands: ``tunebook searchers`` lists the algorithms a round may name."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from tunebook.cli.output import JsonOption, emit


def _render(console: Console, data: list[dict[str, Any]]) -> None:
    table = Table(title="searchers (round key: algorithm)")
    for col in ("name", "adaptive", "what it does"):
        table.add_column(col)
    for row in data:
        name = row["name"] + (" (default)" if row["default"] else "")
        table.add_row(name, "yes" if row["adaptive"] else "no", row["summary"])
    console.print(table)


def register(app: typer.Typer) -> None:
    @app.command()
    def searchers(as_json: bool = JsonOption) -> None:
        """List the search algorithms a round can use, the default marked."""
        from dataclasses import asdict

        from tunebook.search import searchers as listing

        emit([asdict(s) for s in listing()], as_json, _render)
