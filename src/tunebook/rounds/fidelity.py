"""Short-then-long rounds: successive halving over one round's configs (checklist 5.1).

Stage 1 trains every config at ``fraction`` of ``max_train_steps``. The best ``keep`` share of
each stage, per target value, is trained again from scratch at the next stage's length; the last
stage is full length. With three stages the middle one runs at ``sqrt(fraction)`` (a geometric
ladder: each stage is the same factor longer than the one before).

A shorter stage rescales the config: ``max_train_steps`` (and ``warmup_steps`` when present) are
multiplied by the stage's fraction, so a ``train()`` that derives its lr schedule from the config
decays over the shorter length instead of being cut off half-way down. The full-length values
are kept in the trial's meta (``{"stage": 1, "fraction": 0.2, "final": false, "full": {...}}``).

Promotion is done by whichever worker first sees a stage of a target group closed (every trial
of it finished): it queues the next stage through ``Store.add_trials(max_per_group=...)``, whose
count and insert share one transaction, so any number of workers queue each stage exactly once.
A later stage's trial has ``kind = "stage2"`` (or ``"stage3"``), the same seed and ``parent_id``
= the trial it was promoted from.

``promotion: asynchronous`` promotes without waiting for a stage to close (``rounds.asha`` has
the rule): each worker that looks for work queues the promotions due now, top stage first, one
``add_trials(per_parent=True, max_per_group=1)`` per stage, so each parent gets one child per
stage however many workers race or die; and ``fill`` starts a new stage-1 config only when
nothing is queued (``new_configs``), so a promotion never waits behind the whole budget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tunebook.core.errors import SpecError
from tunebook.core.spec import Fidelity, ProjectSpec, RoundSpec, parse_round
from tunebook.core.trial import FINISHED, RoundRecord, TrialKind, TrialRecord
from tunebook.rounds import asha
from tunebook.rounds.config import base_config
from tunebook.store import Store, group_key

# Config keys whose values are lengths in steps: scaled with the stage, restored at full length.
LENGTH_KEYS = ("max_train_steps", "warmup_steps")


def ladder(fid: Fidelity | None) -> list[float]:
    """The length of each stage as a fraction of ``max_train_steps``; the last is 1.

    >>> ladder(Fidelity(stages=3, fraction=0.25))
    [0.25, 0.5, 1.0]
    """
    if fid is None or fid.stages == 1:
        return [1.0]
    n = fid.stages
    return [fid.fraction ** ((n - 1 - i) / (n - 1)) for i in range(n)]


def stage_sizes(fid: Fidelity | None, budget: int) -> list[int]:
    """Configs per target value in each stage: ``budget``, then ``ceil(keep * previous)``.

    >>> stage_sizes(Fidelity(stages=3, keep=0.25), 16)
    [16, 4, 1]
    """
    sizes = [budget]
    for _ in ladder(fid)[1:]:
        assert fid is not None
        # The epsilon keeps 0.1 * 30 = 3.0000000000000004 from rounding up to 4.
        sizes.append(max(1, math.ceil(fid.keep * sizes[-1] - 1e-9)))
    return sizes


def _stage_kind(stage: int) -> TrialKind:
    return "search" if stage == 1 else "stage2" if stage == 2 else "stage3"


def scaled(config: dict[str, Any], fraction: float) -> dict[str, Any]:
    """``config`` with its step lengths multiplied by ``fraction`` (at least one step).

    >>> scaled({"max_train_steps": 1000, "warmup_steps": 50, "lr": 0.1}, 0.2)
    {'max_train_steps': 200, 'warmup_steps': 10, 'lr': 0.1}
    """
    out = dict(config)
    if fraction >= 1.0:
        return out
    steps = int(config["max_train_steps"])
    out["max_train_steps"] = max(1, round(steps * fraction))
    warmup = config.get("warmup_steps")
    if isinstance(warmup, int | float) and not isinstance(warmup, bool) and warmup > 0:
        out["warmup_steps"] = max(1, round(warmup * fraction))
    return out


def _meta(config: dict[str, Any], fid: Fidelity, stage: int) -> dict[str, Any]:
    fraction = ladder(fid)[stage - 1]
    return {"stage": stage, "stages": fid.stages, "fraction": round(fraction, 6),
            "final": stage == fid.stages,
            "full": {k: config[k] for k in LENGTH_KEYS if k in config}}


def first_stage(spec: RoundSpec, item: dict[str, Any]) -> dict[str, Any]:
    """A search trial to queue (``{"config", "group", "seed"}``) as stage 1 of the round.

    >>> spec = parse_round({"name": "r", "question": "q", "budget": 4,
    ...                     "fidelity": {"fraction": 0.1}})
    >>> first_stage(spec, {"config": {"max_train_steps": 500}, "seed": 3})["config"]
    {'max_train_steps': 50}
    """
    fid = spec.fidelity
    if fid is None or fid.stages == 1:
        return item
    config = item["config"]
    return {**item, "config": scaled(config, ladder(fid)[0]), "meta": _meta(config, fid, 1)}


def check(project: ProjectSpec, spec: RoundSpec) -> None:
    """Refuse a fidelity round whose configs have no ``max_train_steps`` to shorten.

    >>> check(project, load_round("round.yaml"))  # doctest: +SKIP
    """
    fid = spec.fidelity
    if fid is None or fid.stages == 1:
        return
    space = spec.space
    if "max_train_steps" in space.nuisance:
        return  # every trial draws its own length; each is scaled
    for group in space.target_groups():
        config = {**base_config(project, spec), **space.fixed, **group}
        steps = config.get("max_train_steps")
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise SpecError(f"round {spec.name}: fidelity",
                            "configs with an integer max_train_steps >= 1 to shorten", steps,
                            "Set max_train_steps in the round file, as a fixed hyperparameter, "
                            "or in the project's baseline config.")


def from_flags(base: Fidelity | None, stages: int | None = None, fraction: float | None = None,
               keep: float | None = None) -> Fidelity:
    """The round's fidelity (or the default one) with command-line overrides, checked.

    >>> from_flags(None, fraction=0.1)
    Fidelity(stages=2, fraction=0.1, keep=0.25, promotion='synchronous')
    """
    cur = base or Fidelity()
    if stages is not None and not 1 <= stages <= 3:
        raise SpecError("--stages", "an int from 1 to 3 (the last stage is full length)", stages)
    if fraction is not None and not 0 < fraction <= 1:
        raise SpecError("--fraction", "a number in (0, 1]: stage 1's share of max_train_steps",
                        fraction)
    if keep is not None and not 0 < keep <= 1:
        raise SpecError("--keep", "a number in (0, 1]: the share of a stage promoted", keep)
    return Fidelity(stages=cur.stages if stages is None else stages,
                    fraction=cur.fraction if fraction is None else fraction,
                    keep=cur.keep if keep is None else keep, promotion=cur.promotion)


# -- the state of a round's stages --------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """One stage of one target group."""

    stage: int
    fraction: float
    planned: int        # configs the ladder gives this stage
    expected: int       # what it will hold: planned, or fewer if the stage before ran short
    trials: tuple[TrialRecord, ...]
    closed: bool        # every expected trial exists and finished


def _ranked(trials: Sequence[TrialRecord], goal: str) -> list[TrialRecord]:
    """Completed trials with a score, feasible first, best score first, then by id."""
    sign = -1.0 if goal == "max" else 1.0
    done = [t for t in trials if t.status == "completed" and t.score is not None]
    return sorted(done, key=lambda t: (not t.feasible, sign * float(t.score or 0.0), t.id))


def _stages(fid: Fidelity | None, budget: int, trials: Sequence[TrialRecord],
           goal: str) -> list[Stage]:
    """The stages of one target group from its trials (seed re-runs excluded by the caller)."""
    fractions, sizes = ladder(fid), stage_sizes(fid, budget)
    out: list[Stage] = []
    for s, (fraction, planned) in enumerate(zip(fractions, sizes, strict=True), start=1):
        mine = tuple(t for t in trials if t.stage.number == s and t.kind == _stage_kind(s))
        expected = planned
        if out:
            prev = out[-1]
            if prev.closed:
                expected = min(planned, len(_ranked(prev.trials, goal)))
        closed = len(mine) >= expected and all(t.status in FINISHED for t in mine)
        out.append(Stage(s, fraction, planned, expected, mine, closed))
    return out


def _groups(spec: RoundSpec, trials: Sequence[TrialRecord]) -> dict[str, list[TrialRecord]]:
    by: dict[str, list[TrialRecord]] = {group_key(g): [] for g in spec.space.target_groups()}
    for t in trials:
        if t.kind == "search" or t.kind.startswith("stage"):
            by.setdefault(group_key(t.group), []).append(t)
    return by


def _round_stages(store: Store, record: RoundRecord,
                 trials: Sequence[TrialRecord] | None = None
                 ) -> tuple[ProjectSpec, RoundSpec, dict[str, list[Stage]]]:
    project, spec = record.project, record.spec
    ts = store.trials(record.id) if trials is None else trials
    goal = project.scorer().goal
    return project, spec, {k: _stages(spec.fidelity, spec.budget, mine, goal)
                           for k, mine in _groups(spec, ts).items()}


def asynchronous(record: RoundRecord) -> bool:
    """A search round whose stages promote asynchronously (``promotion: asynchronous``)."""
    fid = record.spec.fidelity
    return (record.kind == "search" and fid is not None and fid.stages > 1
            and fid.promotion == "asynchronous")


def _rungs(store: Store, record: RoundRecord,
           trials: Sequence[TrialRecord] | None = None) -> list[list[asha.Rung]]:
    """Each target group's rungs under the asynchronous rule."""
    fid, spec = record.spec.fidelity, record.spec
    assert fid is not None
    ts = store.trials(record.id) if trials is None else trials
    goal = record.project.scorer().goal
    return [asha.rungs([[t for t in mine if t.stage.number == s and t.kind == _stage_kind(s)]
                        for s in range(1, fid.stages + 1)], spec.budget, fid.keep, goal)
            for mine in _groups(spec, ts).values()]


