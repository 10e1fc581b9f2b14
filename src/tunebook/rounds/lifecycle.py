"""Rounds: one question, its trials queued per target group, and the round's answer so far."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tunebook.core.spec import ProjectSpec, RoundSpec
from tunebook.core.trial import FINISHED, RoundKind, RoundRecord, TrialRecord
from tunebook.rounds.config import base_config
from tunebook.rounds.fidelity import asynchronous, expected_extra, first_stage, new_configs
from tunebook.rounds.fidelity import check as check_fidelity
from tunebook.rounds.warm import compatible, enqueued, warm, warm_trials
from tunebook.search import Searcher, make_searcher, upfront
from tunebook.store import Store, group_key


def create_round(store: Store, project: ProjectSpec, spec: RoundSpec,
                 kind: RoundKind = "search") -> RoundRecord:
    """Record the round with its resolved specs and queue what the searcher can say up front."""
    goal = project.scorer().goal
    for group in spec.space.target_groups():  # unknown algorithm or unsearchable space -> now
        make_searcher(spec.algorithm, spec.space.for_group(group), spec.seed, goal=goal,
                      budget=spec.budget)
    check_fidelity(project, spec)  # a fidelity round needs a max_train_steps to shorten
    warm_trials(store, spec)  # a warm_start round not in the store: refused before recording
    record = store.create_round(spec, project, kind=kind)
    fill(store, record)
    return record


def group_searcher(project: ProjectSpec, spec: RoundSpec, group: dict[str, Any]) -> Searcher:
    """The searcher of one target group: over the nuisance hyperparameters that exist there."""
    return make_searcher(spec.algorithm, spec.space.for_group(group), spec.seed,
                         goal=project.scorer().goal, budget=spec.budget)


def group_items(project: ProjectSpec, spec: RoundSpec, group: dict[str, Any],
                points: list[dict[str, Any]], start: int) -> list[dict[str, Any]]:
    """The trials to queue for searcher ``points`` of ``group`` (the round's one config rule).

    ``start`` is the number of the group's trials already queued (it sets the seeds). ``advise``
    previews a round through this function too, so a preview is what the round will queue.
    """
    gspace = spec.space.for_group(group)  # conditional hyperparameters exist per target value
    items = []
    for k, nuisance in enumerate(points):
        config = base_config(project, spec)
        config.update(gspace.fixed)
        config.update(group)
        # Only the group's nuisance names: a searcher can never make a fixed value vary.
        config.update({k2: v for k2, v in nuisance.items() if k2 in gspace.nuisance})
        # Same seed for the same point index in every group: a paired comparison.
        # A short-then-long round queues its configs as stage 1 (shortened, see fidelity).
        items.append(first_stage(spec, {"group": group, "config": config,
                                        "seed": spec.seed * 100_003 + start + k}))
    return items


def fill(store: Store, record: RoundRecord, want: int | None = None,
         full: set[str] | None = None, room: int | None = None) -> list[int]:
    """Queue the round's next trials, never beyond its budget per target group.

    Non-adaptive searchers queue the whole budget at once (the points do not depend on results).
    Adaptive ones keep ``want`` queued trials per group (default 1) from what is known now, or
    more while their suggestions do not depend on results yet (an explore-exploit start), so
    parallel workers never wait and each suggestion sees every trial already handed out.
    An asynchronous short-then-long round queues at most ``room`` new configs per group
    (default: one when nothing is queued, see ``fidelity.new_configs``).

    ``full``: the keys (``group_key``) of target groups known to be at their budget, skipped
    without a read; the groups found full are added to it. A worker keeps one set across its
    claims (a group's trial count never shrinks), so once the round is fully queued its claims
    read nothing here. The trials themselves are read only for a group that gets suggestions.
    """
    project, spec = record.project, record.spec
    space = spec.space
    full = set() if full is None else full
    groups = [g for g in space.target_groups() if group_key(g) not in full]
    if not groups:
        return []
    have = store.group_counts(record.id, "search")  # one aggregate, no trial rows
    added: list[int] = []
    existing: list[TrialRecord] | None = None
    prior: list[TrialRecord] | None = None
    if room is None:  # an asynchronous short-then-long round: one at a time
        room = new_configs(store, record)
    for group in groups:
        key = group_key(group)
        count = have.get(key, 0)
        gspace = space.for_group(group)  # conditional hyperparameters exist per target value
        if not count and spec.enqueue:
            picked = enqueued(base_config(project, spec), spec, group, gspace)
            if picked:  # hand-picked configs first; the budget check makes this happen once
                added += store.add_trials(record.id, picked, max_per_group=len(picked))
                existing = None  # read again below, with them
                count = 0
        if count >= spec.budget:
            full.add(key)
            continue
        if room == 0:
            continue
        if existing is None:
            existing = store.trials(record.id, kind="search")
        mine = [t for t in existing if group_key(t.group) == key]
        left = spec.budget - len(mine)
        if left <= 0:
            full.add(key)
            continue
        if room is not None:
            left = min(room, left)
        searcher = group_searcher(project, spec, group)
        if prior is None:
            prior = warm_trials(store, spec)
        if prior:
            warm(searcher, compatible(prior, base_config(project, spec), gspace, group))
        searcher.update(mine)
        n = left
        if searcher.adaptive and room is None:
            queued = sum(t.status == "queued" for t in mine)
            n = min(left, max((want or 1) - queued, upfront(searcher)))
            if n <= 0:
                continue
        batch = group_items(project, spec, group, searcher.suggest(n), len(mine))
        # One transaction per group: the budget check is per group, and a round of 100,000
        # trials never holds every group's configs at once. A non-adaptive group's points
        # depend only on their index, so whoever queues them queues the same ones. Otherwise
        # the suggestions rest on the group's trials as read above: if another worker queued
        # one meanwhile the count has moved and the store refuses these (no duplicates).
        exact = searcher.adaptive or room is not None
        added += store.add_trials(record.id, batch, max_per_group=(
            len(mine) + len(batch) if exact else spec.budget))
    return added


def start_config(store: Store, record: RoundRecord, tries: int = 8) -> list[int]:
    """For a worker that found nothing to claim in an asynchronous short-then-long round:
    queue one new stage-1 config per target group (ASHA's "otherwise start a new config").

    Workers looking at once race for the same next config, and the store refuses all but
    one; each loser takes the config after it instead of sleeping. [] for any other round,
    or when the stage-1 budget is used.
    """
    if not asynchronous(record):
        return []
    for _ in range(tries):
        added = fill(store, record, room=1)
        if added:
            return added
        have = store.group_counts(record.id, "search")  # one aggregate, no trial rows
        if all(have.get(group_key(g), 0) >= record.spec.budget
               for g in record.spec.space.target_groups()):
            return []
    return []


@dataclass(frozen=True)
class Progress:
    total: int
    counts: dict[str, int]

    @property
    def finished(self) -> int:
        return sum(n for s, n in self.counts.items() if s in FINISHED)

    @property
    def done(self) -> bool:
        return self.finished >= self.total


def progress(store: Store, record: RoundRecord) -> Progress:
    counts = store.counts(record.id)
    if record.kind == "search":
        # Later stages of a short-then-long round are counted before they are queued.
        total = max(record.spec.total_trials + expected_extra(store, record),
                    sum(counts.values()))
    else:
        total = sum(counts.values())
    return Progress(total, counts)


def best_trials(store: Store, record: RoundRecord) -> dict[str, TrialRecord]:
    """The best feasible completed trial per target group (the round's answer).

    Trials of a shorter stage of a short-then-long round are not candidates: their score
    comes from fewer steps than the full-length trials they would be compared with.
    """
    goal = record.project.scorer().goal
    best: dict[str, TrialRecord] = {}
    for t in store.trials(record.id, status="completed"):
        if not t.feasible or t.score is None or t.is_partial:
            continue
        key = group_key(t.group)
        cur = best.get(key)
        if cur is None or (t.score > cur.score if goal == "max" else t.score < cur.score):  # type: ignore[operator]
            best[key] = t
    return best


def ranked(store: Store, record: RoundRecord) -> list[TrialRecord]:
    """All trials, best first: feasible completed by score, then the rest by status."""
    sign = -1.0 if record.project.scorer().goal == "max" else 1.0
    def key(t: TrialRecord) -> tuple[int, float, int]:
        ok = t.status == "completed" and t.score is not None
        # A shorter stage's trial ranks after every full-length one (its score is not comparable).
        return (0 if ok and t.feasible and not t.is_partial else 1 if ok else 2,
                sign * (t.score if t.score is not None else 0.0), t.id)
    return sorted(store.trials(record.id), key=key)


def all_failed(store: Store, record: RoundRecord) -> str | None:
    """One line saying why, when every finished trial of the round failed (the work failed:
    ``tunebook round run`` exits 1), else None. Diverged and pruned trials are results."""
    ts = [t for t in store.trials(record.id) if t.status in FINISHED]
    if not ts or any(t.status != "failed" for t in ts):
        return None
    reasons = [(t.error or "").strip().splitlines() for t in ts]
    first = next((r[-1] for r in reasons if r), "no error recorded")
    return (f"{len(ts)} of {len(ts)} trials of round {record.name} failed, every one; "
            f"trial {ts[0].id}: {first}")


__all__ = ["Progress", "all_failed", "base_config", "best_trials", "create_round", "fill",
           "group_items", "group_searcher", "progress", "ranked", "start_config"]
