"""tunebook's searchers against Optuna's samplers on a table of real deep-learning tuning.

The table (``dltable/<dataset>.npz``, made once by ``generate`` then ``pack``; see ``dlgen.py``
for the grid and the models, docs/benchmarks/search.md for how long it took) holds the dev
metrics of small networks trained on scikit-learn's bundled datasets over a grid of nine mixed
hyperparameters (four choices, two ordinal ints, three floats), three seeds each. A problem is
one dataset, metric and training length; its objective for a config is the mean over the three
seeds of that metric (lower is better), looked up exactly for choices and ``layers``, and at
the nearest grid point for the others (``width``, ``lr`` and ``weight_decay`` in log space,
``dropout`` linearly). The objective is deterministic, so a method's regret is exact: its best
value minus the table's best.

Every method sees the same problems with the same seeds (10 repetitions per problem), at budgets
of 20, 50 and 100 evaluations. tunebook's searchers are driven exactly as in ``bbob.py``: a new
searcher per step, ``update(trials)`` then ``suggest(1)``, over a real ``Space`` of choice, int
and log-float nuisance parameters. A method whose suggestions do not depend on the budget
(Optuna's samplers, random and quasi-random search, and tunebook's adaptive searchers when their
phases at 20 and 50 are those at 100 cut short: ``budget_free``) runs once at 100 evaluations and
is read at 20 and 50 from the same run; otherwise it runs at each budget.

    python benchmarks/search/dltable.py generate                # the table, once (~1 h, 2 jobs)
    python benchmarks/search/dltable.py pack                    # partials -> dltable/*.npz
    python benchmarks/search/dltable.py run --jobs 2            # the comparison (resumable)
    python benchmarks/search/dltable.py report                  # tables (markdown)
    python benchmarks/search/dltable.py timing                  # ms per suggestion, digits space

Results are appended to ``dlresults.jsonl`` (one line per method, problem, repetition and
budget), so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

# Before numpy/torch load: one thread per process.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

sys.path.insert(0, str(Path(__file__).parent))

import dlgen  # noqa: E402
import numpy as np  # noqa: E402
from bbob import append_runs, read_rows, suggest_ms  # noqa: E402

HERE = Path(__file__).parent
PARTIAL = HERE / "dltable-partial"
TABLE = HERE / "dltable"  # one compressed .npz per dataset
DEFAULT_OUT = HERE / "dlresults.jsonl"
BUDGETS = (20, 50, 100)
REPS = 10
TIE = 0.01  # normalized regret within which two methods tie (1% of the median-to-best gap)


@dataclass(frozen=True)
class Problem:
    name: str
    dataset: str
    metric: str  # "error" (regression: MSE) or "loss"
    slot: int  # 0: after dlgen.SHORT steps, 1: at the end (dlgen.STEPS)
    held_out: bool = False  # not looked at while choosing the default's rule


PROBLEMS = {p.name: p for p in (
    Problem("digits_error", "digits", "error", 1),
    Problem("digits_short", "digits", "loss", 0),
    Problem("breast_cancer_loss", "breast_cancer", "loss", 1, held_out=True),
    Problem("breast_cancer_short", "breast_cancer", "loss", 0, held_out=True),
)}

METHODS = ("tunebook", "tunebook_bayes", "tunebook_qr", "optuna_tpe", "optuna_gp", "random")
# Variants of tunebook's default for choosing its rule (not in the main tables).
EXTRA = ("tunebook_old", "tunebook_start10", "tunebook_start5")
LABELS = {
    "tunebook": "tunebook default (explore_exploit)",
    "tunebook_old": "tunebook previous default (start 2(d+1) in [5, 20])",
    # Rows of earlier versions of this rule, kept in the results file as its ablation
    # (not re-runnable by name): a start of 10 at every budget, and a start of 10 capped at a
    # quarter of the budget (5 of 20).
    "tunebook_start10": "tunebook, start 10",
    "tunebook_start5": "tunebook, start 10 or a quarter of the budget (5 of 20)",
    "tunebook_bayes": "tunebook bayesian",
    "tunebook_qr": "tunebook quasi_random",
    "optuna_tpe": "Optuna TPE (default)",
    "optuna_gp": "Optuna GPSampler",
    "random": "random search",
}


# -- the table and its lookup -------------------------------------------------------------------


def pack(datasets: Sequence[str]) -> list[Path]:
    """The partial JSON-lines files of ``generate`` -> ``dltable/<dataset>.npz`` (compressed)."""
    n = len(dlgen.cells())
    TABLE.mkdir(exist_ok=True)
    out = []
    for ds in datasets:
        rows = {r["cell"]: r for path in sorted(PARTIAL.glob(f"{ds}*.jsonl"))
                for r in read_rows(path)}
        if len(rows) < n:
            raise SystemExit(f"{ds}: {len(rows)}/{n} cells trained; run generate first")
        values = np.array([rows[i]["values"] for i in range(n)], dtype=np.float32)
        meta = {"dataset": ds, "grid": dlgen.GRID, "outer": dlgen.OUTER,
                "inner": dlgen.INNER, "seeds": dlgen.SEEDS, "steps": dlgen.STEPS,
                "short": dlgen.SHORT, "metrics": dlgen.METRICS,
                "shape": "(cell, lr, weight_decay, seed, [short, end], metric)",
                "train_seconds": round(sum(r["seconds"] for r in rows.values()), 1)}
        path = TABLE / f"{ds}.npz"
        np.savez_compressed(path, meta=np.array(json.dumps(meta)), values=values)
        out.append(path)
    return out


@cache
def table(dataset: str) -> np.ndarray:
    """(cell, lr, weight_decay, seed, slot, metric) for one dataset."""
    with np.load(TABLE / f"{dataset}.npz") as z:
        return z["values"]


@cache
def objective(problem: str) -> np.ndarray:
    """The problem's objective for every grid point: (cell, lr, weight_decay), seed mean."""
    p = PROBLEMS[problem]
    return table(p.dataset)[:, :, :, :, p.slot, dlgen.METRICS.index(p.metric)].mean(axis=3)


