"""Seed re-runs: the best config of each target value (or one trial) trained again with K seeds.

The re-runs are trials of the same round with ``kind = "seed"``, ``parent_id`` = the trial they
repeat and ``group`` = its group, so seed stays a recorded dimension and later analysis can put
the seed-to-seed spread next to the differences between target values (checklist 3.4).

Every parent gets the same K seeds (a paired comparison across target values), distinct from the
seeds the round's search used. ``queue_seeds`` tops each parent up to K re-runs: asking again
for the same K adds nothing, asking for more adds only the missing ones, and any number of
callers at once still add exactly K per parent (``Store.add_trials(per_parent=True)``).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunebook.core.errors import NotFoundError, SpecError
from tunebook.core.trial import FINISHED, RoundRecord, TrialRecord
from tunebook.rounds.fidelity import search_finished
from tunebook.store import Store, group_key

SEED_OFFSET = 1_000_000  # far above the search's seeds (round seed * 100_003 + trial index)


def seed_values(round_seed: int, k: int, avoid: int | None = None) -> list[int]:
    """The K re-run seeds of a round, skipping ``avoid`` (the parent's own seed).

    >>> seed_values(0, 3)
    [1000000, 1000001, 1000002]
    """
    out: list[int] = []
    s = SEED_OFFSET + round_seed * 1_000
    while len(out) < k:
        if s != avoid:
            out.append(s)
        s += 1
    return out


def parents(store: Store, record: RoundRecord, trial_id: int | None = None
            ) -> list[TrialRecord]:
    """The trials to re-run: ``trial_id``, or the best full-length trial of each target value.

    Seed re-runs are never parents (picking the luckiest seed would bias the comparison).
    """
    if trial_id is not None:
        t = store.trial(trial_id)
        if t.round_id != record.id:
            raise SpecError("--trial", f"a trial of round {record.name}",
                            f"trial {trial_id} of round {t.round}")
        if t.status != "completed":
            raise SpecError("--trial", "a completed trial", f"trial {trial_id} ({t.status})")
        if t.is_partial:
            raise SpecError("--trial", "a full-length trial",
                            f"trial {trial_id}, a shortened stage-{t.stage.number} trial",
                            "Pick one of the round's full-length trials (tunebook trials).")
        if t.kind == "seed":
            raise SpecError("--trial", "a trial of the search, not a seed re-run",
                            f"trial {trial_id} (a re-run of trial {t.parent_id})",
                            f"Use --trial {t.parent_id}.")
        return [t]
    scorer = record.project.scorer()
    best: dict[str, TrialRecord] = {}
    for t in store.trials(record.id, status="completed"):
        if t.kind == "seed" or t.is_partial or not t.feasible or t.score is None:
            continue
        cur = best.get(group_key(t.group))
        if cur is None or scorer.better(t.score, float(cur.score or 0.0)):
            best[group_key(t.group)] = t
    if not best:
        raise NotFoundError(f"round {record.name} has no completed feasible full-length trial "
                            "to re-run with seeds. Run the round first (tunebook round run).")
    return sorted(best.values(), key=lambda t: t.id)


def queue_seeds(store: Store, record: RoundRecord, k: int,
                trial_id: int | None = None) -> list[int]:
    """Queue seed re-runs so that each parent has ``k``; returns the new trial ids.

    >>> queue_seeds(store, store.round("width"), 5)  # doctest: +SKIP
    [41, 42, 43, 44, 45, 46, 47, 48, 49, 50]
    """
    check_k(k)
    if trial_id is None and not search_finished(store, record):
        raise SpecError("--seeds", "a finished round (its best trials are known)",
                        f"round {record.name} still running",
                        "Run it to the end first, or name a trial with --trial ID.")
    spec = record.spec
    items: list[dict[str, Any]] = []
    existing = store.trials(record.id, kind="seed")
    for p in parents(store, record, trial_id):
        have = {t.seed for t in existing if t.parent_id == p.id}
        for i, s in enumerate(seed_values(spec.seed, k, avoid=p.seed)):
            if s not in have:
                items.append({"group": p.group, "config": dict(p.config), "seed": s,
                              "parent_id": p.id, "meta": {"seed_of": p.id, "replica": i + 1}})
    if not items:
        return []
    return store.add_trials(record.id, items, max_per_group=k, kind="seed", per_parent=True)


def check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise SpecError("--seeds", "an int >= 1 (re-runs per config)", k)


@dataclass(frozen=True)
class SeedSpread:
    """One config's scores over seeds: the parent trial and its re-runs."""

    parent: int
    group: dict[str, Any]
    seeds: list[int]
    scores: list[float]          # completed runs with a score, parent first
    unfinished: int              # re-runs queued or running
    failed: list[str]            # "trial N: status" of re-runs without a score
    mean: float | None
    std: float | None            # sample standard deviation (n - 1), None below 2 scores
    spread: float | None         # max - min


def spread(store: Store, record: RoundRecord) -> list[SeedSpread]:
    """The seed-to-seed spread of every re-run config of the round.

    >>> [s.std for s in spread(store, store.round("width"))]  # doctest: +SKIP
    [0.0031, 0.0044]
    """
    trials = {t.id: t for t in store.trials(record.id)}
    by_parent: dict[int, list[TrialRecord]] = {}
    for t in trials.values():
        if t.kind == "seed" and t.parent_id is not None:
            by_parent.setdefault(t.parent_id, []).append(t)
    out = []
    for pid, runs in sorted(by_parent.items()):
        parent = trials.get(pid)
        members = ([parent] if parent is not None else []) + sorted(runs, key=lambda t: t.seed)
        scored = [t for t in members if t.status == "completed" and t.score is not None]
        scores = [float(t.score) for t in scored if t.score is not None]
        failed = [f"trial {t.id}: {t.status}" for t in members
                  if t.status in FINISHED and t not in scored]
        out.append(SeedSpread(
            pid, runs[0].group, [t.seed for t in scored], scores,
            sum(t.status not in FINISHED for t in runs), failed,
            statistics.fmean(scores) if scores else None,
            statistics.stdev(scores) if len(scores) >= 2 else None,
            max(scores) - min(scores) if scores else None))
    return out


def run_seeds(store: Store, name: str, project_dir: str | Path, k: int,
              trial_id: int | None = None, **run: Any) -> list[SeedSpread]:
    """Queue the seed re-runs of round ``name``, run them (``run_round`` keywords), summarise.

    >>> run_seeds(store, "width", ".", 3, executor="inline")  # doctest: +SKIP
    """
    from tunebook.workers.execute import run_round

    record = store.round(name)
    queue_seeds(store, record, k, trial_id)
    run_round(store, name, project_dir, **run)
    return spread(store, record)
