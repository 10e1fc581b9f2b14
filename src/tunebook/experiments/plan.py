"""How many trials a compute budget allows, and whether that is enough (checklist 3.2).

Step time comes from what the store already holds (finished trials' durations against their
``max_train_steps``: a least-squares line ``seconds = overhead + steps * per_step`` when the
lengths differ, the median seconds per step otherwise), else from a timing run: the round's
first target value with every nuisance hyperparameter at the centre of its range, trained for
``n`` and ``2n`` steps, so the per-step time and the per-trial overhead separate.

The rule for "too few trials per target value": with ``d`` nuisance hyperparameters, a target
value needs at least ``ceil(ln(0.1) / ln(1 - 0.5 ** d))`` trials, so that with 90% probability
at least one trial lands where every nuisance hyperparameter is in the better half of its range
(1, 4, 9, 18, 36, 73 trials for d = 0..5; quasi-random points cover at least as well as the
independent uniform draws the formula assumes).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunebook.core.errors import SpecError
from tunebook.core.spec import ProjectSpec, RoundSpec
from tunebook.core.trial import TrialRecord
from tunebook.rounds.fidelity import ladder, stage_sizes
from tunebook.store import Store

CONFIDENCE = 0.9
GOOD_SHARE = 0.5


def min_trials(nuisance: int, confidence: float = CONFIDENCE, share: float = GOOD_SHARE) -> int:
    """Trials per target value for one to land in the good corner of the nuisance space.

    >>> [min_trials(d) for d in range(6)]
    [1, 4, 9, 18, 36, 73]
    """
    if nuisance <= 0:
        return 1
    hit = share ** nuisance
    return math.ceil(math.log(1 - confidence) / math.log(1 - hit) - 1e-9)


@dataclass(frozen=True)
class StepTime:
    per_step: float         # seconds per training step
    overhead: float         # seconds per trial besides its steps (data loading, evals, setup)
    source: str             # where the numbers come from
    trials: int             # trials measured

    def trial_seconds(self, steps: float) -> float:
        return self.overhead + steps * self.per_step


@dataclass(frozen=True)
class Plan:
    round: str
    target_values: int
    nuisance: list[str]
    budget: int                     # the round's trials per target value
    min_per_target: int             # the rule's minimum for this many nuisance hyperparameters
    max_train_steps: list[int]      # per target value
    step_time: StepTime
    fidelity: dict[str, Any] | None
    round_seconds: float            # compute the round needs (sum over its trials)
    wall_seconds: float             # with ``workers`` trials at a time
    workers: int
    hours: float | None
    affordable_per_target: int | None
    fits: bool | None
    rule: str = (f"at least ceil(ln({1 - CONFIDENCE:g}) / ln(1 - {GOOD_SHARE:g}^d)) trials per "
                 "target value for d nuisance hyperparameters: then one trial lands, with "
                 f"{CONFIDENCE:.0%} probability, where every nuisance hyperparameter is in the "
                 "better half of its range")
    warnings: list[str] = field(default_factory=list)
    # Per target value: what the search does over its budget (``search.bayes.phases``).
    search: list[dict[str, Any]] = field(default_factory=list)


def measured(trials: list[TrialRecord]) -> StepTime | None:
    """Step time from finished trials' durations and lengths; None when none can tell."""
    rows = [(float(t.config["max_train_steps"]), float(t.duration)) for t in trials
            if t.status == "completed" and t.duration is not None and t.duration > 0
            and isinstance(t.config.get("max_train_steps"), int)
            and t.config["max_train_steps"] > 0]
    if not rows:
        return None
    steps = np.array([r[0] for r in rows])
    secs = np.array([r[1] for r in rows])
    if len(set(steps.tolist())) >= 2:
        slope, intercept = np.polyfit(steps, secs, 1)
        if slope > 0:
            return StepTime(float(slope), max(float(intercept), 0.0),
                            f"least squares over {len(rows)} finished trials", len(rows))
    per = statistics.median((s / n for n, s in rows))
    return StepTime(per, 0.0, f"median seconds per step of {len(rows)} finished trials",
                    len(rows))


def _lengths(project: ProjectSpec, spec: RoundSpec) -> list[int]:
    from tunebook.rounds.lifecycle import base_config

    space = spec.space
    out = []
    for group in space.target_groups():
        config = {**base_config(project, spec), **space.fixed, **group}
        steps = config.get("max_train_steps")
        p = space.nuisance.get("max_train_steps")
        if p is not None and p.low is not None and p.high is not None:
            steps = round((p.low + p.high) / 2)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise SpecError(f"round {spec.name}: max_train_steps",
                            "an integer length to plan with", steps,
                            "Set max_train_steps in the round file, as a fixed hyperparameter, "
                            "or in the project's baseline config.")
        out.append(steps)
    return out


def _group_cost(spec: RoundSpec, budget: int, steps: int, st: StepTime) -> float:
    return sum(n * st.trial_seconds(f * steps)
               for f, n in zip(ladder(spec.fidelity), stage_sizes(spec.fidelity, budget),
                               strict=True))


