"""The runbook steps as plain functions over one project: what the agent tools and CLI call.

Each function answers one JSON object validated against its schema in
:mod:`tunebook.tools.schemas` (the same object ``--json`` prints), and raises a
:class:`~tunebook.core.errors.TunebookError` with a clear message on bad input. Steps of the
analysis areas (analyze, diagnose, errors, promote) call that area's library function and shape
the answer exactly as its CLI does.

>>> s = Session("tunebook.yaml")                        # doctest: +SKIP
>>> status(s)["next_steps"][:1]                          # doctest: +SKIP
['0.data_cleaning: tunebook data report ...']
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tunebook.core.errors import SpecError
from tunebook.core.jsonable import to_jsonable
from tunebook.core.spec import ProjectSpec, load_project
from tunebook.core.trial import TrialRecord
from tunebook.runbook.advise.roundfile import PROPOSED_MARK
from tunebook.runbook.evidence import Evidence
from tunebook.runbook.report import REPORT_MARK
from tunebook.store import Store, open_store, redact
from tunebook.store.files import allowed_roots, inside
from tunebook.tools.schemas import validated


class Session:
    """One project file and its store; the spec is re-read on every call (edits apply)."""

    def __init__(self, project_file: str | Path, store_url: str | None = None,
                 allow: Sequence[str | Path] = ()) -> None:
        p = Path(project_file)
        self.project_file = p / "tunebook.yaml" if p.is_dir() else p
        if not self.project_file.is_file():
            raise SpecError("--project", "a tunebook.yaml file (or its folder)", str(p))
        self.project_dir = self.project_file.resolve().parent
        self.store_url = store_url
        # Every path a tool or command receives must resolve inside one of these: the
        # project folder, then the folders the user allowed (``allow``, $TUNEBOOK_ALLOWED_ROOTS).
        self.roots = allowed_roots(self.project_dir, allow)

    @property
    def project(self) -> ProjectSpec:
        return load_project(self.project_file)

    @functools.cached_property
    def store(self) -> Store:
        return open_store(self.store_url, self.project_dir)

    def evidence(self) -> Evidence:
        return Evidence(self.project, self.project_dir, self.store)


def _out(name: str, data: Any) -> dict[str, Any]:
    """The answer as plain JSON, checked against the tool's published schema."""
    plain = to_jsonable(data)
    validated(name, plain)
    return dict(plain)


# --- steps 1-3 ---------------------------------------------------------------------------------


def status(s: Session) -> dict[str, Any]:
    """Project, rounds with their best trial, baseline, checklist counts and next steps."""
    from tunebook.rounds.lifecycle import progress
    from tunebook.runbook.checklist import evaluate

    ev = s.evidence()
    p = ev.project
    rounds = []
    for r in ev.rounds:
        pr = progress(s.store, r)
        best = ev.best_trial(r)
        rounds.append({"name": r.name, "kind": r.kind, "question": r.question,
                       "total": pr.total, "finished": pr.finished, "counts": pr.counts,
                       "best_trial": best.id if best else None,
                       "best_score": best.score if best else None})
    b = ev.baseline
    cl = evaluate(ev)
    return _out("project_status", {
        "project": p.name, "task": p.task.type, "goal": p.task.goal, "success": p.task.success,
        "score": p.score if isinstance(p.score, str) else p.score.formula,
        "store": redact(s.store.url), "rounds": rounds,
        "baseline": None if b is None else {"trial_id": b.trial_id, "config": b.config,
                                            "promoted": b.promoted},
        "checklist": cl.counts, "next_steps": cl.next_steps})


def checklist(s: Session) -> dict[str, Any]:
    from tunebook.runbook.checklist import evaluate

    return _out("checklist", evaluate(s.evidence()))


def note(s: Session, item: str, text: str) -> dict[str, Any]:
    from tunebook.runbook.checklist import record_note

    return _out("note", record_note(s.store, item, text))


# A description that names a file this way is a path, never text to parse.
_PATH_LIKE = re.compile(r"^(~|/|\.\.?/)|(^|/)\.\.(/|$)|\.(ya?ml|txt|md|json)$", re.IGNORECASE)


def advise_task(description: str, roots: Sequence[Path] | None = None) -> dict[str, Any]:
    """Steps 1-3 from a task description: a file path inside ``roots`` (default: the current
    folder), or the YAML/text itself. A path that leaves the roots is refused, never read."""
    from tunebook.runbook.advise import advise_task as advise
    from tunebook.runbook.advise import parse_task, read_task

    roots = tuple(roots) if roots else allowed_roots(Path.cwd())
    task = None
    if "\n" not in description and 0 < len(description) < 4096:
        try:
            path = inside(description, roots, "description")
        except SpecError:
            if _PATH_LIKE.search(description.strip()):
                raise
            path = None  # plain text that merely looks odd as a path
        if path is not None and path.is_file():
            task = read_task(path)
        elif path is not None and _PATH_LIKE.search(description.strip()):
            raise SpecError("description", "a task description, or a file inside "
                            f"{roots[0]}", description, "No such file.")
    if task is None:
        task = parse_task(description, "task description")
    return _out("advise_task", advise(task))


def baseline(s: Session) -> dict[str, Any]:
    from tunebook.experiments.baseline import run_baseline

    verdict = run_baseline(s.store, s.project, s.project_dir, show_progress=False)
    return _out("baseline", verdict.to_dict())


