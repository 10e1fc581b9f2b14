"""The runbook as Model Context Protocol tools: ``tunebook mcp --project DIR`` (stdio).

An agent asked to "help optimize a DL project" (checklist section 7) calls these tools in
runbook order: ``advise_task`` (steps 1-3) and ``run_baseline``; ``project_status`` and
``checklist`` at any time; ``propose_round`` (steps 4-7) and ``run_round``; ``analyze``,
``diagnose`` and ``error_sample`` (step 8); ``promote`` and ``propose_round`` again (step 9);
``report`` writes the HTML report and ``note`` records a human answer to a checklist item.

Each tool's structured answer has the published output schema of :mod:`tunebook.tools.schemas`,
the same object the CLI prints with ``--json``. Wrong arguments and tunebook errors come back
as MCP error results; the server keeps running. The MCP messages own the real stdout: anything
else that writes to stdout (the user's ``train()``, worker processes) is sent to stderr.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunebook.core.errors import MissingExtraError, TunebookError
from tunebook.tools import agent
from tunebook.tools.schemas import SCHEMAS

if TYPE_CHECKING:
    from pydantic import BaseModel

    AnalyzeOut = BaseModel
    BaselineOut = BaseModel
    ChecklistOut = BaseModel
    DiagnoseOut = BaseModel
    ErrorsOut = BaseModel
    NoteOut = BaseModel
    ProjectAdviceOut = BaseModel
    PromoteOut = BaseModel
    ReportOut = BaseModel
    StatusOut = BaseModel
    TaskAdviceOut = BaseModel
    TrialsOut = BaseModel
else:  # the real models, so the tools publish their output schemas
    AnalyzeOut = SCHEMAS["analyze"]
    BaselineOut = SCHEMAS["baseline"]
    ChecklistOut = SCHEMAS["checklist"]
    DiagnoseOut = SCHEMAS["diagnose"]
    ErrorsOut = SCHEMAS["error_sample"]
    NoteOut = SCHEMAS["note"]
    ProjectAdviceOut = SCHEMAS["propose_round"]
    PromoteOut = SCHEMAS["promote"]
    ReportOut = SCHEMAS["report"]
    StatusOut = SCHEMAS["project_status"]
    TaskAdviceOut = SCHEMAS["advise_task"]
    TrialsOut = SCHEMAS["run_round"]

INSTRUCTIONS = """tunebook: the deep-learning tuning runbook (checklist section 7) as tools.
1-3: advise_task(description) proposes metrics, score, splits and a baseline; run_baseline.
Any time: project_status, checklist (every item with evidence and next step).
4-7: propose_round(write=...) names the bottleneck and writes the next round file; run_round.
8: analyze(round), diagnose(round), error_sample(round).
9: promote(round), then propose_round again. report writes the HTML report.
Every answer is JSON with a published output schema."""


def _sdk() -> tuple[Any, type[Exception]]:
    """The server class and the error type whose message reaches the client (mcp 2.x or 1.x)."""
    try:
        from mcp.server.mcpserver import MCPServer
        from mcp.server.mcpserver.exceptions import ToolError

        return MCPServer, ToolError
    except ImportError:
        pass
    try:
        from mcp.server.fastmcp import FastMCP  # type: ignore[attr-defined]
        from mcp.server.fastmcp.exceptions import ToolError as ToolError1

        return FastMCP, ToolError1
    except ImportError:
        raise MissingExtraError("mcp", "mcp") from None


def build_server(project: str | Path, store: str | None = None,
                 allow: Sequence[str | Path] = ()) -> Any:
    """The MCP server with one tool per runbook step, bound to one project.

    Every path a tool receives must resolve inside the project folder or an ``allow``-ed one.
    """
    session = agent.Session(project, store, allow)
    server_class, tool_error = _sdk()
    server = server_class("tunebook", instructions=INSTRUCTIONS, log_level="WARNING")

    def call(name: str, fn: Callable[[], dict[str, Any]]) -> Any:
        # Python-level prints of train() must not reach the MCP messages on stdout.
        with contextlib.redirect_stdout(sys.stderr):
            try:
                return SCHEMAS[name].model_validate(fn())
            except TunebookError as exc:  # the user's mistake: the client reads why
                raise tool_error(f"{type(exc).__name__}: {exc}") from None

    def tool(fn: Callable[..., Any]) -> None:
        server.add_tool(fn, name=fn.__name__, description=(fn.__doc__ or "").strip(),
                        structured_output=True)

    def project_status() -> StatusOut:
        """Where the project stands: task, rounds with their best trial, baseline, checklist
        counts and the next steps."""
        return call("project_status", lambda: agent.status(session))

    def checklist() -> ChecklistOut:
        """Every checklist item (sections 0-7) with its status derived from evidence: done
        (with the trial, round, number or file that shows it), not_done (with the next step),
        not_applicable."""
        return call("checklist", lambda: agent.checklist(session))

    def note(item: str, text: str) -> NoteOut:
        """Record a human answer to a checklist item (e.g. 1.2.deployment); a text starting
        'n/a' marks the item not applicable."""
        return call("note", lambda: agent.note(session, item, text))

    def advise_task(description: str) -> TaskAdviceOut:
        """Runbook steps 1-3: from a task description (YAML or text, or a path to one) propose
        metrics, score, splits, architecture, optimizer, batch size, schedule, steps and the
        transfer strategy, each with its rule; includes a draft tunebook.yaml."""
        return call("advise_task", lambda: agent.advise_task(description, session.roots))

    def run_baseline() -> BaselineOut:
        """Train the baseline config once and check it beats chance and trains stably."""
        return call("baseline", lambda: agent.baseline(session))

    def propose_round(write: str | None = None, overwrite: bool = False) -> ProjectAdviceOut:
        """Runbook steps 4-7 and 9: the current bottleneck (bias/variance/mismatch/stability/
        data), whether to promote, and the next round (question, roles, ranges, budget, first
        configs). With write=PATH the round file is written there (relative to the project
        folder), ready for run_round; an existing file is kept unless overwrite is true and
        it is a round file advise wrote. Paths outside the project folder are refused."""
        return call("propose_round", lambda: agent.propose_round(session, write, overwrite))

    def run_round(round: str, workers: int = 2, executor: str = "processes") -> TrialsOut:
        """Create a round from a round file (path ending .yaml) if new, or take a round by
        name, and run its trials to the end. Answers the trials, best first."""
        return call("run_round", lambda: agent.run_round(session, round, workers, executor))

    def analyze(round: str, top: int = 5) -> AnalyzeOut:
        """Runbook step 8: axis plots with the boundary check, isolation of the target,
        training curves of the top trials, and findings with actions."""
        return call("analyze", lambda: agent.analyze(session, round, top))

    def diagnose(round: str | None = None, trial: int | None = None) -> DiagnoseOut:
        """Runbook step 8: bias / variance / mismatch from train, train_dev, dev and test error
        of a trial (default: the round's best, else the current baseline)."""
        return call("diagnose", lambda: agent.diagnose(session, round, trial))

    def error_sample(round: str, trial: int | None = None, sample: int = 150,
                     seed: int = 0) -> ErrorsOut:
        """Runbook step 8: a seeded sample of dev errors of the round's best trial, ranked
        categories and likely label errors."""
        return call("error_sample", lambda: agent.error_sample(session, round, trial, sample,
                                                               seed))

    def promote(round: str, trial: int | None = None, seeds: int | None = None,
                workers: int = 2, executor: str = "processes") -> PromoteOut:
        """Runbook step 9: re-train the round's best config and the baseline over seeds and
        promote only a gain beyond seed noise; records the decision."""
        return call("promote", lambda: agent.promote(session, round, trial, seeds, workers,
                                                     executor))

    def report(round: str | None = None, out: str | None = None) -> ReportOut:
        """Write the self-contained HTML report of the project (or of one round)."""
        return call("report", lambda: agent.report(session, round, out))

    for fn in (project_status, checklist, note, advise_task, run_baseline, propose_round,
               run_round, analyze, diagnose, error_sample, promote, report):
        tool(fn)
    return server


def serve(project: str | Path, store: str | None = None,
          allow: Sequence[str | Path] = ()) -> None:
    """Run the server over stdio until the client closes it."""
    server = build_server(project, store, allow)
    # Keep the MCP messages on a private copy of stdout and point fd 1 at stderr, so worker
    # processes and anything else writing to fd 1 cannot corrupt the protocol stream.
    wire = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = os.fdopen(wire, "w", encoding="utf-8", closefd=True)
    server.run("stdio")