def timing_run(store: Store, project: ProjectSpec, project_dir: str | Path, spec: RoundSpec,
               steps: int, show_progress: bool = True) -> StepTime:
    """Train the round's first config (nuisance at the centre) for ``steps`` and 2x ``steps``."""
    from tunebook.core.space import Param
    from tunebook.experiments.oneoff import Execution, numbered_name, run_experiment

    space = spec.space
    group = space.target_groups()[0]
    centre = space.config(group, [0.5] * space.dim)
    params = {k: Param(role="fixed", value=v) for k, v in centre.items()
              if k != "max_train_steps"}
    params["max_train_steps"] = Param(role="target", values=[steps, 2 * steps])
    name = numbered_name(store, f"timing-{spec.name}", "timing")
    timing = RoundSpec(name=name, budget=1, seed=project.seed, params=params,
                       question=f"How long does a training step of round {spec.name} take?")
    # A timing run records no decision: the plan it feeds is computed again on every call.
    done = run_experiment(store, project, project_dir, timing, kind="timing",
                          execution=Execution(show_progress=show_progress))
    got = measured(done.trials)
    if got is None:
        raise SpecError(f"timing run {name}", "two completed trials",
                        str(store.counts(done.record.id)),
                        f"See why: tunebook trials {name}.")
    return StepTime(got.per_step, got.overhead, f"timing run {name} ({steps} and {2 * steps} "
                    "steps)", got.trials)


def check_args(hours: float | None, workers: int, timing_steps: int) -> None:
    if hours is not None and not (hours > 0 and math.isfinite(hours)):
        raise SpecError("--hours", "a compute budget > 0 hours", hours)
    if workers < 1:
        raise SpecError("--workers", "an int >= 1 (trials at a time)", workers)
    if timing_steps < 1:
        raise SpecError("--timing-steps", "an int >= 1", timing_steps)


def plan_round(store: Store, project: ProjectSpec, project_dir: str | Path, spec: RoundSpec,
               hours: float | None = None, workers: int = 1, timing_steps: int = 50,
               show_progress: bool = True) -> Plan:
    """The compute the round needs, the trials ``hours`` afford, and warnings.

    >>> plan_round(store, project, ".", spec, hours=1).warnings  # doctest: +SKIP
    """
    check_args(hours, workers, timing_steps)
    lengths = _lengths(project, spec)
    rounds = {r.name: r for r in store.rounds()}
    own = store.trials(rounds[spec.name].id) if spec.name in rounds else []
    st = measured(own)
    if st is not None:
        st = StepTime(st.per_step, st.overhead, f"round {spec.name}: {st.source}", st.trials)
    else:
        st = measured(store.trials())
        if st is not None:
            st = StepTime(st.per_step, st.overhead, f"the store: {st.source}", st.trials)
    if st is None:
        st = timing_run(store, project, project_dir, spec, timing_steps, show_progress)
    need = sum(_group_cost(spec, spec.budget, n, st) for n in lengths)
    d = spec.space.dim
    rule_min = min_trials(d)
    warnings = []
    if spec.budget < rule_min:
        warnings.append(f"{spec.budget} trials per target value is too few for {d} nuisance "
                        f"hyperparameters: the rule asks for {rule_min}. Fix some nuisance "
                        "hyperparameters, narrow their ranges to what earlier rounds showed, "
                        "or raise the budget.")
    affordable = fits = None
    if hours is not None:
        compute = hours * 3600 * workers
        affordable = _affordable(spec, lengths, st, compute)
        fits = need <= compute
        if not fits:
            warnings.append(f"the round needs {need / 3600:.3g} h of compute "
                            f"({need / 3600 / workers:.3g} h with {workers} workers); "
                            f"{hours:g} h afford {affordable} trials per target value, "
                            f"not {spec.budget}.")
        if affordable < rule_min:
            hint = ("" if spec.fidelity else " or use short-then-long (fidelity:)")
            warnings.append(f"the budget affords only {affordable} trials per target value, "
                            f"below the rule's {rule_min} for {d} nuisance hyperparameters: "
                            f"ask a narrower question (fewer target values or nuisance "
                            f"hyperparameters){hint}.")
    return Plan(spec.name, len(lengths), list(spec.space.nuisance), spec.budget, rule_min,
                lengths, st, spec.fidelity.model_dump() if spec.fidelity else None, need,
                need / workers, workers, hours, affordable, fits, warnings=warnings,
                search=search_phases(spec))


def search_phases(spec: RoundSpec) -> list[dict[str, Any]]:
    """Each target value's search over its budget: quasi-random start, model, local phase."""
    from tunebook.search.bayes import phases

    return [{"group": group, "algorithm": spec.algorithm,
             "phases": phases(spec.algorithm, spec.space.for_group(group), spec.budget)}
            for group in spec.space.target_groups()]


def _affordable(spec: RoundSpec, lengths: list[int], st: StepTime, compute: float) -> int:
    def cost(b: int) -> float:
        return sum(_group_cost(spec, b, n, st) for n in lengths)

    if cost(1) > compute:
        return 0
    lo, hi = 1, 2
    while cost(hi) <= compute and hi < 10 ** 9:
        lo, hi = hi, hi * 2
    while hi - lo > 1:  # cost grows with the budget: bisect
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if cost(mid) <= compute else (lo, mid)
    return lo