def space() -> Any:
    """The search space every method sees (the grid's ranges, not its points)."""
    from tunebook.core.space import Param, Space

    g = dlgen.GRID

    def choice(name: str) -> Param:
        return Param(role="nuisance", type="choice", choices=g[name])

    return Space({
        "optimizer": choice("optimizer"), "activation": choice("activation"),
        "batch_size": choice("batch_size"), "schedule": choice("schedule"),
        "layers": Param(role="nuisance", type="int", low=1, high=3),
        "width": Param(role="nuisance", type="int", low=16, high=64, scale="log"),
        "lr": Param(role="nuisance", type="float", low=1e-4, high=1.0, scale="log"),
        "weight_decay": Param(role="nuisance", type="float", low=1e-6, high=1e-2, scale="log"),
        "dropout": Param(role="nuisance", type="float", low=0.0, high=0.5),
    })


LOG = {"width", "lr", "weight_decay"}  # snapped to the nearest grid point in log space


def snap(name: str, value: Any) -> int:
    """The index of ``value`` on the grid of ``name`` (exact for choices and layers)."""
    grid = dlgen.GRID[name]
    if isinstance(grid[0], str) or name in ("batch_size", "layers"):
        return grid.index(value)
    if name in LOG:
        return int(np.argmin([abs(math.log(value) - math.log(x)) for x in grid]))
    return int(np.argmin([abs(value - x) for x in grid]))


def lookup(problem: str, config: dict[str, Any]) -> float:
    idx = {name: snap(name, config[name]) for name in dlgen.GRID}
    cell = 0
    for name in dlgen.OUTER:
        cell = cell * len(dlgen.GRID[name]) + idx[name]
    return float(objective(problem)[cell, idx["lr"], idx["weight_decay"]])


