"""Output for the CLI: Rich for people, one JSON document for machines, and clean errors.

Every command calls ``emit(data, as_json, render)``: with ``--json`` it prints ``data`` as JSON;
otherwise ``render(console, data)`` draws tables. Errors a user caused exit with code 2 and one
line (``{"error": ...}`` with ``--json``), never a traceback.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, cast

import typer
from rich.console import Console

from tunebook.core.errors import TunebookError, WorkFailed
from tunebook.core.jsonable import to_jsonable
from tunebook.core.redact import redact_text

if TYPE_CHECKING:
    from tunebook.project import Project

# Text that came from outside (the store, a file, an argument) is shown to people through one
# rule, for_humans(): control characters (terminal escapes, bidi overrides) are dropped, and
# "[" and "\\" become stand-ins that Rich's markup parser ignores. The consoles' streams turn
# the stand-ins back into "[" and "\\" after Rich rendered, so the text reads exactly as written
# (even inside a repr() of a dict) while our own tags still style it. --json never sees any of it.
_OPEN, _BACKSLASH = "\u2045", "\u29f5"
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_UNMASK = str.maketrans({_OPEN: "[", _BACKSLASH: "\\"})


def for_humans(text: str) -> str:
    """``text`` made safe for a Rich console: no control characters, no live markup."""
    return _CONTROL.sub("", str(text)).replace("\\", _BACKSLASH).replace("[", _OPEN)


def _humane(data: Any) -> Any:
    if isinstance(data, str):
        return for_humans(data)
    if isinstance(data, dict):
        return {(for_humans(k) if isinstance(k, str) else k): _humane(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_humane(v) for v in data]
    if isinstance(data, tuple):
        return tuple(_humane(v) for v in data)
    return data


class _Stream:
    """The current sys.stdout (or stderr), with for_humans()' stand-ins turned back."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr

    def _real(self) -> Any:
        return sys.stderr if self._stderr else sys.stdout

    def write(self, text: str) -> int:
        return int(self._real().write(text.translate(_UNMASK)) or 0)

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, flush, encoding ...
        return getattr(self._real(), name)


console = Console(file=cast(IO[str], _Stream(stderr=False)))
err_console = Console(file=cast(IO[str], _Stream(stderr=True)))

JsonOption = typer.Option(False, "--json", help="Print one JSON document instead of tables.")
StoreOption = typer.Option(None, "--store", envvar="TUNEBOOK_STORE",
                           help="Store URL (sqlite:///path or postgresql://...); "
                                "default .tunebook/store.db in the project folder.")
ProjectOption = typer.Option("tunebook.yaml", "--project", "-p", help="The project file.")
TrialTimeoutOption = typer.Option(
    None, "--trial-timeout", help="Fail a trial that runs longer than this many seconds "
    "(overrides trial_timeout_s in the round and project).")
NoProgressTimeoutOption = typer.Option(
    None, "--no-progress-timeout", help="Fail a trial that goes this many seconds without a "
    "run.log (overrides no_progress_timeout_s).")
ThreadsOption = typer.Option(None, "--threads", help="CPU threads per trial (default: "
                             "$OMP_NUM_THREADS, else cores / trials running at once).")


def use_threads(threads: int | None) -> None:
    """``--threads``: the rule in ``tunebook.workers.threads`` then uses it for every trial."""
    from tunebook.workers.threads import request

    request(threads)


def project_handle(path: str, store: str | None) -> Project:
    """The library's handle on ``--project`` and ``--store``: what every command calls."""
    from tunebook.project import open_project

    return open_project(path, store)


# Where the one JSON document goes. With --json, run_app points sys.stdout at stderr while the
# command works, so whatever the user's train() prints cannot corrupt the document.
_out: Any = None
_emitted = False  # whether this command already printed its document


def out() -> Any:
    return _out if _out is not None else sys.stdout


