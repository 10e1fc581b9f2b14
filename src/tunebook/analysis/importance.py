"""Hyperparameter importance for a round: which knobs mattered, within the searched ranges.

Computed by well-kept libraries, never by hand:

* ``fanova`` (default): Optuna's ``FanovaImportanceEvaluator``, the share of the value's
  variance each hyperparameter explains. Optuna's defaults (64 trees of depth 64) took 28 s of
  CPU on 1,000 trials (benchmarks/analyze.py); 16 trees of depth 8 gave the same ranking with
  shares within 0.005 in about 1 s, so those are used.
* ``ped_anova``: Optuna's ``PedAnovaImportanceEvaluator`` (Optuna's own default): which
  hyperparameters separate the top 10% of trials from the rest. Fast.
* ``permutation``: scikit-learn's permutation importance over a random forest, scored on
  out-of-fold predictions so a memorizing forest does not inflate it.

Only completed, feasible trials with a value take part (a diverged trial has no comparable
value); hyperparameters that never vary are left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from tunebook.analysis.findings import Finding
from tunebook.analysis.records import RoundRecords
from tunebook.core.errors import SpecError
from tunebook.core.space import Param

Method = Literal["fanova", "ped_anova", "permutation"]
METHODS: tuple[str, ...] = ("fanova", "ped_anova", "permutation")
MIN_TRIALS = 8
MINOR = 0.05     # a hyperparameter with a smaller share barely mattered


@dataclass(frozen=True)
class Importance:
    method: str
    trials: int
    shares: dict[str, float]     # hyperparameter -> share (sums to 1), most important first
    skipped: str                 # why nothing was computed, or ""
    findings: list[Finding]


def importance(recs: RoundRecords, method: str = "fanova", seed: int = 0) -> Importance:
    """Importance of every tuned hyperparameter that varied, as shares summing to 1.

    >>> imp = importance(load_records(store, "width"))            # doctest: +SKIP
    >>> imp.shares                                                 # doctest: +SKIP
    {'lr': 0.91, 'weight_decay': 0.06, 'width': 0.03}
    """
    if method not in METHODS:
        import difflib

        near = difflib.get_close_matches(method, METHODS, n=1)
        raise SpecError("--importance", f"one of {list(METHODS)}", method,
                        f"Did you mean '{near[0]}'?" if near else "")
    params = {k: p for k, p in recs.spec.params.items() if p.role in ("target", "nuisance")}
    ranked = recs.ranked(sweep=True)  # every config at one length, in a staged round too
    rows = [t for t in ranked if all(k in t.config for k in params)]
    varying = [k for k in params if len({repr(t.config[k]) for t in rows}) > 1]
    if not varying:
        return Importance(method, len(rows), {}, "no tuned hyperparameter varied", [])
    if len(rows) < MIN_TRIALS:
        return Importance(method, len(rows), {}, f"{len(rows)} usable trials; at least "
                          f"{MIN_TRIALS} are needed", [])
    configs = [{k: t.config[k] for k in varying} for t in rows]
    values = [recs.values[t.id] for t in rows]
    if max(values) - min(values) == 0:
        return Importance(method, len(rows), {}, "every trial has the same value", [])
    if method == "permutation":
        raw = _permutation(configs, values, {k: params[k] for k in varying}, seed)
    else:
        raw = _optuna(configs, values, {k: params[k] for k in varying}, recs.goal, method,
                      seed)
    total = sum(max(v, 0.0) for v in raw.values())
    shares = {k: (max(v, 0.0) / total if total > 0 else 0.0) for k, v in raw.items()}
    shares = dict(sorted(shares.items(), key=lambda kv: -kv[1]))
    return Importance(method, len(rows), shares, "", _findings(recs, shares, method, len(rows)))


def _optuna(configs: list[dict[str, Any]], values: list[float], params: dict[str, Param],
            goal: str, method: str, seed: int) -> dict[str, float]:
    import optuna
    from optuna.distributions import (
        BaseDistribution,
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )
    from optuna.importance import (
        FanovaImportanceEvaluator,
        PedAnovaImportanceEvaluator,
        get_param_importances,
    )

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists: dict[str, BaseDistribution] = {}
    for k, p in params.items():
        if p.role == "target" or p.kind == "choice":
            seen = list(dict.fromkeys(c[k] for c in configs))
            dists[k] = CategoricalDistribution([_categorical(v) for v in seen])
        elif p.kind == "int":
            dists[k] = IntDistribution(int(min(c[k] for c in configs)),
                                       int(max(c[k] for c in configs)), log=p.scale == "log")
        else:
            dists[k] = FloatDistribution(float(min(c[k] for c in configs)),
                                         float(max(c[k] for c in configs)),
                                         log=p.scale == "log")
    trials = [optuna.trial.create_trial(
        params={k: _categorical(c[k]) if isinstance(dists[k], CategoricalDistribution)
                else c[k] for k in params},
        distributions=dists, value=v) for c, v in zip(configs, values, strict=True)]
    study = optuna.create_study(direction="maximize" if goal == "max" else "minimize")
    study.add_trials(trials)
    evaluator: Any = (FanovaImportanceEvaluator(n_trees=16, max_depth=8, seed=seed)
                      if method == "fanova" else PedAnovaImportanceEvaluator())
    res = get_param_importances(study, evaluator=evaluator)
    return {k: float(res.get(k, 0.0)) for k in params}


def _categorical(v: Any) -> Any:
    # Optuna's categorical choices must be None, bool, int, float or str.
    return v if v is None or isinstance(v, bool | int | float | str) else str(v)


def _permutation(configs: list[dict[str, Any]], values: list[float], params: dict[str, Param],
                 seed: int) -> dict[str, float]:
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance

    cols: list[list[float]] = []
    for k, p in params.items():
        if p.role == "target" or p.kind == "choice":
            codes = {r: i for i, r in enumerate(dict.fromkeys(repr(c[k]) for c in configs))}
            cols.append([float(codes[repr(c[k])]) for c in configs])
        elif p.scale == "log":
            cols.append([math.log(c[k]) for c in configs])
        else:
            cols.append([float(c[k]) for c in configs])
    x = np.asarray(cols, dtype=float).T
    y = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    folds = rng.permutation(len(y)) % 2
    total = np.zeros(x.shape[1])
    for f in (0, 1):  # two-fold: fit on one half, permute on the other
        tr, te = folds != f, folds == f
        forest = RandomForestRegressor(n_estimators=100, min_samples_leaf=2, random_state=seed,
                                       n_jobs=1).fit(x[tr], y[tr])
        res = permutation_importance(forest, x[te], y[te], n_repeats=5, random_state=seed)
        total += res.importances_mean
    return {k: float(v) for k, v in zip(params, total, strict=True)}


def _findings(recs: RoundRecords, shares: dict[str, float], method: str,
              n: int) -> list[Finding]:
    if not shares:
        return []
    items = list(shares.items())
    ranking = ", ".join(f"{k} {v:.0%}" for k, v in items)
    minor = [k for k, v in items if v < MINOR
             and recs.spec.params[k].role == "nuisance"]
    top, share = items[0]
    what = {"fanova": "of the variance of", "ped_anova": "of what separates the top trials by",
            "permutation": "of the predictive importance for"}[method]
    message = (f"{top} matters most: {share:.0%} {what} the {recs.value_name} over {n} trials "
               f"({ranking}; {method}, within the searched ranges).")
    action = (f"Keep tuning {top} carefully in the next round"
              + (f"; {', '.join(minor)} barely mattered here and can be fixed at a good value "
                 "to spend trials elsewhere (checklist 3.2: fixed hyperparameters)."
                 if minor else "."))
    return [Finding("importance", "info", message, action,
                    {"method": method, "trials": n, "shares": shares, "minor": minor})]