# -- methods: each returns the evaluated values and the seconds per suggestion ------------------


def run_tunebook(algorithm: str, f: Callable[[dict[str, Any]], float], budget: int, seed: int
                 ) -> tuple[list[float], list[float]]:
    from tunebook.core.trial import TrialRecord
    from tunebook.search import make_searcher

    s = space()
    trials: list[TrialRecord] = []
    values, times = [], []
    for k in range(budget):
        t0 = time.perf_counter()
        searcher = make_searcher(algorithm, s, seed, goal="min", budget=budget)
        searcher.update(trials)
        config = searcher.suggest(1)[0]
        times.append(time.perf_counter() - t0)
        y = f(config)
        values.append(y)
        trials.append(TrialRecord(id=k, round_id=1, round="dl", number=k, group={},
                                  config=config, seed=seed, status="completed", score=y,
                                  feasible=True))
    return values, times


def run_optuna(kind: str, f: Callable[[dict[str, Any]], float], budget: int, seed: int
               ) -> tuple[list[float], list[float]]:
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore")
    sampler = (optuna.samplers.TPESampler(seed=seed) if kind == "optuna_tpe"
               else optuna.samplers.GPSampler(seed=seed))
    study = optuna.create_study(sampler=sampler)
    dists = optuna_distributions()
    values, times = [], []
    for _ in range(budget):
        t0 = time.perf_counter()
        trial = study.ask(dists)
        times.append(time.perf_counter() - t0)
        y = f(trial.params)
        study.tell(trial, y)
        values.append(y)
    return values, times


def optuna_distributions() -> dict[str, Any]:
    """The space in Optuna's terms (the choices' own values, not their indices)."""
    from optuna.distributions import (
        BaseDistribution,
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    dists: dict[str, BaseDistribution] = {}
    for name, p in space().nuisance.items():
        if p.kind == "choice":
            dists[name] = CategoricalDistribution(p.choices)
        elif p.kind == "int":
            dists[name] = IntDistribution(int(p.low), int(p.high), log=p.scale == "log")
        else:
            dists[name] = FloatDistribution(p.low, p.high, log=p.scale == "log")
    return dists


def run_method(method: str, f: Callable[[dict[str, Any]], float], budget: int, seed: int
               ) -> tuple[list[float], list[float]]:
    algorithms = {"tunebook": "explore_exploit", "tunebook_bayes": "bayesian",
                  "tunebook_qr": "quasi_random", "random": "random"}
    if method in algorithms:
        return run_tunebook(algorithms[method], f, budget, seed)
    if method == "tunebook_old":
        with previous_default():
            return run_tunebook("explore_exploit", f, budget, seed)
    return run_optuna(method, f, budget, seed)


@contextlib.contextmanager
def previous_default() -> Iterator[None]:
    """explore_exploit as it was before the mixed-space rule: a start of 2(d+1) within [5, 20]
    (at most the budget)."""
    import tunebook.search.bayes as bayes

    keep = bayes.START_MAX_MIXED, bayes.START_SHARE_MIXED
    bayes.START_MAX_MIXED, bayes.START_SHARE_MIXED = bayes.START_MAX, 1
    try:
        yield
    finally:
        bayes.START_MAX_MIXED, bayes.START_SHARE_MIXED = keep


def budget_free(method: str, budgets: Sequence[int] = BUDGETS) -> bool:
    """Whether the method's first b suggestions are the same whatever its budget (b in
    ``budgets``): then one run at the largest budget gives every smaller one as its prefix.
    tunebook's adaptive searchers qualify when their phases at each budget are the largest
    budget's phases cut short (same start, same model, no local phase that moves)."""
    from tunebook.search.bayes import phases

    algorithms = {"tunebook": "explore_exploit", "tunebook_old": "explore_exploit",
                  "tunebook_bayes": "bayesian"}
    if method not in algorithms:
        return True
    with previous_default() if method == "tunebook_old" else contextlib.nullcontext():
        top = max(budgets)
        full = phases(algorithms[method], space(), top)
        for b in budgets:
            cut = [{**p, "last": min(p["last"], b)} for p in full if p["first"] <= b]
            if phases(algorithms[method], space(), b) != cut:
                return False
    return True


def timing(n: int, repeats: int) -> tuple[list[float], list[float]]:
    """Seconds per suggestion of tunebook's default and of Optuna's GPSampler on the same
    ``n`` .. ``n + repeats - 1`` trials, taken in turn so that both see the same load.

    Optuna's study is its own (its sampler keeps the previous fit to start the next one from,
    as in ``study.optimize``); tunebook's searcher is made anew from those trials for every
    suggestion, as ``rounds.fill`` does, with a budget of 100 (its GP up to 100 trials; above
    it would switch to TPE).
    """
    import warnings

    import optuna

    from tunebook.core.trial import TrialRecord
    from tunebook.search import make_searcher

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore")
    s = space()
    study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=0))
    dists = optuna_distributions()
    trials: list[TrialRecord] = []
    ours, theirs = [], []
    for k in range(n + repeats):
        if k >= n:
            t0 = time.perf_counter()
            searcher = make_searcher("explore_exploit", s, 0, goal="min", budget=100)
            searcher.update(trials)
            searcher.suggest(1)
            ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        trial = study.ask(dists)
        if k >= n:
            theirs.append(time.perf_counter() - t0)
        y = lookup("digits_error", trial.params)
        study.tell(trial, y)
        trials.append(TrialRecord(id=k, round_id=1, round="dl", number=k, group={},
                                  config=dict(trial.params), seed=0, status="completed",
                                  score=y, feasible=True))
    return ours, theirs