def _promote(store: Store, record: RoundRecord) -> list[int]:
    """Queue every asynchronous promotion due now, the top rung first (claimed first).

    One transaction per rung checks "no child yet" and inserts, per parent, so racing or
    killed workers never promote a trial twice; a promotion a dead worker did not commit is
    due again at the next look.
    """
    fid = record.spec.fidelity
    assert fid is not None
    due = [(r.number + 1, t) for group in _rungs(store, record) for r in group for t in r.due]
    fractions = ladder(fid)
    added: list[int] = []
    for stage in sorted({s for s, _ in due}, reverse=True):
        items = [{"group": t.group, "config": scaled(t.full_config, fractions[stage - 1]),
                  "seed": t.seed, "parent_id": t.id,
                  "meta": _meta(t.full_config, fid, stage)} for s, t in due if s == stage]
        added += store.add_trials(record.id, items, max_per_group=1,
                                  kind=_stage_kind(stage), per_parent=True)
    return added


def new_configs(store: Store, record: RoundRecord) -> int | None:
    """How many new stage-1 configs per target group ``fill`` may queue now; None: no limit.

    An asynchronous round starts a new config only when nothing is queued, so that what a
    worker claims next is a due promotion whenever there is one (they are queued first).
    """
    if not asynchronous(record):
        return None
    return 0 if store.counts(record.id).get("queued", 0) else 1


