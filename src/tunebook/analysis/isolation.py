"""The isolation plot's data and the round's answer to its question (checklist 3.2-3.3).

Target values are compared by their best trial over the nuisance hyperparameters, the way the
playbook asks; a continuous hyperparameter passed as ``target=`` is bucketed on its own scale.
The comparison is only fair when every value had the same chance, so coverage is checked:
unequal budgets, failures concentrated in one value, nuisance ranges covered unequally. When
configs were trained with several seeds, their pooled seed-to-seed spread turns the gap between
the best two values into "clear" or "within noise".
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tunebook.analysis.findings import Finding
from tunebook.analysis.records import RoundRecords, config_key, group_label
from tunebook.core.errors import SpecError
from tunebook.core.space import Param
from tunebook.core.trial import TrialRecord

Verdict = Literal["clear", "within_noise", "unknown", "single"]
CLEAR_Z = 2.0           # a gap this many standard errors wide counts as real


@dataclass(frozen=True)
class Spread:
    """Quartiles of the usable trials' values of one target value."""

    n: int
    low: float
    q1: float
    median: float
    q3: float
    high: float


@dataclass(frozen=True)
class TargetValue:
    """One target value (or bucket) and its best trial over the nuisance hyperparameters."""

    label: str
    group: dict[str, Any]        # target values; a bucket is {name: [low, high]}
    best: float | None
    best_trial: int | None
    spread: Spread | None
    trials: int
    completed: int
    usable: int                  # completed, feasible, with a value
    diverged: int
    failed: int
    seed_mean: float | None      # the best config's mean over its seeds, when it has several
    seed_std: float | None
    seeds: int


@dataclass(frozen=True)
class Isolation:
    target: list[str]
    bucketed: bool
    values: list[TargetValue]
    winner: str | None
    runner_up: str | None
    gap: float | None            # winner's best minus runner-up's best, in the better direction
    seed_std: float | None       # pooled seed-to-seed standard deviation of one trial's value
    seed_configs: int            # configs trained with two or more seeds
    z: float | None              # gap over its standard error (from seed_std)
    verdict: Verdict
    answer: str
    findings: list[Finding]


def isolation(recs: RoundRecords, target: str | None = None, buckets: int = 5
              ) -> Isolation | None:
    """Best value per target value (or bucket of ``target``), coverage checks, the answer.

    Returns None when the round has no target hyperparameter and ``target`` is not given.

    >>> iso = isolation(load_records(store, "width"))            # doctest: +SKIP
    >>> iso.winner, iso.verdict                                   # doctest: +SKIP
    ('width=32', 'clear')
    """
    if buckets < 2:
        raise SpecError("--buckets", "an int >= 2", buckets)
    groups = _grouping(recs, target, buckets)
    if groups is None:
        return None
    names, bucketed, assign = groups
    members: dict[str, list[TrialRecord]] = {}
    gdict: dict[str, dict[str, Any]] = {}
    for t in recs.trials:
        if t.is_partial:  # the answer compares full-length trials only, as best_trials does
            continue
        key = assign(t)
        if key is None:
            continue
        label, g = key
        members.setdefault(label, []).append(t)
        gdict[label] = g
    replicates = _replicates(recs)
    pooled, n_sets = _pooled_std(replicates)
    values = [_value(recs, label, gdict[label], ts, replicates)
              for label, ts in _ordered(members, gdict, recs, names, bucketed)]
    findings = _coverage(recs, values, members, bucketed)
    sign = -1.0 if recs.goal == "max" else 1.0
    scored = sorted([v for v in values if v.best is not None],
                    key=lambda v: sign * (v.best or 0.0))
    winner = scored[0] if scored else None
    runner = scored[1] if len(scored) > 1 else None
    gap = z = None
    verdict: Verdict = "single"
    if winner is not None and runner is not None:
        assert winner.best is not None and runner.best is not None
        gap = abs(winner.best - runner.best)
        z = _z(winner, runner, gap, pooled)
        verdict = "unknown" if z is None else "clear" if z >= CLEAR_Z else "within_noise"
    answer, finding = _answer(recs, names, winner, runner, gap, pooled, n_sets, z, verdict)
    if finding is not None:
        findings.insert(0, finding)
    findings += _target_edge(recs, names, bucketed, values, winner)
    return Isolation(names, bucketed, values, winner.label if winner else None,
                     runner.label if runner else None, gap, pooled, n_sets, z, verdict, answer,
                     findings)