def solve(task: tuple[str, str, int, int]) -> dict[str, Any]:
    method, problem, rep, budget = task
    obj = objective(problem)
    best, median = float(obj.min()), float(np.median(obj))
    t0 = time.perf_counter()
    values, times = run_method(method, lambda c: lookup(problem, c), budget, rep)
    return {"method": method, "problem": problem, "rep": rep, "budget": budget,
            "values": [round(v, 6) for v in values], "table_best": best, "table_median": median,
            "prefix": budget_free(method),
            "wall_s": round(time.perf_counter() - t0, 3), "suggest_ms": suggest_ms(times)}


# -- running ------------------------------------------------------------------------------------


def tasks(methods: Sequence[str], problems: Sequence[str], reps: int,
          budgets: Sequence[int]) -> list[tuple[str, str, int, int]]:
    # One repetition of every problem before the next, all methods of a problem together: a
    # partial run still compares every method on the same, evenly spread problems.
    out = []
    for rep in range(reps):
        for p in problems:
            for m in methods:
                for b in ([max(budgets)] if budget_free(m, budgets) else budgets):
                    out.append((m, p, rep, b))
    return out


def run(todo: list[tuple[str, str, int, int]], out: Path, jobs: int) -> None:
    done = {(r["method"], r["problem"], r["rep"], r["budget"]) for r in read_rows(out)}
    todo = [t for t in todo if t not in done]
    print(f"{len(todo)} runs to do ({len(done)} already in {out})", file=sys.stderr)

    def line(row: dict[str, Any]) -> str:
        return (f"{row['method']:14s} {row['problem']:20s} rep {row['rep']} "
                f"@{row['budget']:3d} best {min(row['values']):.4f} "
                f"(table {row['table_best']:.4f}) {row['wall_s']:6.1f}s")

    append_runs(todo, solve, out, jobs, line)


# -- the report ---------------------------------------------------------------------------------


