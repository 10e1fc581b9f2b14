"""Promotion: re-train candidate and baseline over seeds; adopt only a gain beyond seed noise.

The decision rule (checklist 3.4), applied by :func:`seed_test`, a pure function:

1. **Statistics**: the two-sided Welch interval (default 95%) of the mean score gain
   (candidate - baseline, sign flipped for a ``min`` goal) lies wholly above 0. Welch's t fits
   small samples with unequal variances; the lower end > 0 is a one-sided test at 2.5%.
2. **Seed noise**: the mean gain exceeds the larger seed-to-seed standard deviation of the two
   arms, so the improvement is bigger than what re-running one config can show.
3. **Practice**: the mean gain is at least ``promotion.min_gain`` from the project spec.
4. **Health**: every candidate seed completed and was feasible.

Everything else is recorded as "interesting but not adopted" (a gain that fell short) or
"not better than the baseline". :func:`promote` runs the seeds as a round of kind
``promotion`` and records the decision with its evidence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from tunebook.analysis.findings import Finding
from tunebook.analysis.selection import fresh_round_name, trial_in_round
from tunebook.core.errors import NotFoundError, SpecError
from tunebook.core.score import Goal
from tunebook.core.spec import ProjectSpec, RoundSpec
from tunebook.core.trial import RoundRecord
from tunebook.store import Store

ARMS = ("candidate", "baseline")


@dataclass(frozen=True)
class SeedTest:
    """Welch's comparison of two arms of seed scores and the promotion verdict."""

    goal: Goal
    candidate: list[float]
    baseline: list[float]
    mean_candidate: float
    mean_baseline: float
    std_candidate: float
    std_baseline: float
    gain: float            # mean improvement of the candidate, in score units (> 0 is better)
    se: float
    df: float
    t: float
    p_value: float         # one-sided: the candidate is better
    ci_low: float          # two-sided interval of the gain at ``confidence``
    ci_high: float
    confidence: float
    min_gain: float
    significant: bool      # ci_low > 0
    beyond_noise: bool     # gain > the larger seed standard deviation
    practical: bool        # gain >= min_gain
    promote: bool
    reason: str


def seed_test(candidate: Sequence[float], baseline: Sequence[float], goal: Goal = "max",
              min_gain: float = 0.0, confidence: float = 0.95) -> SeedTest:
    """Decide whether the candidate's seed scores beat the baseline's by more than noise.

    >>> seed_test([0.95, 0.951, 0.949, 0.952], [0.90, 0.901, 0.899, 0.902]).promote
    True
    >>> seed_test([0.901, 0.899, 0.902], [0.90, 0.901, 0.899]).promote
    False
    """
    c = np.asarray([float(x) for x in candidate], dtype=float)
    b = np.asarray([float(x) for x in baseline], dtype=float)
    for name, arm in (("candidate", c), ("baseline", b)):
        if arm.size < 2 or not np.all(np.isfinite(arm)):
            raise SpecError(f"{name} scores", "at least 2 finite seed scores", arm.tolist(),
                            "Run more seeds (--seeds K, K >= 2); a failed seed has no score.")
    if goal not in ("max", "min"):
        raise SpecError("goal", "'max' or 'min'", goal)
    if not 0.5 < confidence < 1:
        raise SpecError("confidence", "a level in (0.5, 1)", confidence)
    if min_gain < 0:
        raise SpecError("promotion.min_gain", "a gain >= 0", min_gain)
    sign = 1.0 if goal == "max" else -1.0
    gain = sign * (float(c.mean()) - float(b.mean()))
    vc, vb = float(c.var(ddof=1)) / c.size, float(b.var(ddof=1)) / b.size
    se = math.sqrt(vc + vb)
    if se > 0:
        df = (vc + vb) ** 2 / (vc ** 2 / (c.size - 1) + vb ** 2 / (b.size - 1))
        t = gain / se
        p = float(stats.t.sf(t, df))
        half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    else:  # both arms identical across seeds: the gain is exact
        df = float(c.size + b.size - 2)
        t = math.copysign(math.inf, gain) if gain else 0.0
        p = 0.0 if gain > 0 else 1.0
        half = 0.0
    noise = max(float(c.std(ddof=1)), float(b.std(ddof=1)))
    significant = gain - half > 0
    beyond = gain > noise
    practical = gain >= min_gain and gain > 0
    promote = significant and beyond and practical
    if promote:
        reason = (f"gain {gain:.4g} (interval {gain - half:.4g} to {gain + half:.4g}) exceeds "
                  f"seed noise {noise:.4g} and the practical threshold {min_gain:g}")
    elif gain <= 0:
        reason = f"the candidate is not better (gain {gain:.4g})"
    else:
        short = [w for w, ok in (("the interval reaches 0", significant),
                                 (f"the gain is within seed noise {noise:.4g}", beyond),
                                 (f"the gain is below min_gain {min_gain:g}", practical)) if not ok]
        reason = f"gain {gain:.4g} but " + " and ".join(short)
    return SeedTest(goal, c.tolist(), b.tolist(), float(c.mean()), float(b.mean()),
                    float(c.std(ddof=1)), float(b.std(ddof=1)), gain, se, float(df), float(t), p,
                    gain - half, gain + half, confidence, min_gain, significant, beyond,
                    practical, promote, reason)