# -- grouping --------------------------------------------------------------------------------

_Assign = Any  # Callable[[TrialRecord], tuple[str, dict[str, Any]] | None]


def _grouping(recs: RoundRecords, target: str | None, buckets: int
              ) -> tuple[list[str], bool, _Assign] | None:
    params = recs.spec.params
    if target is None:
        names = [k for k, p in params.items() if p.role == "target"]
        if not names:
            return None

        def by_group(t: TrialRecord) -> tuple[str, dict[str, Any]] | None:
            g = {k: t.group.get(k, t.config.get(k)) for k in names}
            return group_label(g), g

        return names, False, by_group
    tuned = [k for k, p in params.items() if p.role in ("target", "nuisance")]
    if target not in tuned:
        import difflib

        near = difflib.get_close_matches(target, tuned, n=1)
        raise SpecError("--target", f"a target or nuisance hyperparameter of round "
                        f"{recs.record.name} ({tuned})", target,
                        (f"Did you mean '{near[0]}'? " if near else "")
                        + "A fixed hyperparameter has one value: there is nothing to compare.")
    p = params[target]
    distinct = {json.dumps(t.config.get(target), default=str) for t in recs.trials}
    if p.role == "target" or p.kind == "choice" or len(distinct) <= buckets:
        def by_value(t: TrialRecord) -> tuple[str, dict[str, Any]] | None:
            if target not in t.config:
                return None
            g = {target: t.config[target]}
            return group_label(g), g

        return [target], False, by_value
    edges = [p.from_unit(i / buckets) if i < buckets else p.high for i in range(buckets + 1)]

    def by_bucket(t: TrialRecord) -> tuple[str, dict[str, Any]] | None:
        v = t.config.get(target)
        if not isinstance(v, int | float) or (p.scale == "log" and v <= 0):
            return None
        i = min(max(int(p.to_unit(v) * buckets), 0), buckets - 1)
        lo, hi = edges[i], edges[i + 1]
        return f"{target} in [{lo:.3g}, {hi:.3g}{']' if i == buckets - 1 else ')'}", \
            {target: [lo, hi]}

    return [target], True, by_bucket


def _ordered(members: dict[str, list[TrialRecord]], gdict: dict[str, dict[str, Any]],
             recs: RoundRecords, names: list[str], bucketed: bool
             ) -> list[tuple[str, list[TrialRecord]]]:
    """Values in the order the spec lists them (buckets low to high)."""
    if bucketed:
        return sorted(members.items(), key=lambda kv: gdict[kv[0]][names[0]][0])
    order: dict[str, int] = {}
    for k in names:
        p: Param = recs.spec.params[k]
        for i, v in enumerate(p.values or p.choices or []):
            order.setdefault(f"{k}={v}", i)

    def key(kv: tuple[str, list[TrialRecord]]) -> tuple[Any, ...]:
        g = gdict[kv[0]]
        return tuple((order.get(f"{k}={g.get(k)}", 10**6), str(g.get(k))) for k in names)

    return sorted(members.items(), key=key)


# -- per value ---------------------------------------------------------------------------------


def _replicates(recs: RoundRecords) -> dict[str, list[float]]:
    """Values of completed feasible trials sharing one config (seeds or repeats), by config."""
    sets: dict[str, list[float]] = {}
    for t in recs.ranked():
        sets.setdefault(config_key(t), []).append(recs.values[t.id])
    return sets


def _pooled_std(sets: dict[str, list[float]]) -> tuple[float | None, int]:
    ss, dof, n_sets = 0.0, 0, 0
    for vals in sets.values():
        if len(vals) < 2:
            continue
        m = sum(vals) / len(vals)
        ss += sum((v - m) ** 2 for v in vals)
        dof += len(vals) - 1
        n_sets += 1
    return (math.sqrt(ss / dof) if dof else None), n_sets


def _quartiles(xs: Sequence[float]) -> Spread:
    import numpy as np

    a = np.asarray(xs, dtype=float)
    q = np.quantile(a, [0.0, 0.25, 0.5, 0.75, 1.0])
    return Spread(len(a), *(float(v) for v in q))