def advance(store: Store, record: RoundRecord) -> list[int]:
    """Queue the promotions due now: the next stage of every target group whose current
    stage has closed, or, with ``promotion: asynchronous``, each trial in the top share so far.

    Safe to call from every worker at once: each stage (each promotion) is queued exactly
    once. A no-op for rounds without fidelity (one dict lookup).

    >>> advance(store, store.round("lr"))  # doctest: +SKIP
    [41, 42, 43, 44]
    """
    fid = record.spec.fidelity
    if record.kind != "search" or fid is None or fid.stages == 1:
        return []
    if asynchronous(record):
        return _promote(store, record)
    project, spec, groups = _round_stages(store, record)
    goal = project.scorer().goal
    added: list[int] = []
    for group_stages in groups.values():
        for prev, nxt in zip(group_stages, group_stages[1:], strict=False):
            if not prev.closed or len(nxt.trials) >= nxt.expected:
                continue
            items = [{"group": t.group, "config": scaled(t.full_config, nxt.fraction),
                      "seed": t.seed, "parent_id": t.id,
                      "meta": _meta(t.full_config, fid, nxt.stage)}
                     for t in _ranked(prev.trials, goal)[:nxt.expected]]
            if items:
                added += store.add_trials(record.id, items, max_per_group=nxt.expected,
                                          kind=_stage_kind(nxt.stage))
    return added


def expected_extra(store: Store, record: RoundRecord) -> int:
    """Trials a fidelity round will hold beyond its stage-1 budget (later stages and re-runs).

    ``rounds.progress`` adds this to the round's total, so a worker that finds the queue empty
    between two stages waits for the next stage instead of leaving. 0 without fidelity.

    >>> expected_extra(store, store.round("lr"))  # 4 stage-2 trials still to come  # doctest: +SKIP
    4
    """
    fid = record.spec.fidelity
    if record.kind != "search" or fid is None or fid.stages == 1:
        return 0
    trials = store.trials(record.id)
    others = sum(1 for t in trials if not (t.kind == "search" or t.kind.startswith("stage")))
    if asynchronous(record):  # what exists beyond stage 1, and what is still due
        rung_groups = _rungs(store, record, trials)
        return others + sum(len(r.trials) for g in rung_groups for r in g[1:]) + sum(
            asha.still_to_come(g, record.spec.budget, fid.keep) for g in rung_groups)
    _, _, groups = _round_stages(store, record, trials)
    later = sum(st.expected for g in groups.values() for st in g[1:])
    return later + others


