"""What the store, the spec and the other areas' analyses say about a project, read once.

The checklist, the HTML report, ``tunebook advise`` and the agent tools all look at the same
facts: rounds, trials, decisions, notes, and the readings of the analysis areas (round analysis,
diagnosis, error analysis). :class:`Evidence` reads each of them at most once per call and never
re-computes an analysis itself: when an area is not installed (or cannot say anything yet) the
reading is a :class:`Missing` that names the command producing it, so every view shows
"not available yet: run <command>" instead of a made-up answer.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunebook.core.errors import TunebookError
from tunebook.core.spec import ProjectSpec
from tunebook.core.trial import DecisionRecord, RoundRecord, TrialRecord
from tunebook.core.usage import TrainUsage, train_usage
from tunebook.experiments.baseline import current_baseline
from tunebook.store import Store

NOTE_KIND = "note"


class NotAvailable(TunebookError):
    """A step whose area has not landed (yet): the message names the command to run later."""


@dataclass(frozen=True)
class Missing:
    """A reading that is not there: why, and the command that would produce it.

    >>> Missing("the analysis area is not installed", "tunebook analyze width").message
    'not available yet: run tunebook analyze width (the analysis area is not installed)'
    """

    reason: str
    command: str
    pending: bool = True   # True: the feature is not installed yet; False: the data is missing

    @property
    def message(self) -> str:
        if self.pending:
            return f"not available yet: run {self.command} ({self.reason})"
        return f"{self.reason} (run {self.command})"


def find(module: str, name: str) -> Callable[..., Any] | None:
    """Another area's ``module.name``, or None while that area has not landed.

    Only the absence of that module counts: an import error inside it is raised, not hidden.

    >>> find("tunebook.rounds.lifecycle", "ranked") is not None, find("tunebook.nowhere", "x")
    (True, None)
    """
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return None
        raise
    return getattr(mod, name, None)


class Evidence:
    """Lazy, cached facts about one project and its store.

    >>> ev = Evidence(project, Path("."), store)          # doctest: +SKIP
    >>> ev.latest_search_round.name                         # doctest: +SKIP
    'width'
    """

    def __init__(self, project: ProjectSpec, project_dir: str | Path, store: Store) -> None:
        self.project = project
        self.project_dir = Path(project_dir)
        self.store = store
        self._trials: dict[int, list[TrialRecord]] = {}
        self._readings: dict[tuple[str, Any], Any] = {}

    # -- store records ----------------------------------------------------------------------

    @functools.cached_property
    def rounds(self) -> list[RoundRecord]:
        return self.store.rounds()

    def trials(self, record: RoundRecord) -> list[TrialRecord]:
        if record.id not in self._trials:
            self._trials[record.id] = self.store.trials(record.id)
        return self._trials[record.id]

    @functools.cached_property
    def all_trials(self) -> list[TrialRecord]:
        return [t for r in self.rounds for t in self.trials(r)]

    @functools.cached_property
    def decisions(self) -> list[DecisionRecord]:
        return self.store.decisions()

    def decisions_of(self, kind: str) -> list[DecisionRecord]:
        return [d for d in self.decisions if d.kind == kind]

    def latest(self, kind: str) -> DecisionRecord | None:
        found = self.decisions_of(kind)
        return found[-1] if found else None

    @functools.cached_property
    def search_rounds(self) -> list[RoundRecord]:
        return [r for r in self.rounds if r.kind == "search"]

    @functools.cached_property
    def latest_search_round(self) -> RoundRecord | None:
        """The newest search round with at least one completed trial (else the newest one)."""
        done = [r for r in self.search_rounds
                if any(t.status == "completed" for t in self.trials(r))]
        if done:
            return done[-1]
        return self.search_rounds[-1] if self.search_rounds else None

    @functools.cached_property
    def baseline(self) -> dict[str, Any] | None:
        """The current baseline's payload (config, trial id), from the decisions."""
        return current_baseline(self.store)

    @functools.cached_property
    def baseline_verdict(self) -> dict[str, Any] | None:
        d = self.latest("baseline")
        return None if d is None else d.payload.get("verdict")

    def trial(self, trial_id: int | None) -> TrialRecord | None:
        if trial_id is None:
            return None
        for t in self.all_trials:
            if t.id == trial_id:
                return t
        return None

    @functools.cached_property
    def baseline_trial(self) -> TrialRecord | None:
        return self.trial((self.baseline or {}).get("trial_id"))

    def best_trial(self, record: RoundRecord) -> TrialRecord | None:
        from tunebook.rounds.lifecycle import ranked

        for t in ranked(self.store, record):
            if t.status == "completed" and t.feasible and t.score is not None:
                return t
        return None

    @functools.cached_property
    def usage(self) -> TrainUsage | None:
        """What train() did with its config (keys read, optimizer, lr per step): the baseline
        trial's record, else the newest completed trial that recorded it."""
        done = [t for t in reversed(self.all_trials) if t.status == "completed"]
        for t in [self.baseline_trial, *done]:
            if t is not None and t.meta:
                u = train_usage(t)
                if u.reads is not None or u.optimizer is not None or u.lr is not None:
                    return u
        return None

    def ignored(self, key: str) -> str | None:
        """``"trial N never read KEY"`` when train() certainly ignores ``key``, else None."""
        u = self.usage
        if u is not None and u.ignores(key):
            return f"train() never reads {key} (trial {u.trial_id} recorded the keys it read)"
        return None

    @functools.cached_property
    def notes(self) -> dict[str, tuple[str, str]]:
        """item id -> (text, where): the spec's ``notes`` first, then ``tunebook note``s."""
        out = {k: (v, "tunebook.yaml notes") for k, v in self.project.notes.items()}
        for d in self.decisions_of(NOTE_KIND):
            item = str(d.payload.get("item", ""))
            if item:
                out[item] = (str(d.payload.get("text", "")), f"note (decision {d.id})")
        return out

    # -- readings of other areas --------------------------------------------------------------

    def _reading(self, key: tuple[str, Any], make: Callable[[], Any]) -> Any:
        if key not in self._readings:
            try:
                self._readings[key] = make()
            except TunebookError as exc:
                self._readings[key] = Missing(str(exc), key[0], pending=False)
        return self._readings[key]

    def analysis(self, record: RoundRecord) -> Any:
        """``tunebook analyze``'s RoundAnalysis of the round, or a Missing."""
        command = f"tunebook analyze {record.name}"

        def make() -> Any:
            fn = find("tunebook.analysis.overview", "analyze_round") or find(
                "tunebook.analysis", "analyze_round")
            if fn is None:
                return Missing("the round analysis has not landed", command)
            if not any(t.status == "completed" for t in self.trials(record)):
                return Missing(f"round {record.name} has no completed trial yet",
                               f"tunebook round run {record.name}", pending=False)
            return fn(self.store, record.name, importance_method=None)

        return self._reading((command, record.id), make)

    def diagnosis(self, trial: TrialRecord | None) -> Any:
        """``tunebook diagnose``'s Diagnosis of the trial, or a Missing."""
        command = "tunebook diagnose" + (f" --trial {trial.id}" if trial else "")

        def make() -> Any:
            fn = find("tunebook.analysis.diagnose", "diagnose_trial")
            if fn is None:
                return Missing("the diagnosis has not landed", command)
            if trial is None:
                return Missing("no baseline or completed trial to diagnose", "tunebook baseline",
                               pending=False)
            return fn(self.store, self.project, trial)

        return self._reading((command, trial.id if trial else None), make)

    def error_analysis(self, trial: TrialRecord | None, sample_size: int = 150) -> Any:
        """``tunebook errors``'s ErrorAnalysis of the trial's dev predictions, or a Missing."""
        command = (f"tunebook errors {trial.round} --trial {trial.id}" if trial
                   else "tunebook errors ROUND")

        def make() -> Any:
            fn = find("tunebook.analysis.errors", "errors_of_trial")
            if fn is None:
                return Missing("the error analysis has not landed", command)
            if trial is None:
                return Missing("no baseline or completed trial", "tunebook baseline",
                               pending=False)
            return fn(self.store, self.project, self.project_dir, trial,
                      sample_size=sample_size)

        return self._reading((command, sample_size), make)


def is_missing(reading: Any) -> bool:
    return isinstance(reading, Missing)




def confirmed_suspects(errors: Any) -> list[Any]:
    """Likely label errors that other models confirm (judgements.labels makes every suspect so).
    """
    return list(getattr(errors, "suspects", []))


def label_alarm(errors: Any) -> Any:
    """The error analysis's label-quality finding when the one label rule calls it a problem.

    The rule (:mod:`tunebook.analysis.judgements.labels`): confirmed suspects are at least 1% of
    the dev examples and as sure as the correct predictions of their class (flipped labels).
    """
    if isinstance(errors, Missing):
        return None
    verdict = getattr(errors, "labels", None)
    if verdict is None or not verdict.problem:
        return None
    return next((f for f in getattr(errors, "findings", [])
                 if f.code == "errors.label_quality"), None)