def _value(recs: RoundRecords, label: str, group: dict[str, Any], ts: list[TrialRecord],
           replicates: dict[str, list[float]]) -> TargetValue:
    usable = [t for t in ts if t.status == "completed" and t.feasible and t.id in recs.values]
    best_t = None
    for t in usable:
        if best_t is None or recs.better(recs.values[t.id], recs.values[best_t.id]):
            best_t = t
    mean = std = None
    seeds = 0
    if best_t is not None:
        reps = replicates.get(config_key(best_t), [])
        seeds = len(reps)
        if seeds >= 2:
            mean = sum(reps) / seeds
            std = math.sqrt(sum((v - mean) ** 2 for v in reps) / (seeds - 1))
    return TargetValue(
        label, group, recs.values[best_t.id] if best_t else None, best_t.id if best_t else None,
        _quartiles([recs.values[t.id] for t in usable]) if usable else None, len(ts),
        sum(t.status == "completed" for t in ts), len(usable),
        sum(t.status == "diverged" for t in ts), sum(t.status == "failed" for t in ts),
        mean, std, seeds)


def _z(a: TargetValue, b: TargetValue, gap: float, pooled: float | None) -> float | None:
    if pooled is None:
        return None
    if pooled == 0:
        return math.inf if gap > 0 else 0.0
    if a.seeds >= 2 and b.seeds >= 2 and a.seed_mean is not None and b.seed_mean is not None:
        # Both best configs were re-trained with seeds: compare their means, not two draws.
        se = pooled * math.sqrt(1 / a.seeds + 1 / b.seeds)
        return abs(a.seed_mean - b.seed_mean) / se
    return gap / (pooled * math.sqrt(2))


# -- findings ---------------------------------------------------------------------------------


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def _answer(recs: RoundRecords, names: list[str], winner: TargetValue | None,
            runner: TargetValue | None, gap: float | None, pooled: float | None, n_sets: int,
            z: float | None, verdict: Verdict) -> tuple[str, Finding | None]:
    what = recs.value_name
    if winner is None:
        return (f"No value of {', '.join(names)} has a completed feasible trial: the round "
                "cannot answer its question yet.", None)
    head = (f"{recs.record.question} Best: {winner.label} with {what} {_f(winner.best)} "
            f"(trial {winner.best_trial})")
    if runner is None:
        return head + "; no other value has a usable trial to compare with.", None
    head += f", then {runner.label} with {_f(runner.best)} (trial {runner.best_trial}); " \
            f"gap {_f(gap)}"
    evidence: dict[str, Any] = {"winner": winner.label, "runner_up": runner.label,
                                "best": winner.best, "runner_up_best": runner.best,
                                "trials": [winner.best_trial, runner.best_trial], "gap": gap,
                                "seed_std": pooled, "seed_configs": n_sets, "z": z}
    if verdict == "unknown":
        text = (head + ". No config was trained with more than one seed, so the gap's "
                "uncertainty is unknown.")
        return text, Finding("isolation_answer", "info", text,
                             "Re-train the best config of each of the top values with several "
                             "seeds (3-5) before acting on this ranking (checklist 3.4).",
                             evidence)
    noise = (f"seed-to-seed std {_f(pooled)} from {n_sets} config"
             f"{'s' if n_sets != 1 else ''} trained with several seeds")
    if verdict == "clear":
        text = head + f", {_f(z)} standard errors ({noise}): likely a real difference."
        return text, Finding("isolation_answer", "info", text,
                             f"Adopt {winner.label} as this round's answer; confirm against the "
                             "baseline with several seeds before promoting it (checklist 3.4).",
                             evidence)
    text = head + f", only {_f(z)} standard errors ({noise}): within seed noise."
    return text, Finding("isolation_answer", "warning", text,
                         f"Treat {winner.label} and {runner.label} as tied: re-train both with "
                         "more seeds, or prefer the simpler or cheaper one (checklist 3.4).",
                         evidence)


def _coverage(recs: RoundRecords, values: list[TargetValue],
              members: dict[str, list[TrialRecord]], bucketed: bool) -> list[Finding]:
    out: list[Finding] = []
    if len(values) < 2:
        return out
    name = recs.record.name
    # Budget = distinct nuisance configs completed: extra seeds of one config are no budget.
    counts = {v.label: len({config_key(t) for t in members[v.label]
                            if t.status == "completed"}) for v in values}
    lo, hi = min(counts.values()), max(counts.values())
    ratio, diff = (0.5, 3) if bucketed else (0.75, 2)
    if hi > 0 and lo / hi < ratio and hi - lo >= diff:
        detail = ", ".join(f"{k}: {n}" for k, n in counts.items())
        out.append(Finding(
            "unequal_budget", "warning",
            f"Target values got unequal nuisance budgets (completed configs: {detail}): the best "
            f"of more trials looks better by chance alone.",
            f"Run the missing trials (tunebook round run {name}) or compare values at an equal "
            f"number of trials (checklist 3.2: multiple trials per target value).",
            {"completed": counts}))
    out += _failures(values, name)
    out += _nuisance_span(recs, values, members)
    return out