def search_finished(store: Store, record: RoundRecord) -> bool:
    """Every stage of every target group has closed (seed re-runs aside).

    >>> search_finished(store, store.round("lr"))  # doctest: +SKIP
    True
    """
    if asynchronous(record):
        return all(asha.finished(g) for g in _rungs(store, record))
    _, _, groups = _round_stages(store, record)
    return all(st.closed for g in groups.values() for st in g)


def set_fidelity(store: Store, record: RoundRecord, fid: Fidelity) -> RoundRecord:
    """Make a round short-then-long before any of its trials has started.

    >>> set_fidelity(store, store.round("lr"), Fidelity(fraction=0.1))  # doctest: +SKIP
    """
    project, spec = record.project, record.spec
    if spec.fidelity == fid:
        return record
    if record.kind != "search":
        raise SpecError("--fidelity", "a search round", f"a {record.kind} round")
    trials = store.trials(record.id)
    started = [t for t in trials if t.status != "queued" or t.kind != "search"]
    if started:
        raise SpecError("--fidelity", "a round none of whose trials has started yet",
                        f"{len(started)} of {len(trials)} trials started",
                        "Its configs are already being trained at their length: put "
                        "'fidelity:' in the round file of a new round instead.")
    new = parse_round({**spec.model_dump(mode="json"), "fidelity": fid.model_dump()},
                      f"round {record.name}")
    check(project, new)
    changes = {}
    for t in trials:
        item = first_stage(new, {"config": t.full_config, "group": t.group, "seed": t.seed})
        changes[t.id] = (item["config"], item.get("meta", {}))
    if not store.rewrite_queued(record.id, new, changes):
        raise SpecError("--fidelity", "a round none of whose trials has started yet",
                        "a trial that a worker claimed meanwhile",
                        "Stop the round's workers first, or start a new round.")
    return store.round(record.id)


# -- what it cost ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StageSummary:
    stage: int
    fraction: float
    planned: int
    trials: int
    finished: int
    completed: int
    steps: int          # training steps the stage's finished trials ran


@dataclass(frozen=True)
class FidelityReport:
    """Where a short-then-long round stands and what it cost, in training steps."""

    round: str
    stages: list[StageSummary]
    steps_spent: int
    steps_all_full: int | None   # every stage-1 config trained at full length instead
    share: float | None          # steps_spent / steps_all_full
    promotion: str = "synchronous"  # or "asynchronous": planned is then the synchronous count


def _ran(t: TrialRecord, last_step: dict[int, int]) -> int:
    if t.status == "completed":
        return int(t.config.get("max_train_steps") or last_step.get(t.id, 0))
    return last_step.get(t.id, 0)


def report(store: Store, record: RoundRecord) -> FidelityReport:
    """Per stage: trials, completed ones and steps spent; the share of an all-full round.

    >>> report(store, store.round("lr")).share  # doctest: +SKIP
    0.35
    """
    trials = store.trials(record.id)
    _, spec, groups = _round_stages(store, record, trials)
    unfinished = [t.id for t in trials if t.status in FINISHED and t.status != "completed"]
    last = {tid: max(c) for tid, c in store.curves(unfinished).items() if c}
    rows: list[StageSummary] = []
    for s, fraction in enumerate(ladder(spec.fidelity), start=1):
        mine = [t for g in groups.values() for t in g[s - 1].trials]
        rows.append(StageSummary(
            s, round(fraction, 6), sum(g[s - 1].planned for g in groups.values()), len(mine),
            sum(t.status in FINISHED for t in mine), sum(t.status == "completed" for t in mine),
            sum(_ran(t, last) for t in mine if t.status in FINISHED)))
    spent = sum(r.steps for r in rows)
    stage1 = [t for g in groups.values() for t in g[0].trials]
    full_steps = [t.full_config.get("max_train_steps") for t in stage1]
    all_full = (sum(int(x) for x in full_steps if x is not None)
                if stage1 and all(x is not None for x in full_steps) else None)
    share = spent / all_full if all_full else None
    fid = spec.fidelity
    return FidelityReport(record.name, rows, spent, all_full, share,
                          fid.promotion if fid is not None else "synchronous")