# --- steps 4-7 ---------------------------------------------------------------------------------


def propose_round(s: Session, write: str | None = None, overwrite: bool = False
                  ) -> dict[str, Any]:
    """Steps 4-7: the bottleneck, the next round (written to ``write`` if given)."""
    from tunebook.runbook.advise import advise_project

    target = None
    if write:
        target = inside(write, s.roots, "write")
        if target.suffix.lower() not in (".yaml", ".yml"):
            raise SpecError("write", "a round file path ending .yaml", write)
        if target == s.project_file.resolve():
            raise SpecError("write", "a round file, not the project file", write)
        if target.exists() and not overwrite:
            raise SpecError("write", "a path that does not exist yet", str(target),
                            "Pass overwrite (--force) to replace it.")
        if target.exists() and not _starts_with(target, PROPOSED_MARK):
            raise SpecError("write", "a new file or a round file tunebook advise wrote",
                            str(target), "It was not written by tunebook advise, so it is "
                            "kept; choose another name.")
    return _out("propose_round", advise_project(s.evidence(), target))


def _starts_with(path: Path, mark: str) -> bool:
    """Whether the file (read only up to the mark's length) starts with ``mark``."""
    try:
        with open(path, "rb") as fh:
            return fh.read(len(mark.encode())).decode("utf-8", "replace") == mark
    except OSError:
        return False


def run_round(s: Session, round: str, workers: int = 2, executor: str = "processes"
              ) -> dict[str, Any]:
    """Create the round from a round file (if ``round`` is one) and run it to the end."""
    from tunebook.core.spec import load_pipeline, load_round
    from tunebook.rounds.lifecycle import create_round
    from tunebook.runbook.export import trials_payload
    from tunebook.workers.execute import run_round as execute

    if workers < 1:
        raise SpecError("workers", "an int >= 1", workers)
    created = False
    if round.endswith((".yaml", ".yml")):
        path = inside(round, s.roots, "round")
        if not path.is_file():
            raise SpecError("round", "a round name or an existing round file", round)
        spec = load_round(path)
        load_pipeline(s.project, s.project_dir)
        names = {r.name for r in s.store.rounds()}
        if spec.name not in names:
            create_round(s.store, s.project, spec)
            created = True
        name = spec.name
    else:
        name = s.store.round(round).name  # NotFoundError names the known rounds
    counts = execute(s.store, name, s.project_dir, workers=workers, executor=executor,
                     show_progress=False)
    payload = trials_payload(s.store, s.store.round(name))
    payload.update(counts=counts, created=created)
    return _out("run_round", payload)


# --- steps 8-9 ---------------------------------------------------------------------------------


def analyze(s: Session, round: str, top: int = 5, plots: bool = True) -> dict[str, Any]:
    from tunebook.analysis.overview import analyze_round
    from tunebook.plots import draw_round

    result = analyze_round(s.store, s.store.round(round).name, top=top)
    drawn: dict[str, str] = {}
    if plots:
        drawn = draw_round(result, s.project_dir / ".tunebook" / "reports" / result.round)
    data = to_jsonable(result)
    data["plots"] = drawn
    return _out("analyze", data)


def _trial(s: Session, round: str | None, trial: int | None) -> TrialRecord:
    from tunebook.analysis.selection import pick_trial

    if round is not None:
        s.store.round(round)  # an unknown round fails with the known names
    return pick_trial(s.store, trial, round)


def diagnose(s: Session, round: str | None = None, trial: int | None = None
             ) -> dict[str, Any]:
    from tunebook.analysis.diagnose import diagnose_trial

    return _out("diagnose", diagnose_trial(s.store, s.project, _trial(s, round, trial)))


def error_sample(s: Session, round: str, trial: int | None = None, sample: int = 150,
                 seed: int = 0) -> dict[str, Any]:
    from tunebook.analysis.errors import errors_of_trial

    if sample < 1:
        raise SpecError("sample", "an int >= 1 (the checklist samples 100-200)", sample)
    t = _trial(s, round, trial)
    return _out("error_sample", errors_of_trial(s.store, s.project, s.project_dir, t,
                                                sample_size=sample, seed=seed))


def promote(s: Session, round: str, trial: int | None = None, seeds: int | None = None,
            workers: int = 2, executor: str = "processes") -> dict[str, Any]:
    from tunebook.analysis.promotion import promote as promote_round

    result = promote_round(s.store, s.project, s.project_dir, s.store.round(round).name,
                           trial_id=trial, seeds=seeds, workers=workers, executor=executor,
                           show_progress=False)
    return _out("promote", result)


def report(s: Session, round: str | None = None, out: str | None = None) -> dict[str, Any]:
    from tunebook.runbook.report import write_report

    target = None
    if out:
        target = inside(out, s.roots, "out")
        if target.suffix.lower() not in (".html", ".htm"):
            raise SpecError("out", "an HTML file path ending .html", out)
        if target.exists() and not _is_report(target):
            raise SpecError("out", "a new file or a report tunebook wrote", str(target),
                            "It is not a tunebook report, so it is kept; choose another name.")
    return _out("report", write_report(s.project, s.project_dir, s.store, round, target))


def _is_report(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(2048).decode("utf-8", "replace")
    except OSError:
        return False
    return REPORT_MARK in head


__all__ = ["Session", "advise_task", "analyze", "baseline", "checklist", "diagnose",
           "error_sample", "note", "promote", "propose_round", "report", "run_round", "status"]