def plan_seeds(candidate: dict[str, Any], baseline: dict[str, Any], seeds: Sequence[int],
               candidate_trial: int | None = None,
               baseline_trial: int | None = None) -> list[dict[str, Any]]:
    """The trials to queue: each seed once per arm (the same seeds in both arms).

    >>> [t["group"]["arm"] for t in plan_seeds({"lr": 1}, {"lr": 2}, [7])]
    ['candidate', 'baseline']
    """
    items = []
    for s in seeds:
        for arm, config, parent in (("candidate", candidate, candidate_trial),
                                    ("baseline", baseline, baseline_trial)):
            items.append({"config": dict(config), "seed": int(s), "group": {"arm": arm},
                          "kind": "seed", "parent_id": parent})
    return items


@dataclass(frozen=True)
class PromotionResult:
    round: str                         # the promotion round that ran the seeds
    source_round: str
    candidate_trial: int
    candidate_config: dict[str, Any]
    baseline_config: dict[str, Any]
    changed: dict[str, list[Any]]      # key -> [baseline value, candidate value]
    trials: dict[str, list[int]]       # arm -> seed trial ids
    unhealthy: dict[str, list[str]]    # arm -> "trial N: status" of seeds without a score
    test: SeedTest | None
    promoted: bool
    verdict: str                       # "promoted" | "interesting but not adopted" | ...
    decision_id: int | None = None
    findings: list[Finding] = field(default_factory=list)


def judge(store: Store, record: RoundRecord, project: ProjectSpec) -> tuple[
        dict[str, list[float]], dict[str, list[int]], dict[str, list[str]]]:
    """Seed scores, trial ids and unhealthy seeds per arm of a finished promotion round."""
    scores: dict[str, list[float]] = {a: [] for a in ARMS}
    ids: dict[str, list[int]] = {a: [] for a in ARMS}
    bad: dict[str, list[str]] = {a: [] for a in ARMS}
    for t in store.trials(record.id):
        arm = str(t.group.get("arm"))
        if arm not in scores:
            continue
        ids[arm].append(t.id)
        if t.status == "completed" and t.feasible and t.score is not None:
            scores[arm].append(float(t.score))
        else:
            bad[arm].append(f"trial {t.id}: {t.status}" + ("" if t.feasible is not False
                                                             else " (infeasible)"))
    return scores, ids, bad