def emit(data: Any, as_json: bool, render: Callable[[Console, Any], None] | None = None) -> None:
    """Print ``data``: one JSON document (exactly the data), or ``render``'s tables for people.

    People get the data through :func:`for_humans` first, so text from the store (a round's
    question, a trial's error) is shown as written and never read as Rich markup or terminal
    control sequences.
    """
    global _emitted
    _emitted = True
    if as_json or render is None:
        out().write(json.dumps(to_jsonable(data), indent=2) + "\n")
    else:
        render(console, _humane(data))


def check_trials(counts: dict[str, int], round_name: str) -> None:
    """After the answer went out: exit 1 with one line when a trial failed or some were left
    unfinished. Diverged, pruned and infeasible trials are results, not failures."""
    failed = counts.get("failed", 0)
    left = counts.get("queued", 0) + counts.get("running", 0)
    if failed:
        raise WorkFailed(f"{failed} of {sum(counts.values())} trials of round {round_name} "
                         f"failed; see: tunebook trials {round_name} --status failed")
    if left:
        raise WorkFailed(f"round {round_name} has {left} trials left unfinished; "
                         f"run: tunebook round run {round_name}")


def fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        if not math.isfinite(x):
            return str(x)
        return f"{x:.{digits}g}"
    return str(x)


def _usage_errors() -> tuple[type[BaseException], ...]:
    """Click's exception classes as this typer raises them.

    Recent typer bundles its own copy of click (``typer._click``) whose errors derive from
    ``typer.exceptions.TyperException``, not ``click.ClickException``; older typer raises
    click's own. Matching only one of them turned every usage error into a traceback.
    """
    kinds: list[type[BaseException]] = []
    bundled = getattr(getattr(typer, "exceptions", None), "TyperException", None)
    if isinstance(bundled, type):
        kinds.append(bundled)
    try:
        import click

        kinds.append(click.ClickException)
    except ImportError:  # pragma: no cover - typer without click installed
        pass
    return tuple(kinds)


def _usage_message(exc: BaseException) -> str:
    """One line: click's message, and where to read the command's usage."""
    msg = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None)
    first = " ".join(str(msg).split())
    return f"{first} (see '{path} --help')" if path else first


def _fail(message: str, kind: str, code: int, as_json: bool) -> int:
    """Report one error line (credentials redacted) and return the exit code."""
    text = redact_text(message)
    if as_json and not _emitted:
        out().write(json.dumps({"error": text, "type": kind}) + "\n")
    else:  # with --json after the document went out, the line goes to stderr only
        err_console.print(f"[bold red]error:[/] {for_humans(text)}", highlight=False,
                          soft_wrap=True)  # one line, however narrow the terminal
    return code


def run_app(app: typer.Typer) -> int:
    """Run the Typer app and return the exit code: 0 success, 1 the work failed, 2 a usage or
    spec error (one line, never a traceback), 128+N after signal N (130 Ctrl-C, 143 SIGTERM)."""
    global _out, _emitted
    as_json = "--json" in sys.argv
    real_stdout = sys.stdout
    _emitted = False
    if as_json:
        _out, sys.stdout = real_stdout, sys.stderr
    try:
        rv = app(standalone_mode=False, prog_name="tunebook")
    except TunebookError as exc:
        return _fail(str(exc), type(exc).__name__, exc.exit_code, as_json)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("interrupted")
        return 130
    except Exception as exc:
        if isinstance(exc, _usage_errors()):
            if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: show its help
                err_console.print(for_humans(str(exc.format_message())),  # type: ignore[attr-defined]
                                  highlight=False)
                return 2
            return _fail(_usage_message(exc), "UsageError", 2, as_json)
        # Not a mistake tunebook recognised: the traceback helps whoever fixes it, but never
        # with a password in it; --json still gets its one document.
        import traceback

        sys.stderr.write(redact_text("".join(traceback.format_exception(exc))))
        if as_json and not _emitted:
            first = (str(exc).strip().splitlines() or [""])[0]
            return _fail(f"internal error: {type(exc).__name__}: {first}", type(exc).__name__,
                         1, as_json)
        return 1
    finally:
        sys.stdout, _out = real_stdout, None
    if isinstance(rv, int) and not isinstance(rv, bool):  # typer.Exit(code) and Ctrl-C (130)
        if rv == 130:
            err_console.print("interrupted")
        return rv
    return 0
