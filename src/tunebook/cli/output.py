"""Output for the CLI: Rich for people, one JSON document for machines, and clean errors.

Every command calls ``emit(data, as_json, render)``: with ``--json`` it prints ``data`` as JSON;
otherwise ``render(console, data)`` draws tables. Errors a user caused exit with code 2 and one
line (``{"error": ...}`` with ``--json``), never a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from tunebook.core.errors import TunebookError

console = Console()
err_console = Console(stderr=True)

JsonOption = typer.Option(False, "--json", help="Print one JSON document instead of tables.")
StoreOption = typer.Option(None, "--store", envvar="TUNEBOOK_STORE",
                           help="Store URL (sqlite:///path or postgresql://...); "
                                "default .tunebook/store.db in the project folder.")
ProjectOption = typer.Option("tunebook.yaml", "--project", "-p", help="The project file.")


def project_at(path: str) -> tuple[Any, Path]:
    """The project spec from ``--project`` and the folder it lives in."""
    from tunebook.core.spec import load_project

    p = Path(path)
    return load_project(p), p.resolve().parent


def store_at(url: str | None, project_dir: Path) -> Any:
    """The store from ``--store`` / ``$TUNEBOOK_STORE``, else the project's own."""
    from tunebook.store import open_store

    return open_store(url, project_dir)


def to_jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if hasattr(obj, "model_dump"):
        return to_jsonable(obj.model_dump(mode="json"))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return to_jsonable(obj.item())
    if hasattr(obj, "tolist") and callable(obj.tolist):  # numpy arrays
        return to_jsonable(obj.tolist())
    if obj is None or isinstance(obj, str | int | bool):
        return obj
    return str(obj)


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
        return int(getattr(exc, "exit_code", 2))
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