def _failures(values: list[TargetValue], round_name: str) -> list[Finding]:
    from scipy.stats import fisher_exact

    out = []
    bad = {v.label: v.diverged + v.failed + (v.completed - v.usable) for v in values}
    total = {v.label: v.diverged + v.failed + v.completed for v in values}
    all_bad, all_n = sum(bad.values()), sum(total.values())
    for v in values:
        b, n = bad[v.label], total[v.label]
        rb, rn = all_bad - b, all_n - n
        if b < 2 or n == 0 or rn == 0 or b / n - rb / rn < 0.25:
            continue
        p = float(fisher_exact([[b, n - b], [rb, rn - rb]], alternative="greater").pvalue)
        if p >= 0.05:
            continue
        out.append(Finding(
            "failures_concentrated", "warning",
            f"Failures concentrate in {v.label}: {b} of {n} trials diverged, failed or broke a "
            f"constraint, against {rb} of {rn} for the other values; its best over nuisance "
            f"rests on fewer usable trials (Fisher p = {p:.2g}).",
            f"Find out why (tunebook trials {round_name} --status diverged) and make training "
            f"stable for {v.label} (checklist 5.2) before trusting the comparison.",
            {"value": v.label, "bad": b, "trials": n, "others_bad": rb, "others": rn,
             "p_value": p}))
    return out


def _nuisance_span(recs: RoundRecords, values: list[TargetValue],
                   members: dict[str, list[TrialRecord]]) -> list[Finding]:
    """A nuisance range covered by one value's usable trials much less than by the others'."""
    out = []
    for name, p in recs.spec.params.items():
        if p.role != "nuisance" or p.kind == "choice" or p.low is None or p.high is None \
                or p.high <= p.low:
            continue
        spans: dict[str, tuple[float, float]] = {}
        for v in values:
            us = [p.to_unit(t.config[name]) for t in members[v.label]
                  if t.status == "completed" and t.feasible and t.id in recs.values
                  and isinstance(t.config.get(name), int | float)]
            if len(us) >= 2:
                spans[v.label] = (min(us), max(us))
        if len(spans) < 2:
            continue
        widest = max(b - a for a, b in spans.values())
        for label, (a, b) in spans.items():
            if widest >= 0.5 and b - a < 0.5 * widest:
                lo, hi = p.from_unit(a), p.from_unit(b)
                out.append(Finding(
                    "nuisance_coverage", "warning",
                    f"For {label} the usable trials cover only {name} in [{lo:.3g}, {hi:.3g}] "
                    f"({b - a:.0%} of the range) while another value covers "
                    f"{widest:.0%}: its best over {name} may be missed.",
                    f"Add trials for {label} across {name}'s range, or find why the others "
                    f"failed, before comparing (checklist 3.2).",
                    {"value": label, "param": name, "covered": [lo, hi],
                     "share": b - a, "widest_share": widest}))
    return out


def _target_edge(recs: RoundRecords, names: list[str], bucketed: bool,
                 values: list[TargetValue], winner: TargetValue | None) -> list[Finding]:
    """The best value of a single numeric target is the smallest or largest one tested."""
    if winner is None or bucketed or len(names) != 1 or len(values) < 3:
        return []
    name = names[0]
    nums = [v.group.get(name) for v in values]
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in nums):
        return []
    x = winner.group[name]
    if x not in (min(nums), max(nums)):  # type: ignore[type-var]
        return []
    side = "largest" if x == max(nums) else "smallest"  # type: ignore[type-var]
    return [Finding(
        "target_edge", "info",
        f"The best {name} is the {side} value tested ({x}): the trend may continue beyond it.",
        f"Consider testing {'larger' if side == 'largest' else 'smaller'} {name} values in a "
        "next round.",
        {"param": name, "value": x, "tested": nums})]
