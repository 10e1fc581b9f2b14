"""What a round recorded, read once for every analysis: specs, trials and each trial's value.

A trial's *value* is what the analyses compare: its best-during-training score (the store's
retrospective best step), or, with ``metric=``, the best value that metric reached during
training. Reading is the only impure step; every analysis after it is a pure function of a
:class:`RoundRecords`.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tunebook.core.errors import NotFoundError, SpecError
from tunebook.core.score import Goal, Scorer, metric_key
from tunebook.core.spec import ProjectSpec, RoundSpec
from tunebook.core.trial import RoundRecord, TrialRecord
from tunebook.store import Store

Outcome = Literal["ok", "infeasible", "diverged"]
# Statuses whose trials carry evidence: a failed trial crashed (its error is the evidence, not
# its value), a queued or running one has not finished.
ANALYZED = ("completed", "diverged")


@dataclass(frozen=True)
class RoundRecords:
    """One round's specs and finished trials, with the value each trial is judged by."""

    record: RoundRecord
    project: ProjectSpec
    spec: RoundSpec
    scorer: Scorer
    value_name: str                 # "score" or the metric key passed as ``metric``
    goal: Goal
    trials: tuple[TrialRecord, ...]  # every trial of the round, any status
    values: Mapping[int, float]      # trial id -> value (finite), completed and diverged trials
    counts: Mapping[str, int]        # status -> number of trials

    @property
    def finished(self) -> list[TrialRecord]:
        """Completed and diverged trials."""
        return [t for t in self.trials if t.status in ANALYZED]

    # Cached: in_sweep asks it once per trial, and recomputing it each time was O(n^2).
    @functools.cached_property
    def staged(self) -> bool:
        """A short-then-long round: some trials ran at a fraction of the full length."""
        return any(t.is_partial for t in self.trials)

    def in_sweep(self, t: TrialRecord) -> bool:
        """Is ``t`` one of the trials that read the search space?

        In a short-then-long round only stage 1 covers every config, all at one (short)
        length, so axes, boundaries and importance read stage 1; its scores are comparable with
        each other, not with the full-length trials the round's answer compares.
        """
        return not self.staged or (t.is_partial and t.stage.number == 1)

    @property
    def sweep(self) -> list[TrialRecord]:
        """The finished trials that read the search space (see ``in_sweep``)."""
        return [t for t in self.finished if self.in_sweep(t)]

    @property
    def basis(self) -> str:
        """Which trials the space is read from, in words."""
        if not self.staged:
            return "all trials"
        fractions = {t.meta.get("fraction") for t in self.sweep}
        frac = next(iter(fractions)) if len(fractions) == 1 else None
        share = f" at {frac:.0%} of the full length" if isinstance(frac, int | float) else ""
        return f"stage 1 of a short-then-long round{share}"

    def outcome(self, t: TrialRecord) -> Outcome:
        if t.status == "diverged":
            return "diverged"
        return "ok" if t.feasible else "infeasible"

    def ranked(self, distinct: bool = False, sweep: bool = False) -> list[TrialRecord]:
        """Completed feasible trials with a value, best first (ties by trial id).

        By default only full-length trials (the ones the round's answer compares); ``sweep``
        ranks the trials that read the search space instead. ``distinct`` keeps only the best
        trial of each config, so seeds of one config do not crowd a top-k list.
        """
        ok = [t for t in self.trials
              if t.status == "completed" and t.feasible and t.id in self.values
              and (self.in_sweep(t) if sweep else not t.is_partial)]
        sign = -1.0 if self.goal == "max" else 1.0
        out = sorted(ok, key=lambda t: (sign * self.values[t.id], t.id))
        if distinct:
            seen: set[str] = set()
            kept = []
            for t in out:
                key = config_key(t)
                if key not in seen:
                    seen.add(key)
                    kept.append(t)
            out = kept
        return out

    def better(self, a: float, b: float) -> bool:
        return a > b if self.goal == "max" else a < b