def promote(store: Store, project: ProjectSpec, project_dir: str | Path, round_name: str, *,
            trial_id: int | None = None, seeds: int | None = None, workers: int = 2,
            executor: str = "processes", show_progress: bool = True) -> PromotionResult:
    """Re-train the round's best (or ``trial_id``) and the baseline over seeds; decide; record.

    >>> promote(store, project, ".", "width", seeds=5).verdict  # doctest: +SKIP
    'promoted'
    """
    from tunebook.experiments.baseline import current_baseline
    from tunebook.workers.execute import run_round

    k = project.promotion.seeds if seeds is None else seeds
    if k < 2:
        raise SpecError("--seeds", "an int >= 2 (seed variance needs two runs per arm)", k)
    candidate = trial_in_round(store, round_name, trial_id)
    if candidate.status != "completed":
        raise SpecError(f"trial {candidate.id}", "a completed trial as the candidate",
                        candidate.status, "Pick a completed one with --trial ID "
                        f"(tunebook trials {round_name}).")
    base = current_baseline(store)
    if base is None:
        raise NotFoundError("no baseline is recorded in this store, so there is nothing to "
                            "compare against. Run `tunebook baseline` first.")
    base_config = dict(base.config)
    changed = {key: [base_config.get(key), candidate.config.get(key)]
               for key in sorted(set(base_config) | set(candidate.config))
               if base_config.get(key) != candidate.config.get(key)}
    if not changed:
        raise SpecError(f"trial {candidate.id} config", "a config that differs from the "
                        "baseline's", "the baseline's own config",
                        "It is already the baseline; pick another trial with --trial ID.")
    name = fresh_round_name(store, f"promote-{round_name}")
    spec = RoundSpec(name=name, budget=k, seed=project.seed,
                     question=f"Does trial {candidate.id} of {round_name} beat the baseline "
                              f"over {k} seeds?")
    record = store.create_round(spec, project, kind="promotion")
    seed_list = [project.seed * 1000 + 1 + i for i in range(k)]
    store.add_trials(record.id, plan_seeds(candidate.config, base_config, seed_list,
                                           candidate.id, base.trial_id), kind="seed")
    run_round(store, name, project_dir, workers=workers, executor=executor,
              show_progress=show_progress)
    scores, ids, bad = judge(store, record, project)
    result = decide(project, record, round_name, candidate.id, candidate.config, base_config,
                    changed, scores, ids, bad)
    payload = {
        "promoted": result.promoted, "verdict": result.verdict,
        "config": candidate.config, "trial_id": candidate.id, "round": round_name,
        "promotion_round": name, "baseline_config": base_config,
        "new_baseline": candidate.config if result.promoted else base_config,
        "previous_baseline_trial": base.trial_id, "changed": changed,
        "seed_trials": ids, "unhealthy": bad, "architecture": base.architecture,
        "test": asdict(result.test) if result.test else None,
    }
    summary = (f"trial {candidate.id} of {round_name}: {result.verdict}"
               + (f" ({result.test.reason})" if result.test else ""))
    did = store.add_decision("promotion", summary, payload, round_id=record.id)
    return replace(result, decision_id=did)


def decide(project: ProjectSpec, record: RoundRecord, source_round: str, candidate_id: int,
           candidate_config: dict[str, Any], baseline_config: dict[str, Any],
           changed: dict[str, list[Any]], scores: dict[str, list[float]],
           ids: dict[str, list[int]], bad: dict[str, list[str]]) -> PromotionResult:
    """The verdict and findings from per-arm seed scores (no store writes)."""
    goal = project.scorer().goal
    test = None
    if all(len(scores[a]) >= 2 for a in ARMS):
        test = seed_test(scores["candidate"], scores["baseline"], goal,
                         project.promotion.min_gain, project.promotion.confidence)
    promoted = bool(test and test.promote and not bad["candidate"])
    if promoted:
        verdict = "promoted"
    elif test is not None and test.gain > 0:
        verdict = "interesting but not adopted"
    elif test is None:
        verdict = "undecided: too few seeds finished"
    else:
        verdict = "not better than the baseline"
    ev: dict[str, Any] = {"round": record.name, "candidate_trial": candidate_id,
                          "scores": scores, "changed": changed}
    findings: list[Finding] = []
    if test is None:
        findings.append(Finding("promotion.undecided", "problem",
                                "Too few seeds finished with a score to compare the arms: "
                                f"{bad}.", "Look at the failed trials (tunebook trials "
                                f"{record.name}), fix the cause and run the promotion again.",
                                ev))
    elif promoted:
        findings.append(Finding("promotion.promoted", "info",
                                f"Promoted: {test.reason}.",
                                "The candidate is the new baseline; plan the next round from "
                                "it (tunebook diagnose shows where its error is).", ev))
    else:
        why = test.reason + (f"; unhealthy candidate seeds: {bad['candidate']}"
                             if bad["candidate"] else "")
        findings.append(Finding("promotion.kept", "info" if test.gain <= 0 else "warning",
                                f"Baseline kept ({verdict}): {why}.",
                                "Record the config as interesting but not adopted; to settle "
                                "a small gain run more seeds (--seeds), or move on to the next "
                                "question.", ev))
    return PromotionResult(record.name, source_round, candidate_id, candidate_config,
                           baseline_config, changed, ids, bad, test, promoted, verdict,
                           None, findings)
