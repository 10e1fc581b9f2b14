"""Warm against cold on a second round that widens a range (COCO BBOB, offline).

Round 1 searches every dimension over [-2.5, 2.5] with tunebook's default (explore_exploit).
Round 2 widens the range to [-5, 5] (BBOB optima lie in [-4, 4], so some are outside round 1's
box) and has the same budget, searched four ways side by side on the same problems and seeds:

* tunebook cold: explore_exploit from nothing;
* tunebook warm: explore_exploit with ``warm_start`` (round 1's trials told to the model,
  through ``searcher.warm`` exactly as ``rounds.fill`` does; they never count against the
  budget);
* Optuna GPSampler cold, and warm (round 1's trials added with ``study.add_trials``, the
  way an Optuna user warm-starts a study).

The figure is round 2's best value found (log10 regret to the optimum; lower is better).

    python benchmarks/search/warm.py                       # the slice in docs/benchmarks.md
    python benchmarks/search/warm.py --functions 1 7 --instances 1
    python benchmarks/search/warm.py --report              # the table again, from warm.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

sys.path.insert(0, str(Path(__file__).parent))
from bbob import FLOOR, Problem, bbob  # noqa: E402

METHODS = ("tunebook_cold", "tunebook_warm", "optuna_gp_cold", "optuna_gp_warm")
NARROW, WIDE = 2.5, 5.0


def _space(dim: int, half: float) -> Any:
    from tunebook.core.space import Param, Space

    return Space({f"x{i}": Param(role="nuisance", type="float", low=-half, high=half)
                  for i in range(dim)})


def run_tunebook(f: Callable[[Sequence[float]], float], dim: int, half: float, budget: int,
                 seed: int, prior: list[Any]) -> list[Any]:
    """One round of explore_exploit; returns its trials (TrialRecords)."""
    from tunebook.core.trial import TrialRecord
    from tunebook.search import make_searcher

    space = _space(dim, half)
    trials: list[TrialRecord] = []
    for k in range(budget):
        searcher = make_searcher("explore_exploit", space, seed, goal="min", budget=budget)
        if prior:
            searcher.warm(prior)  # type: ignore[attr-defined]
        searcher.update(trials)
        config = searcher.suggest(1)[0]
        y = f([config[f"x{i}"] for i in range(dim)])
        trials.append(TrialRecord(id=len(prior) + k + 1000, round_id=2 if prior else 1,
                                  round="r", number=k, group={}, config=config, seed=seed,
                                  status="completed", score=y, feasible=True))
    return trials


def run_optuna(f: Callable[[Sequence[float]], float], dim: int, budget: int, seed: int,
               prior: list[Any]) -> list[float]:
    import warnings

    import optuna
    from optuna.distributions import FloatDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore")
    dists = {f"x{i}": FloatDistribution(-WIDE, WIDE) for i in range(dim)}
    study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=seed))
    study.add_trials([optuna.trial.create_trial(params=t.config, distributions=dists,
                                                value=t.score) for t in prior])
    values = []
    for _ in range(budget):
        trial = study.ask(dists)
        y = f([trial.params[f"x{i}"] for i in range(dim)])
        study.tell(trial, y)
        values.append(y)
    return values


def regret(best: float, f_opt: float) -> float:
    return math.log10(max(best - f_opt, FLOOR))


def one(problem: Problem, budget: int) -> dict[str, Any]:
    f, f_opt = bbob(problem)
    first = run_tunebook(f, problem.dim, NARROW, budget, problem.seed, [])
    out: dict[str, Any] = {"problem": problem.key,
                           "round1": regret(min(t.score for t in first), f_opt)}
    for method in METHODS:
        t0 = time.perf_counter()
        prior = first if method.endswith("warm") else []
        if method.startswith("tunebook"):
            values = [t.score for t in run_tunebook(f, problem.dim, WIDE, budget,
                                                    problem.seed + 1, prior)]
        else:
            values = run_optuna(f, problem.dim, budget, problem.seed + 1, prior)
        out[method] = regret(min(values), f_opt)
        out[f"{method}_s"] = time.perf_counter() - t0
    return out


def report(rows: list[dict[str, Any]]) -> str:
    lines = ["| round 2 by | median log10 regret | mean | best-or-tied on | vs its cold: better / "
             "worse | best of both rounds: median / mean |", "|---|---|---|---|---|---|"]
    for m in METHODS:
        vals = [r[m] for r in rows]
        best = sum(r[m] <= min(r[k] for k in METHODS) + 0.01 for r in rows)
        cold = m.replace("warm", "cold")
        pair = (f"{sum(r[m] < r[cold] - 0.01 for r in rows)} / "
                f"{sum(r[m] > r[cold] + 0.01 for r in rows)}" if m != cold else "-")
        lines.append(f"| {m} | {statistics.median(vals):.2f} | {statistics.mean(vals):.2f} | "
                     f"{best}/{len(rows)} | {pair} | "
                     f"{statistics.median(min(r[m], r['round1']) for r in rows):.2f} / "
                     f"{statistics.mean(min(r[m], r['round1']) for r in rows):.2f} |")
    r1 = statistics.median(r["round1"] for r in rows)
    lines.append(f"\nRound 1 (narrow box) median log10 regret: {r1:.2f}.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--functions", type=int, nargs="+", default=[1, 3, 7, 15, 21])
    ap.add_argument("--dims", type=int, nargs="+", default=[2])
    ap.add_argument("--instances", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--budget", type=int, default=16, help="trials per round")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("warm.jsonl"))
    ap.add_argument("--report", action="store_true", help="only the table, from --out")
    args = ap.parse_args()
    if args.report:
        print(report([json.loads(line) for line in args.out.read_text().splitlines()]))
        return
    rows = []
    for fn in args.functions:
        for dim in args.dims:
            for inst in args.instances:
                row = one(Problem(fn, dim, inst), args.budget)
                rows.append(row)
                print(json.dumps(row), flush=True)
    args.out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(report(rows))


if __name__ == "__main__":
    main()
