"""What the store, the spec and the analyses say about a project, read once.

The checklist, the HTML report, ``tunebook advise`` and the agent tools all look at the same
facts: rounds, trials, decisions, notes, and the typed results of the analyses (``RoundAnalysis``,
``Diagnosis``, ``ErrorAnalysis``). :class:`Evidence` computes each of them at most once per call;
when one cannot say anything yet (no completed trial, no predictions) the reading is a
:class:`Missing` that names the command producing what it needs, so every view shows that
instead of a made-up answer.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tunebook.analysis.diagnose import Diagnosis, diagnose_trial
from tunebook.analysis.errors import ErrorAnalysis, Suspect, errors_of_trial
from tunebook.analysis.findings import Finding
from tunebook.analysis.overview import RoundAnalysis, analyze_round
from tunebook.core.decisions import BaselinePayload, NotePayload, Payload
from tunebook.core.errors import TunebookError
from tunebook.core.spec import ProjectSpec
from tunebook.core.trial import DecisionRecord, RoundRecord, TrialRecord
from tunebook.core.usage import TrainUsage, train_usage
from tunebook.experiments.baseline import CurrentBaseline, current_baseline
from tunebook.rounds.lifecycle import ranked
from tunebook.store import Store

NOTE_KIND = "note"


@dataclass(frozen=True)
class Missing:
    """A reading that cannot be made yet: why, and the command that makes what it needs.

    >>> Missing("round width has no completed trial yet", "tunebook round run width").message
    'round width has no completed trial yet (run tunebook round run width)'
    """

    reason: str
    command: str

    @property
    def message(self) -> str:
        return f"{self.reason} (run {self.command})"


R = TypeVar("R")
P = TypeVar("P", bound=Payload)


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
        self._readings: dict[tuple[str, Any], object] = {}

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
    def decisions(self) -> list[DecisionRecord[Payload]]:
        return self.store.decisions()

    def decisions_of(self, model: type[P]) -> list[DecisionRecord[P]]:
        """The decisions of ``model``'s kind, oldest first, each with its payload typed."""
        return [d for d in self.decisions if isinstance(d.payload, model)]  # type: ignore[misc]

    def latest(self, model: type[P]) -> DecisionRecord[P] | None:
        found = self.decisions_of(model)
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
    def baseline(self) -> CurrentBaseline | None:
        """The current baseline (config, trial id), from the decisions."""
        return current_baseline(self.store)

    @functools.cached_property
    def baseline_verdict(self) -> dict[str, Any] | None:
        d = self.latest(BaselinePayload)
        return None if d is None else d.payload.verdict

    def trial(self, trial_id: int | None) -> TrialRecord | None:
        if trial_id is None:
            return None
        for t in self.all_trials:
            if t.id == trial_id:
                return t
        return None

    @functools.cached_property
    def baseline_trial(self) -> TrialRecord | None:
        return None if self.baseline is None else self.trial(self.baseline.trial_id)

    def best_trial(self, record: RoundRecord) -> TrialRecord | None:
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
        for d in self.decisions_of(NotePayload):
            out[d.payload.item] = (d.payload.text, f"note (decision {d.id})")
        return out

    # -- readings of other areas --------------------------------------------------------------

    def _reading(self, key: tuple[str, Any], make: Callable[[], R | Missing]) -> R | Missing:
        if key not in self._readings:
            try:
                self._readings[key] = make()
            except TunebookError as exc:
                self._readings[key] = Missing(str(exc), key[0])
        return self._readings[key]  # type: ignore[return-value]  # stored by this same key

    def analysis(self, record: RoundRecord) -> RoundAnalysis | Missing:
        """``tunebook analyze``'s RoundAnalysis of the round, or a Missing."""
        command = f"tunebook analyze {record.name}"

        def make() -> RoundAnalysis | Missing:
            if not any(t.status == "completed" for t in self.trials(record)):
                return Missing(f"round {record.name} has no completed trial yet",
                               f"tunebook round run {record.name}")
            return analyze_round(self.store, record.name, importance_method=None)

        return self._reading((command, record.id), make)

    def diagnosis(self, trial: TrialRecord | None) -> Diagnosis | Missing:
        """``tunebook diagnose``'s Diagnosis of the trial, or a Missing."""
        command = "tunebook diagnose" + (f" --trial {trial.id}" if trial else "")

        def make() -> Diagnosis | Missing:
            if trial is None:
                return Missing("no baseline or completed trial to diagnose", "tunebook baseline")
            return diagnose_trial(self.store, self.project, trial)

        return self._reading((command, trial.id if trial else None), make)

    def error_analysis(self, trial: TrialRecord | None,
                       sample_size: int = 150) -> ErrorAnalysis | Missing:
        """``tunebook errors``'s ErrorAnalysis of the trial's dev predictions, or a Missing."""
        command = (f"tunebook errors {trial.round} --trial {trial.id}" if trial
                   else "tunebook errors ROUND")

        def make() -> ErrorAnalysis | Missing:
            if trial is None:
                return Missing("no baseline or completed trial", "tunebook baseline")
            return errors_of_trial(self.store, self.project, self.project_dir, trial,
                                   sample_size=sample_size)

        return self._reading((command, sample_size), make)


def is_missing(reading: object) -> bool:
    return isinstance(reading, Missing)




def confirmed_suspects(errors: ErrorAnalysis | Missing) -> list[Suspect]:
    """Likely label errors that other models confirm (judgements.labels makes every suspect so).
    """
    return [] if isinstance(errors, Missing) else list(errors.suspects)


def label_alarm(errors: ErrorAnalysis | Missing) -> Finding | None:
    """The error analysis's label-quality finding when the one label rule calls it a problem.

    The rule (:mod:`tunebook.analysis.judgements.labels`): confirmed suspects are at least 1% of
    the dev examples and as sure as the correct predictions of their class (flipped labels).
    """
    if isinstance(errors, Missing):
        return None
    verdict = errors.labels
    if verdict is None or not verdict.problem:
        return None
    return next((f for f in errors.findings if f.code == "errors.label_quality"), None)
