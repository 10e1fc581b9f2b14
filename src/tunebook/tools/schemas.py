"""JSON schemas of what the runbook tools answer, shared by the MCP server and the CLI's --json.

Each tool (and the CLI command of the same step) answers one JSON object that validates against
the schema named here. tunebook's own results (checklist, advice, report, status, note) are
generated from their dataclasses, so the schema cannot drift from the code. The analysis
areas' results (analyze, diagnose, errors, promote, baseline, a round's trials) are described
by their stable keys and allow further keys, so those areas can add fields freely.

>>> sorted(SCHEMAS)[:3]
['advise_task', 'analyze', 'baseline']
>>> json_schema("checklist")["properties"]["counts"]["type"]
'object'
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, create_model

from tunebook.core.errors import SpecError
from tunebook.runbook.advise import ProjectAdvice, TaskAdvice
from tunebook.runbook.checklist import Checklist, Note
from tunebook.runbook.report import ReportResult


def model_of(dc: type[Any], name: str, doc: str) -> type[BaseModel]:
    """A pydantic model with the dataclass's fields (types resolved), extra keys allowed."""
    hints = typing.get_type_hints(dc)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(dc):
        if f.default is not dataclasses.MISSING:
            fields[f.name] = (hints[f.name], f.default)
        elif f.default_factory is not dataclasses.MISSING:
            fields[f.name] = (hints[f.name], f.default_factory())
        else:
            fields[f.name] = (hints[f.name], ...)
    model = create_model(name, __config__=ConfigDict(extra="allow"), __doc__=doc, **fields)
    return typing.cast(type[BaseModel], model)


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class FindingOut(_Open):
    """One conclusion of an analysis and the checklist's action."""

    code: str
    severity: str
    message: str
    action: str
    evidence: dict[str, Any] = {}


class RoundSummary(_Open):
    name: str
    kind: str
    question: str
    total: int
    finished: int
    counts: dict[str, int]
    best_trial: int | None = None
    best_score: float | None = None


class StatusOut(_Open):
    """Where the project stands: task, rounds, baseline, checklist counts, next steps."""

    project: str
    task: str
    goal: str
    success: str
    score: str
    store: str
    rounds: list[RoundSummary]
    baseline: dict[str, Any] | None
    checklist: dict[str, int]
    next_steps: list[str]


class BaselineOut(_Open):
    """`tunebook baseline --json`: the baseline trial's verdict."""

    trial_id: int
    status: str
    score: float | None
    best_step: int | None
    chance: dict[str, Any] | None
    stable: bool
    problems: list[str]
    ok: bool


class TrialRow(_Open):
    id: int
    status: str
    config: dict[str, Any]
    best_step: int | None
    score: float | None
    feasible: bool | None


class TrialsOut(_Open):
    """`tunebook round run --json` / `tunebook trials --json`: a round's trials, best first."""

    round: str
    question: str
    score_name: str
    goal: str
    columns: list[str]
    trials: list[TrialRow]
    best: dict[str, Any] | None
    counts: dict[str, int] = {}


class AnalyzeOut(_Open):
    """`tunebook analyze --json`: axes, isolation, curves, importance and findings."""

    round: str
    question: str
    value_name: str
    goal: str
    counts: dict[str, int]
    best_trial: int | None
    best_value: float | None
    findings: list[FindingOut]
    plots: dict[str, str] = {}


class DiagnoseOut(_Open):
    """`tunebook diagnose --json`: the error ladder and its largest gap."""

    trial_id: int | None
    metric: str
    rule: str
    target: float | None
    errors: dict[str, float | None]
    gaps: dict[str, float | None]
    largest: str | None
    findings: list[FindingOut]


class ErrorsOut(_Open):
    """`tunebook errors --json`: a seeded sample of dev errors, ranked categories, suspects."""

    trial_id: int | None
    n_examples: int
    n_errors: int
    dev_error: float | None
    sample_size: int
    sample: list[dict[str, Any]]
    categories: list[dict[str, Any]]
    suspects: list[dict[str, Any]]
    findings: list[FindingOut]


class PromoteOut(_Open):
    """`tunebook promote --json`: candidate vs baseline over seeds, and the verdict."""

    round: str
    source_round: str
    candidate_trial: int
    promoted: bool
    verdict: str
    changed: dict[str, Any]
    trials: dict[str, list[int]]
    test: dict[str, Any] | None
    decision_id: int | None
    findings: list[FindingOut]


SCHEMAS: dict[str, type[BaseModel]] = {
    "project_status": StatusOut,
    "checklist": model_of(Checklist, "ChecklistOut", "Every checklist item with its status, "
                          "evidence and next step (`tunebook checklist --json`)."),
    "note": model_of(Note, "NoteOut", "A recorded human answer (`tunebook note --json`)."),
    "advise_task": model_of(TaskAdvice, "TaskAdviceOut", "Runbook steps 1-3 from a task "
                            "description (`tunebook advise --task FILE --json`)."),
    "propose_round": model_of(ProjectAdvice, "ProjectAdviceOut", "Runbook steps 4-9: the "
                              "bottleneck and the next round (`tunebook advise --json`)."),
    "report": model_of(ReportResult, "ReportOut", "The written HTML report "
                       "(`tunebook report --json`)."),
    "baseline": BaselineOut,
    "run_round": TrialsOut,
    "analyze": AnalyzeOut,
    "diagnose": DiagnoseOut,
    "error_sample": ErrorsOut,
    "promote": PromoteOut,
}


def json_schema(name: str) -> dict[str, Any]:
    """The published JSON schema of one tool's answer."""
    if name not in SCHEMAS:
        raise SpecError("schema", f"one of {sorted(SCHEMAS)}", name)
    return SCHEMAS[name].model_json_schema()


def validated(name: str, data: Any) -> BaseModel:
    """``data`` as the tool's model (raises pydantic's ValidationError when it does not fit)."""
    return SCHEMAS[name].model_validate(data)
