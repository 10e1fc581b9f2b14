"""The one-off experiment: create a round, run it to the end, judge its trials, record a decision.

Baseline, steps probe, timing run, promotion seeds and stability probes are all this one shape;
each says only what to queue and how to read the finished trials. The round is created and run
before anything is judged, so a decision always points at a round whose trials are in the store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tunebook.core.spec import ProjectSpec, RoundSpec
from tunebook.core.trial import RoundKind, RoundRecord, TrialKind, TrialRecord
from tunebook.rounds.lifecycle import create_round
from tunebook.store import Store
from tunebook.workers.execute import run_round

T = TypeVar("T")


@dataclass(frozen=True)
class Execution:
    """How an experiment's trials run: one inline worker unless the caller asks for more."""

    workers: int = 1
    executor: str = "inline"
    show_progress: bool = True


@dataclass(frozen=True)
class Finished:
    """A one-off round after its run: the round and its trials in id order."""

    record: RoundRecord
    trials: list[TrialRecord]


@dataclass(frozen=True)
class Decision:
    """What the experiment decided: the decision kind, one summary line and its payload."""

    kind: str
    summary: str
    payload: Mapping[str, Any]


def run_experiment(store: Store, project: ProjectSpec, project_dir: str | Path, spec: RoundSpec,
                   *, kind: RoundKind, items: Sequence[Mapping[str, Any]] | None = None,
                   trial_kind: TrialKind = "search", execution: Execution = Execution()
                   ) -> Finished:
    """Create round ``spec`` of ``kind`` and run it to the end.

    Without ``items`` the round's searcher queues its trials (a baseline of budget 1); with
    them, exactly those trials are queued (``config``, ``seed``, ``group``, ``parent_id``) as
    ``trial_kind``: promotion seeds and stability probes choose their configs themselves.
    """
    if items is None:
        record = create_round(store, project, spec, kind=kind)
    else:
        record = store.create_round(spec, project, kind=kind)
        store.add_trials(record.id, [dict(i) for i in items], kind=trial_kind)
    run_round(store, spec.name, project_dir, workers=execution.workers,
              executor=execution.executor, show_progress=execution.show_progress)
    return Finished(record, store.trials(record.id))


def one_off(store: Store, project: ProjectSpec, project_dir: str | Path, spec: RoundSpec,
               judge: Callable[[Finished], tuple[T, Decision | None]], *, kind: RoundKind,
               items: Sequence[Mapping[str, Any]] | None = None, trial_kind: TrialKind = "search",
               execution: Execution = Execution()) -> tuple[T, int | None]:
    """Run the experiment, judge it, record the decision; the judged result and decision id.

    >>> verdict, did = one_off(store, project, ".", spec, check, kind="baseline")  # doctest: +SKIP
    """
    finished = run_experiment(store, project, project_dir, spec, kind=kind, items=items,
                              trial_kind=trial_kind, execution=execution)
    result, decision = judge(finished)
    if decision is None:
        return result, None
    did = store.add_decision(decision.kind, decision.summary, dict(decision.payload),
                             round_id=finished.record.id)
    return result, did


def numbered_name(store: Store, base: str, kind: str) -> str:
    """``base`` for the first round of ``kind``, then ``base-2``, ``base-3``, ..."""
    n = sum(1 for r in store.rounds() if r.kind == kind)
    return base if n == 0 else f"{base}-{n + 1}"
