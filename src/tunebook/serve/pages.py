"""What each dashboard page shows, as typed data read from the store (no HTML here).

The server renders these into templates and serves them as JSON for the live parts. Reads only:
nothing here writes to the store, so a dashboard can watch a round without touching it.
Analyses of a round are cached by the round's progress (counts and newest finish), so a page
polled every second recomputes them only when a trial has finished.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunebook.analysis.findings import Finding
from tunebook.core.decisions import BaselinePayload, Payload, PromotionPayload
from tunebook.core.html import number
from tunebook.core.spec import ProjectSpec
from tunebook.core.trial import ArtifactRecord, DecisionRecord, RoundRecord, TrialRecord
from tunebook.rounds.lifecycle import ranked
from tunebook.store import Store, redact
from tunebook.store.rows import finite

CURVE_POINTS = 400   # a curve sent to the browser is thinned to about this many points


@dataclass(frozen=True)
class TrialRow:
    id: int
    number: int
    kind: str
    status: str
    seed: int
    values: list[Any]              # the round's varying hyperparameters, in `columns` order
    best_step: int | None
    score: float | None
    feasible: bool | None
    attempts: int
    duration_s: float | None
    error: str | None              # the last line of the failure, if any


@dataclass(frozen=True)
class RoundTable:
    round: str
    question: str
    kind: str
    algorithm: str | None
    budget: int | None
    score_name: str
    goal: str
    columns: list[str]
    roles: dict[str, str]
    counts: dict[str, int]
    rows: list[TrialRow]           # best first
    version: str                   # changes whenever a trial changes status


@dataclass(frozen=True)
class RoundSummary:
    name: str
    kind: str
    question: str
    counts: dict[str, int]
    best_trial: int | None
    best_score: float | None
    answer: str


@dataclass(frozen=True)
class BaselineEvent:
    id: int
    kind: str                      # baseline | promotion
    summary: str
    at: float
    promoted: bool | None
    reason: str


@dataclass(frozen=True)
class Series:
    metric: str
    steps: list[int]
    values: list[float | None]


@dataclass(frozen=True)
class TrialPage:
    trial: TrialRecord
    columns: list[str]
    curves: list[Series]
    artifacts: list[ArtifactRecord]
    reproducibility: dict[str, Any]
    score_name: str
    goal: str
    errors: dict[str, Any] | None = None       # the error sample's summary, when predictions exist
    errors_missing: str | None = None


@dataclass(frozen=True)
class RoundAnalysisView:
    answer: str
    findings: list[Finding]
    plots: list[str]               # names of the plots the server can draw for this round
    missing: str | None = None


@dataclass
class Cache:
    """Results keyed by (what, round, version): recomputed only after the round changed."""

    entries: dict[tuple[str, str], tuple[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, what: str, round_name: str, version: str, make: Callable[[], Any]) -> Any:
        key = (what, round_name)
        with self.lock:
            hit = self.entries.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        value = make()
        with self.lock:
            self.entries[key] = (version, value)
        return value


def varying(spec_params: dict[str, Any]) -> list[str]:
    return [k for k, p in spec_params.items() if p.role in ("target", "nuisance")]


def round_table(store: Store, record: RoundRecord, mark: str | None = None) -> RoundTable:
    """The round's trial table, best first; ``mark`` is ``store.mark(record.id)`` if known."""
    project, spec = record.project, record.spec
    mark = mark if mark is not None else store.mark(record.id)
    columns = varying(spec.params)
    trials = ranked(store, record)
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.status] = counts.get(t.status, 0) + 1
    rows = [TrialRow(t.id, t.number, t.kind, t.status, t.seed,
                     [t.config.get(k) for k in columns], t.best_step, finite(t.score),
                     t.feasible, t.attempts, t.duration, _last_line(t.error))
            for t in trials]
    scorer = project.scorer()
    return RoundTable(record.name, record.question, record.kind, spec.algorithm, spec.budget,
                      score_name(project), scorer.goal, columns,
                      {k: p.role for k, p in spec.params.items()}, counts, rows,
                      fingerprint(mark))