def load_records(store: Store, round_name: str, metric: str | None = None) -> RoundRecords:
    """Read round ``round_name``; refuse clearly when there is nothing to analyse yet.

    >>> recs = load_records(store, "width")                       # doctest: +SKIP
    >>> recs.ranked()[0].id, recs.values[recs.ranked()[0].id]     # doctest: +SKIP
    (12, 0.981)
    """
    try:
        record = store.round(round_name)
    except NotFoundError as exc:
        raise NotFoundError(f"{exc} Create it with: tunebook round new ROUND.yaml") from None
    project, spec = record.project, record.spec
    scorer = project.scorer()
    trials = tuple(store.trials(record.id))
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.status] = counts.get(t.status, 0) + 1
    completed = [t for t in trials if t.status == "completed"]
    if not completed:
        _nothing_completed(record, counts)
    if metric is None:
        values = {t.id: float(t.score) for t in trials
                  if t.status in ANALYZED and t.score is not None and math.isfinite(t.score)}
        if not any(t.id in values for t in completed):
            needs = ", ".join(scorer.needs)
            raise SpecError(f"round {record.name}", f"completed trials with a score (from "
                            f"{needs})", f"{len(completed)} completed trials, none with a score",
                            f"The training function never logged {needs} at an eval step: "
                            f"log it with run.log(step, {_arg(scorer.needs[0])}=...) and run "
                            f"the round again (tunebook round run {record.name}).")
        return RoundRecords(record, project, spec, scorer, "score", scorer.goal, trials,
                            values, counts)
    key, goal = _metric_goal(project, metric)
    finished = [t for t in trials if t.status in ANALYZED]
    curves = store.curves([t.id for t in finished], metrics=[key])
    values = {}
    for t in finished:
        series = [v for s in curves.get(t.id, {}).values() for v in s.values() if math.isfinite(v)]
        if series:
            values[t.id] = max(series) if goal == "max" else min(series)
    if not values:
        raise SpecError("--metric", f"a metric this round logged (the score uses "
                        f"{', '.join(scorer.needs)})", key,
                        f"No trial of round {record.name} logged {key}. Log it in the training "
                        f"function with run.log(step, {_arg(key)}=...) and run a round "
                        f"(tunebook round run NAME).")
    return RoundRecords(record, project, spec, scorer, key, goal, trials, values, counts)


def _metric_goal(project: ProjectSpec, metric: str) -> tuple[str, Goal]:
    key = metric_key(metric)
    goals = {m.key: m.goal for m in project.metrics}
    if key not in goals:
        import difflib

        near = difflib.get_close_matches(key, sorted(goals), n=1)
        hint = f"Did you mean '{near[0]}'? " if near else ""
        raise SpecError("--metric", f"a metric declared in tunebook.yaml ({sorted(goals)})", key,
                        hint + "Declare it under 'metrics:' with its split and goal, so the "
                        "analysis knows whether higher is better.")
    return key, goals[key]


def _arg(key: str) -> str:
    return key.replace("/", "_")


def _nothing_completed(record: RoundRecord, counts: dict[str, int]) -> None:
    have = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no trials"
    waiting = counts.get("queued", 0) + counts.get("running", 0)
    if waiting:
        hint = f"Run it first: tunebook round run {record.name}"
    elif counts:
        hint = (f"Every trial ended without completing; read why with: "
                f"tunebook trials {record.name} --status "
                f"{'diverged' if counts.get('diverged') else 'failed'}")
    else:
        hint = f"Queue trials with: tunebook round new ROUND.yaml, then tunebook round run " \
               f"{record.name}"
    raise SpecError(f"round {record.name}", "at least one completed trial", have, hint)


def config_key(t: TrialRecord) -> str:
    """A canonical string of a trial's config: trials sharing it differ only by seed."""
    return json.dumps(t.config, sort_keys=True, default=str)


def group_label(group: Mapping[str, Any]) -> str:
    """``{"width": 32, "depth": 2}`` -> ``"width=32, depth=2"`` (``"all trials"`` when empty)."""
    return ", ".join(f"{k}={v}" for k, v in group.items()) or "all trials"