def regrets(rows: list[dict[str, Any]], budget: int) -> dict[tuple[str, int], dict[str, float]]:
    """(problem, rep) -> method -> normalized regret at ``budget``: (best found - table best) /
    (table median - table best); 0 = found the table's best config, 1 = no better than the
    median config."""
    out: dict[tuple[str, int], dict[str, float]] = {}
    # A run at exactly this budget wins over a longer run read as a prefix (after a rule
    # change that moves the phases at this budget only, the longer run still holds for others).
    rows = sorted(rows, key=lambda r: r["budget"] == budget)
    for r in rows:
        if r["prefix"]:
            if r["budget"] < budget:
                continue
            values = r["values"][:budget]
        elif r["budget"] == budget:
            values = r["values"]
        else:
            continue
        gap = r["table_median"] - r["table_best"]
        # Never below 0: the values were rounded to 6 decimals, the table's best was not.
        out.setdefault((r["problem"], r["rep"]), {})[r["method"]] = max(
            0.0, (min(values) - r["table_best"]) / gap)
    return out


def markdown(rows: list[dict[str, Any]], methods: Sequence[str], base: str = "tunebook") -> str:
    """Per budget: the median normalized regret per method (tuned-on, held-out and all pairs,
    then per problem), and the base method against each other one pair by pair.

    The pairs are those the base method has; a method run on fewer of them (a partial run, or
    one not run at that budget) shows its number of pairs beside its median and is left out of
    the bold "best" of that row.
    """
    from scipy.stats import wilcoxon

    lines = []
    for budget in BUDGETS:
        by = {k: v for k, v in regrets(rows, budget).items() if base in v}
        shown = [m for m in methods if any(m in v for v in by.values())]
        if not by or len(shown) < 2:
            continue
        pairs = list(by)
        sections = {"tuned on": [k for k in pairs if not PROBLEMS[k[0]].held_out],
                    "held out": [k for k in pairs if PROBLEMS[k[0]].held_out], "all": pairs}
        for name in sorted({k[0] for k in pairs}):
            tag = " (held out)" if PROBLEMS[name].held_out else ""
            sections[name + tag] = [k for k in pairs if k[0] == name]
        lines += [f"**Budget {budget}: median normalized regret (0 = the table's best config, "
                  "1 = the median config; lower is better)**", "",
                  "| problems | pairs | " + " | ".join(LABELS[m] for m in shown) + " |",
                  "|---|---:|" + "---:|" * len(shown)]
        for label, keys in sections.items():
            if not keys:
                continue
            have = {m: [by[k][m] for k in keys if m in by[k]] for m in shown}
            med = {m: float(np.median(v)) for m, v in have.items() if v}
            whole = [m for m in med if len(have[m]) == len(keys)]
            top = min(med[m] for m in whole)
            cells = []
            for m in shown:
                if m not in med:
                    cells.append("-")
                    continue
                cell = f"{med[m]:.3f}"
                if len(have[m]) < len(keys):
                    cell += f" ({len(have[m])} pairs)"
                elif med[m] <= top + 1e-12:
                    cell = f"**{cell}**"
                cells.append(cell)
            lines.append(f"| {label} | {len(keys)} | " + " | ".join(cells) + " |")
        lines += ["", f"**Budget {budget}: {LABELS[base]} against each method, pair by pair "
                  f"(problem x seed; tied within {TIE} normalized regret)**", "",
                  "| vs | pairs | better | tied | worse | Wilcoxon p | medians (default / "
                  "method) | better/tied/worse on the held-out problem |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for m in shown:
            if m == base:
                continue
            common = [k for k in pairs if m in by[k]]
            diff = np.array([by[k][base] - by[k][m] for k in common])
            held = np.array([by[k][base] - by[k][m] for k in common
                             if PROBLEMS[k[0]].held_out])
            better, worse = int(np.sum(diff < -TIE)), int(np.sum(diff > TIE))
            moved = diff[np.abs(diff) > TIE]
            p = float(wilcoxon(moved).pvalue) if len(moved) else 1.0
            hb, hw = int(np.sum(held < -TIE)), int(np.sum(held > TIE))
            ours = float(np.median([by[k][base] for k in common]))
            theirs = float(np.median([by[k][m] for k in common]))
            lines.append(f"| {LABELS[m]} | {len(diff)} | {better} | {len(diff) - better - worse}"
                         f" | {worse} | {p:.2g} | {ours:.3f} / {theirs:.3f} | "
                         f"{hb}/{len(held) - hb - hw}/{hw} |")
        lines.append("")
    return "\n".join(lines)


def timing_table(rows: list[dict[str, Any]], methods: Sequence[str]) -> str:
    lines = ["| method | 20 trials | 100 trials |", "|---|---:|---:|"]
    for m in methods:
        mine = [r for r in rows if r["method"] == m and r["budget"] == 100]
        if not mine:
            continue
        cells = []
        for n in ("20", "100"):
            vals = [r["suggest_ms"][n] for r in mine if n in r["suggest_ms"]]
            cells.append(f"{np.median(vals):.1f} ms" if vals else "-")
        lines.append(f"| {LABELS[m]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate", help="train the grid (resumable; then run pack)")
    g.add_argument("--datasets", nargs="*", default=list(dlgen.DATASETS), choices=dlgen.DATASETS)
    g.add_argument("--part", default="0/1", help="i/n: this process trains cells i mod n")
    g.add_argument("--reverse", action="store_true",
                   help="from the last cell down (a second process on a dataset)")
    k = sub.add_parser("pack", help="the trained partial files -> dltable/<dataset>.npz")
    k.add_argument("--datasets", nargs="*", default=list(dlgen.DATASETS), choices=dlgen.DATASETS)
    r = sub.add_parser("run", help="run (or resume) the comparison")
    r.add_argument("--jobs", type=int, default=1, help="parallel processes (one core each)")
    r.add_argument("--methods", nargs="*", default=list(METHODS),
                   choices=METHODS + ("tunebook_old",))
    r.add_argument("--problems", nargs="*", default=list(PROBLEMS), choices=list(PROBLEMS))
    r.add_argument("--reps", type=int, default=REPS)
    r.add_argument("--budgets", type=int, nargs="*", default=list(BUDGETS))
    r.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p = sub.add_parser("report", help="median normalized regret and paired records per budget")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--methods", nargs="*", default=list(METHODS), choices=METHODS + EXTRA)
    p.add_argument("--base", default="tunebook", choices=METHODS + EXTRA)
    t = sub.add_parser("timing", help="tunebook's GP suggestion against Optuna's GPSampler on "
                       "the same trials, interleaved (digits_error)")
    t.add_argument("--at", type=int, nargs="*", default=[20, 100])
    t.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    if args.cmd == "generate":
        PARTIAL.mkdir(exist_ok=True)
        i, n = map(int, args.part.split("/"))
        for ds in args.datasets:
            t0 = time.time()
            name = f"{ds}.jsonl" if n == 1 else f"{ds}.part{i}of{n}.jsonl"
            if args.reverse:
                name = f"{ds}.reverse.jsonl"
            dlgen.generate(ds, PARTIAL / name, (i, n), reverse=args.reverse)
            print(f"{ds}: done in {time.time() - t0:.0f}s", flush=True)
    elif args.cmd == "pack":
        for path in pack(args.datasets):
            print(path)
    elif args.cmd == "run":
        run(tasks(args.methods, args.problems, args.reps, args.budgets), args.out, args.jobs)
    elif args.cmd == "report":
        rows = read_rows(args.out)
        print(markdown(rows, args.methods, args.base))
        print("**Wall time per suggestion (median over runs at budget 100)**\n")
        print(timing_table(rows, args.methods))
    else:
        print("| trials | tunebook default (explore_exploit) | Optuna GPSampler | ratio |")
        print("|---:|---:|---:|---:|")
        for n in args.at:
            ours, theirs = timing(n, args.repeats)
            print(f"| {n} | {1000 * np.median(ours):.0f} ms | {1000 * np.median(theirs):.0f} ms "
                  f"| {np.median(ours) / np.median(theirs):.2f} |", flush=True)


if __name__ == "__main__":
    main()
