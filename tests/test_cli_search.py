"""``tunebook searchers``: the registry as a table and as JSON."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tunebook.cli import app


def test_searchers_json_lists_the_registry_with_the_default() -> None:
    result = CliRunner().invoke(app, ["searchers", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert {"quasi_random", "random", "bayesian", "explore_exploit"} <= set(rows)
    assert rows["explore_exploit"]["default"] is True
    assert rows["bayesian"]["adaptive"] is True and rows["quasi_random"]["adaptive"] is False


def test_searchers_table_marks_the_default() -> None:
    result = CliRunner().invoke(app, ["searchers"])
    assert result.exit_code == 0, result.output
    assert "explore_exploit (default)" in result.output
