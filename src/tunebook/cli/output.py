"""Output for the CLI: Rich for people, one JSON document for machines, and clean errors.

Every command calls ``emit(data, as_json, render)``: with ``--json`` it prints ``data`` as JSON;
otherwise ``render(console, data)`` draws tables. Errors a user caused exit with code 2 and one
line (``{"error": ...}`` with ``--json``), never a traceback.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from tunebook.core.errors import TunebookError
from tunebook.core.jsonable import to_jsonable

if TYPE_CHECKING:
    from tunebook.project import Project

console = Console()
err_console = Console(stderr=True)

JsonOption = typer.Option(False, "--json", help="Print one JSON document instead of tables.")
StoreOption = typer.Option(None, "--store", envvar="TUNEBOOK_STORE",
                           help="Store URL (sqlite:///path or postgresql://...); "
                                "default .tunebook/store.db in the project folder.")
ProjectOption = typer.Option("tunebook.yaml", "--project", "-p", help="The project file.")


def project_handle(path: str, store: str | None) -> Project:
    """The library's handle on ``--project`` and ``--store``: what every command calls."""
    from tunebook.project import open_project

    return open_project(path, store)


# Where the one JSON document goes. With --json, run_app points sys.stdout at stderr while the
# command works, so whatever the user's train() prints cannot corrupt the document.
_out: Any = None


def out() -> Any:
    return _out if _out is not None else sys.stdout


def emit(data: Any, as_json: bool, render: Callable[[Console, Any], None] | None = None) -> None:
    if as_json or render is None:
        out().write(json.dumps(to_jsonable(data), indent=2) + "\n")
    else:
        render(console, data)


def fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        if not math.isfinite(x):
            return str(x)
        return f"{x:.{digits}g}"
    return str(x)


def run_app(app: typer.Typer) -> int:
    """Run the Typer app; turn tunebook errors into a clean message and exit code 2."""
    global _out
    as_json = "--json" in sys.argv
    real_stdout = sys.stdout
    if as_json:
        _out, sys.stdout = real_stdout, sys.stderr
    try:
        app(standalone_mode=False)
    except TunebookError as exc:
        if as_json:
            out().write(json.dumps({"error": str(exc), "type": type(exc).__name__}) + "\n")
        else:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        return 2
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("aborted")
        return 130
    except Exception as exc:  # click usage errors come here with standalone_mode=False
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        raise
    finally:
        sys.stdout, _out = real_stdout, None
    return 0