def fingerprint(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def score_name(project: ProjectSpec) -> str:
    return project.score if isinstance(project.score, str) else project.score.formula


def round_summary(store: Store, r: RoundRecord) -> RoundSummary:
    from tunebook.rounds.lifecycle import best_trials

    counts = store.counts(r.id)
    best = best_trials(store, r) if counts.get("completed") else {}
    top = _best_of(list(best.values()), r)
    if not best:
        answer = "no completed feasible trial yet"
    else:
        answer = "; ".join(f"{_group(t.group) or 'best'}: {number(t.score)} (trial {t.id})"
                           for t in best.values())
    return RoundSummary(r.name, r.kind, r.question, counts, top.id if top else None,
                        finite(top.score) if top else None, answer)


def _best_of(trials: list[TrialRecord], record: RoundRecord) -> TrialRecord | None:
    if not trials:
        return None
    project = record.project
    sign = 1.0 if project.scorer().goal == "max" else -1.0
    return max(trials, key=lambda t: sign * (t.score if t.score is not None else -math.inf))


def baseline_history(decisions: list[DecisionRecord[Payload]]) -> list[BaselineEvent]:
    """Every baseline check and promotion decision, oldest first, with its reason."""
    out = []
    for d in decisions:
        p = d.payload
        if isinstance(p, PromotionPayload):
            promoted: bool | None = p.promoted
            reason = p.verdict or d.summary
        elif isinstance(p, BaselinePayload):
            promoted, reason = None, str(p.verdict or d.summary)
        else:
            continue
        out.append(BaselineEvent(d.id, d.kind, d.summary, d.created_at, promoted, reason))
    return out


def trial_page(store: Store, project_dir: Path, trial_id: int) -> TrialPage:
    t = store.trial(trial_id)
    record = store.round(t.round_id)
    project, spec = record.project, record.spec
    curve = store.curve(t.id)
    metrics = sorted({m for point in curve.values() for m in point})
    series = [curve_series(curve, m) for m in metrics]
    errors, missing = _errors(store, project, project_dir, t)
    repro = t.meta.get("reproducibility") or t.meta.get("repro") or {}
    return TrialPage(t, varying(spec.params), series, store.artifacts(trial_id=t.id),
                     repro if isinstance(repro, dict) else {"info": repro},
                     score_name(project), project.scorer().goal, errors, missing)


def curve_series(curve: dict[int, dict[str, float]], metric: str,
                 max_points: int = CURVE_POINTS) -> Series:
    steps = sorted(s for s, point in curve.items() if metric in point)
    if len(steps) > max_points:
        stride = math.ceil(len(steps) / max_points)
        steps = steps[::stride] + ([steps[-1]] if (len(steps) - 1) % stride else [])
    return Series(metric, steps, [finite(curve[s][metric]) for s in steps])


def live_curves(store: Store, record: RoundRecord, metric: str, limit: int = 12) -> list[Series]:
    """The ``metric`` curve of the running trials (at most ``limit``), for the live chart."""
    running = [t for t in store.trials(record.id, status="running")][:limit]
    curves = store.curves([t.id for t in running], metrics=[metric])
    out = []
    for t in running:
        s = curve_series(curves.get(t.id, {}), metric)
        out.append(Series(f"trial {t.id}", s.steps, s.values))
    return out


def _errors(store: Store, project: ProjectSpec, project_dir: Path, t: TrialRecord
            ) -> tuple[dict[str, Any] | None, str | None]:
    if t.status != "completed" or not store.artifacts(trial_id=t.id, kind="predictions"):
        return None, "no stored predictions"
    from tunebook.analysis.errors import errors_of_trial
    from tunebook.core.errors import TunebookError

    try:
        e = errors_of_trial(store, project, project_dir, t, sample_size=150)
    except (TunebookError, OSError, ValueError) as exc:
        return None, str(exc)
    return {"n_examples": e.n_examples, "n_errors": e.n_errors, "dev_error": e.dev_error,
            "sample_size": e.sample_size,
            "categories": [{"dimension": c.dimension, "value": c.value, "count": c.count,
                            "share": c.share} for c in e.categories[:10]],
            "sample": e.sample[:20], "suspects": len(e.suspects)}, None


def store_label(store: Store) -> str:
    return redact(store.url)


def _last_line(error: str | None) -> str | None:
    if not error:
        return None
    lines = error.strip().splitlines()
    return lines[-1] if lines else None


def _group(g: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in g.items())
