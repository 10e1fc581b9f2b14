"""tunebook's searchers against Optuna's samplers and random search on COCO BBOB (offline).

Every method sees the same problems with the same seed: BBOB functions f1-f24, dimensions
2, 5 and 10, instances 1-5, a budget of 20 x dimension evaluations. tunebook's searchers are
driven through the searcher interface (``update(trials)`` then ``suggest(1)``, a new searcher per
step as ``rounds.fill`` makes them) over a real ``Space`` of float nuisance parameters, without a
store. Optuna's samplers run ask-and-tell with their defaults.

    python benchmarks/search/bbob.py run --quick --jobs 2           # a small slice (minutes)
    nohup python benchmarks/search/bbob.py run --jobs 2 &           # the full suite (hours)
    python benchmarks/search/bbob.py report                         # tables (markdown)
    python benchmarks/search/bbob.py timing                         # wall time per suggestion

Results are appended to a JSON-lines file (one line per method and problem), so an interrupted
run resumes where it stopped and ``report`` works on whatever has finished.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Before numpy/torch load: one thread per job, so --jobs N uses N cores and no more.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

METHODS = ("tunebook", "tunebook_qr", "optuna_tpe", "optuna_gp", "optuna_qmc", "optuna_cmaes",
           "random")
# Not in the main table: tunebook's explore_exploit held to the GP in its model phase (timing:
# its rebuild-from-the-store cost beside Optuna's GPSampler), and the previous default (no
# local phase; the GP for budgets up to 50, TPE above): the ablation that shows what the local
# phase and the GP before it add.
EXTRA = ("tunebook_gp", "tunebook_nolocal")
LABELS = {
    "tunebook_gp": "tunebook explore_exploit, GP forced",
    "tunebook_nolocal": "tunebook previous default (no local phase; GP to 50, then TPE)",
    "tunebook": "tunebook default (explore_exploit)",
    "tunebook_qr": "tunebook quasi_random",
    "optuna_tpe": "Optuna TPE (default)",
    "optuna_gp": "Optuna GPSampler",
    "optuna_qmc": "Optuna QMCSampler",
    "optuna_cmaes": "Optuna CmaEsSampler",
    "random": "random search",
}
GROUPS = {
    "separable (f1-f5)": range(1, 6),
    "low/moderate conditioning (f6-f9)": range(6, 10),
    "high conditioning, unimodal (f10-f14)": range(10, 15),
    "multimodal, global structure (f15-f19)": range(15, 20),
    "multimodal, weak structure (f20-f24)": range(20, 25),
}
FULL = {"functions": list(range(1, 25)), "dims": [2, 5, 10], "instances": [1, 2, 3, 4, 5]}
QUICK = {"functions": [1, 2, 3, 7, 8, 10, 12, 15, 17, 21, 22], "dims": [2], "instances": [1, 2]}
FLOOR = 1e-8  # COCO's final target precision: closer than this counts as solved
TIE = 0.01  # decades of regret within which two methods tie for best
DEFAULT_OUT = Path(__file__).with_name("results.jsonl")


@dataclass(frozen=True)
class Problem:
    function: int
    dim: int
    instance: int

    @property
    def key(self) -> str:
        return f"f{self.function}_d{self.dim}_i{self.instance}"

    @property
    def seed(self) -> int:
        # The same seed for every method on this problem.
        return self.function * 1000 + self.dim * 10 + self.instance


def bbob(problem: Problem) -> tuple[Callable[[Sequence[float]], float], float]:
    """The COCO function and its optimal value f(x_opt)."""
    import cocoex

    suite = cocoex.Suite("bbob", "", f"dimensions:{problem.dim} instance_indices:"
                         f"{problem.instance} function_indices:{problem.function}")
    p = suite.get_problem_by_function_dimension_instance(problem.function, problem.dim,
                                                         problem.instance)
    # cocoex only writes x_opt to a file in the working directory; do that in a private one.
    here, tmp = os.getcwd(), tempfile.mkdtemp(prefix="bbob-")
    try:
        os.chdir(tmp)
        p._best_parameter("print")
        x_opt = np.atleast_1d(np.loadtxt("._bbob_problem_best_parameter.txt"))
    finally:
        os.chdir(here)
        shutil.rmtree(tmp, ignore_errors=True)
    f_opt = float(p(x_opt))
    return (lambda x: float(p(np.asarray(x, dtype=float)))), f_opt


# -- methods: each returns the sequence of evaluated values and the seconds per suggestion ------


def run_tunebook(algorithm: str, f: Callable[[Sequence[float]], float], dim: int, budget: int,
                 seed: int, sampler: str = "auto") -> tuple[list[float], list[float]]:
    from tunebook.core.space import Param, Space
    from tunebook.core.trial import TrialRecord
    from tunebook.search import make_searcher
    from tunebook.search.bayes import ExploreExploitSearcher

    names = [f"x{i}" for i in range(dim)]
    space = Space({n: Param(role="nuisance", type="float", low=-5.0, high=5.0) for n in names})
    trials: list[TrialRecord] = []
    values, times = [], []
    for k in range(budget):
        t0 = time.perf_counter()
        searcher = (make_searcher(algorithm, space, seed, goal="min", budget=budget)
                    if sampler == "auto" else ExploreExploitSearcher(
                        space, seed, goal="min", budget=budget, sampler=sampler))  # type: ignore[arg-type]
        searcher.update(trials)
        config = searcher.suggest(1)[0]
        times.append(time.perf_counter() - t0)
        y = f([config[n] for n in names])
        values.append(y)
        trials.append(TrialRecord(id=k, round_id=1, round="bbob", number=k, group={},
                                  config=config, seed=seed, status="completed", score=y,
                                  feasible=True))
    return values, times


def run_optuna(kind: str, f: Callable[[Sequence[float]], float], dim: int, budget: int,
               seed: int) -> tuple[list[float], list[float]]:
    import warnings

    import optuna
    from optuna.distributions import FloatDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore")
    samplers: dict[str, Callable[[], optuna.samplers.BaseSampler]] = {
        "optuna_tpe": lambda: optuna.samplers.TPESampler(seed=seed),
        "optuna_gp": lambda: optuna.samplers.GPSampler(seed=seed),
        "optuna_qmc": lambda: optuna.samplers.QMCSampler(seed=seed),
        "optuna_cmaes": lambda: optuna.samplers.CmaEsSampler(seed=seed),
    }
    study = optuna.create_study(sampler=samplers[kind]())
    dists: dict[str, optuna.distributions.BaseDistribution] = {
        f"x{i}": FloatDistribution(-5.0, 5.0) for i in range(dim)}
    values, times = [], []
    for _ in range(budget):
        t0 = time.perf_counter()
        trial = study.ask(dists)
        times.append(time.perf_counter() - t0)
        y = f([trial.params[f"x{i}"] for i in range(dim)])
        study.tell(trial, y)
        values.append(y)
    return values, times


def run_random(f: Callable[[Sequence[float]], float], dim: int, budget: int, seed: int
               ) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(seed)
    values, times = [], []
    for _ in range(budget):
        t0 = time.perf_counter()
        x = rng.uniform(-5.0, 5.0, dim)
        times.append(time.perf_counter() - t0)
        values.append(f(list(x)))
    return values, times


def run_method(method: str, f: Callable[[Sequence[float]], float], dim: int, budget: int,
               seed: int) -> tuple[list[float], list[float]]:
    if method == "tunebook":
        return run_tunebook("explore_exploit", f, dim, budget, seed)
    if method == "tunebook_gp":
        return run_tunebook("explore_exploit", f, dim, budget, seed, sampler="gp")
    if method == "tunebook_nolocal":
        import tunebook.search.bayes as bayes

        keep = bayes.LOCAL_GENERATIONS, bayes.GP_MAX_TRIALS
        bayes.LOCAL_GENERATIONS = 1 << 30  # no budget holds that many generations
        bayes.GP_MAX_TRIALS = 50
        try:
            return run_tunebook("explore_exploit", f, dim, budget, seed)
        finally:
            bayes.LOCAL_GENERATIONS, bayes.GP_MAX_TRIALS = keep
    if method == "tunebook_qr":
        return run_tunebook("quasi_random", f, dim, budget, seed)
    if method == "random":
        return run_random(f, dim, budget, seed)
    return run_optuna(method, f, dim, budget, seed)


def solve(task: tuple[str, Problem, int]) -> dict[str, Any]:
    """Run one method on one problem; the row written to the results file."""
    method, problem, per_dim = task
    f, f_opt = bbob(problem)
    budget = per_dim * problem.dim
    t0 = time.perf_counter()
    values, times = run_method(method, f, problem.dim, budget, problem.seed)
    best = min(values)
    return {"method": method, "problem": problem.key, "function": problem.function,
            "dim": problem.dim, "instance": problem.instance, "budget": budget,
            "seed": problem.seed, "best": best, "f_opt": f_opt,
            "log10_regret": math.log10(max(best - f_opt, FLOOR)),
            "wall_s": round(time.perf_counter() - t0, 3),
            "suggest_ms": suggest_ms(times)}


def suggest_ms(times: Sequence[float], at: Sequence[int] = (20, 100, 200)) -> dict[str, float]:
    """Mean milliseconds per suggestion, and the median of the five before the n-th trial."""
    out = {"mean": round(1000 * float(np.mean(times)), 2)}
    for n in at:
        if n <= len(times):
            out[str(n)] = round(1000 * float(np.median(times[n - 5:n])), 2)
    return out


# -- running ------------------------------------------------------------------------------------


def read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a kill: that task simply reruns
                continue
    return rows


def tasks(functions: Iterable[int], dims: Iterable[int], instances: Iterable[int],
          methods: Iterable[str], per_dim: int) -> list[tuple[str, Problem, int]]:
    # Small dimensions first, one instance of every function before the next instance, and all
    # methods of a problem together: a partial run still compares every method on the same,
    # evenly spread problems.
    return [(m, Problem(fn, d, i), per_dim) for d in sorted(dims) for i in instances
            for fn in functions for m in methods]


def run(todo: list[tuple[str, Problem, int]], out: Path, jobs: int, verbose: bool = True
        ) -> list[dict[str, Any]]:
    done = {(r["method"], r["problem"], r["budget"]) for r in read_rows(out)}
    todo = [t for t in todo if (t[0], t[1].key, t[2] * t[1].dim) not in done]
    if verbose:
        print(f"{len(todo)} runs to do ({len(done)} already in {out})", file=sys.stderr)

    def line(row: dict[str, Any]) -> str:
        return (f"{row['method']:13s} {row['problem']:14s} "
                f"log10 regret {row['log10_regret']:6.2f}  {row['wall_s']:7.1f}s")

    return append_runs(todo, solve, out, jobs, line if verbose else None)


def append_runs(todo: Sequence[Any], solve: Callable[[Any], dict[str, Any]], out: Path,
                jobs: int, line: Callable[[dict[str, Any]], str] | None
                ) -> list[dict[str, Any]]:
    """``solve`` each task, ``jobs`` processes at a time, appending each row to ``out`` as it
    comes; ``line`` says each on stderr. Shared with ``dltable.py``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []

    def _write(row: dict[str, Any]) -> None:
        with out.open("a") as fh:  # one line per run, flushed: a killed run loses one task
            fh.write(json.dumps(row) + "\n")
        rows.append(row)
        if line is not None:
            print(f"{len(rows)}/{len(todo)} {line(row)}", file=sys.stderr, flush=True)

    if jobs <= 1:
        for t in todo:
            _write(solve(t))
    else:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(jobs) as pool:
            for row in pool.imap_unordered(solve, todo):
                _write(row)
    return rows


# -- the report ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    label: str
    problems: int
    median: dict[str, float]  # method -> median log10 regret
    best: dict[str, float]  # method -> fraction of problems where it is best (ties count)
    rank: dict[str, float]  # method -> mean rank (1 = best)


def summarize(rows: list[dict[str, Any]], methods: Sequence[str] = METHODS
              ) -> dict[str, Summary]:
    """Per function group and overall, over the problems every method has finished."""
    by: dict[str, dict[str, float]] = {}
    info: dict[str, dict[str, Any]] = {}
    for r in rows:
        key = f"{r['problem']}@{r['budget']}"
        by.setdefault(key, {})[r["method"]] = r["log10_regret"]
        info[key] = r
    # Only the compared methods: a row of another method in the file must not take "best".
    full = {k: {m: v[m] for m in methods} for k, v in by.items() if all(m in v for m in methods)}
    sections: dict[str, list[str]] = {label: [k for k in full if info[k]["function"] in fns]
                                      for label, fns in GROUPS.items()}
    sections["overall"] = list(full)
    dims = sorted({info[k]["dim"] for k in full})
    if len(dims) > 1:
        for d in dims:
            sections[f"overall, {d}-D"] = [k for k in full if info[k]["dim"] == d]
    out = {}
    for label, keys in sections.items():
        if not keys:
            continue
        regrets = {m: [full[k][m] for k in keys] for m in methods}
        best = dict.fromkeys(methods, 0)
        ranks = dict.fromkeys(methods, 0.0)
        for k in keys:
            low = min(full[k].values())
            for m in methods:
                best[m] += full[k][m] <= low + TIE
            order = sorted(methods, key=full[k].__getitem__)
            for m in methods:
                # Ties share the average rank of their block.
                tied = [i + 1 for i, o in enumerate(order) if abs(full[k][o] - full[k][m]) <= TIE]
                ranks[m] += sum(tied) / len(tied)
        out[label] = Summary(label, len(keys),
                             {m: float(np.median(regrets[m])) for m in methods},
                             {m: best[m] / len(keys) for m in methods},
                             {m: ranks[m] / len(keys) for m in methods})
    return out


def markdown(summaries: dict[str, Summary], methods: Sequence[str] = METHODS) -> str:
    lines = []
    head = "| group | problems | " + " | ".join(LABELS[m] for m in methods) + " |"
    rule = "|---|---:|" + "---:|" * len(methods)
    for title, field, fmt in (
            ("Median log10 regret (lower is better; -8 = solved)", "median", "{:.2f}"),
            ("Fraction of problems where the method is best (ties within 0.01 decades count)",
             "best", "{:.2f}"),
            ("Mean rank (1 = best)", "rank", "{:.2f}")):
        lines += [f"**{title}**", "", head, rule]
        for s in summaries.values():
            vals: dict[str, float] = getattr(s, field)
            top = min(vals.values()) if field != "best" else max(vals.values())
            cells = []
            for m in methods:
                cell = fmt.format(vals[m])
                cells.append(f"**{cell}**" if abs(vals[m] - top) < 1e-12 else cell)
            lines.append(f"| {s.label} | {s.problems} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def timing(methods: Sequence[str], dim: int = 5, budget: int = 200) -> dict[str, dict[str, float]]:
    """Milliseconds per suggestion around the 20th, 100th and 200th trial of one run each."""
    f, _ = bbob(Problem(15, dim, 1))
    out = {}
    for m in methods:
        _, times = run_method(m, f, dim, budget, seed=0)
        out[m] = suggest_ms(times)
        print(f"{m:13s} {out[m]}", file=sys.stderr, flush=True)
    return out


def timing_from_runs(rows: list[dict[str, Any]], methods: Sequence[str] = METHODS) -> str:
    """Median over the finished runs of the time per suggestion at 20, 100 and 200 trials."""
    lines = ["| method | dim (budget) | " + " | ".join(f"{n} trials" for n in (20, 100, 200))
             + " |", "|---|---|---:|---:|---:|"]
    for m in methods:
        for d in sorted({r["dim"] for r in rows}):
            mine = [r for r in rows if r["method"] == m and r["dim"] == d]
            if not mine:
                continue
            cells = []
            for n in ("20", "100", "200"):
                vals = [r["suggest_ms"][n] for r in mine if n in r["suggest_ms"]]
                cells.append(f"{np.median(vals):.1f} ms" if vals else "-")
            lines.append(f"| {LABELS[m]} | {d} ({mine[0]['budget']}) | " + " | ".join(cells)
                         + " |")
    return "\n".join(lines)


def paired(rows: list[dict[str, Any]], base: str = "tunebook",
           methods: Sequence[str] = METHODS) -> str:
    """tunebook's default against each method problem by problem: wins, losses, ties (within
    TIE), the two-sided Wilcoxon signed-rank p-value of the paired regrets, and a 95% bootstrap
    interval (problems resampled, 10,000 times) for the difference of the pooled medians."""
    from scipy.stats import wilcoxon

    by: dict[str, dict[str, float]] = {}
    for r in rows:
        by.setdefault(f"{r['problem']}@{r['budget']}", {})[r["method"]] = r["log10_regret"]
    lines = [f"| {LABELS[base]} vs | problems | better | worse | tied | median difference "
             "(decades) | Wilcoxon p | difference of medians, 95% interval |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    rng = np.random.default_rng(0)
    for m in methods:
        if m == base:
            continue
        pairs = [(v[base], v[m]) for v in by.values() if base in v and m in v]
        if not pairs:
            continue
        diff = np.array([a - b for a, b in pairs])
        better, worse = int(np.sum(diff < -TIE)), int(np.sum(diff > TIE))
        moved = diff[np.abs(diff) > TIE]
        p = float(wilcoxon(moved).pvalue) if len(moved) else 1.0
        ours, theirs = np.array(pairs).T
        picks = rng.integers(0, len(pairs), (10_000, len(pairs)))
        boot = np.median(ours[picks], axis=1) - np.median(theirs[picks], axis=1)
        lo, hi = np.percentile(boot, [2.5, 97.5])
        lines.append(f"| {LABELS[m]} | {len(pairs)} | {better} | {worse} | "
                     f"{len(pairs) - better - worse} | {np.median(diff):+.2f} | {p:.2g} | "
                     f"{np.median(ours) - np.median(theirs):+.3f} [{lo:+.2f}, {hi:+.2f}] |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run (or resume) the comparison")
    r.add_argument("--quick", action="store_true", help=f"a small slice: {QUICK}")
    r.add_argument("--jobs", type=int, default=1, help="parallel processes (one core each)")
    r.add_argument("--functions", type=int, nargs="*")
    r.add_argument("--dims", type=int, nargs="*")
    r.add_argument("--instances", type=int, nargs="*")
    r.add_argument("--methods", nargs="*", default=list(METHODS), choices=METHODS + EXTRA)
    r.add_argument("--per-dim", type=int, default=20, help="budget = this x dimension")
    r.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p = sub.add_parser("report", help="median regret and best fraction per function group")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--dims", type=int, nargs="*")
    p.add_argument("--methods", nargs="*", default=list(METHODS), choices=METHODS + EXTRA,
                   help="the columns (add tunebook_nolocal for the ablation)")
    t = sub.add_parser("timing", help="wall time per suggestion at 20, 100 and 200 trials")
    t.add_argument("--methods", nargs="*", default=list(METHODS + EXTRA),
                   choices=METHODS + EXTRA)
    t.add_argument("--dim", type=int, default=5)
    args = ap.parse_args(argv)
    if args.cmd == "run":
        base = QUICK if args.quick else FULL
        todo = tasks(args.functions or base["functions"], args.dims or base["dims"],
                     args.instances or base["instances"], args.methods, args.per_dim)
        run(todo, args.out, args.jobs)
        print(markdown(summarize(read_rows(args.out))))
    elif args.cmd == "report":
        rows = [r for r in read_rows(args.out) if not args.dims or r["dim"] in args.dims]
        dims = sorted({r["dim"] for r in rows})
        print(f"dimensions {dims}, {len({r['problem'] for r in rows})} problems\n")
        print(markdown(summarize(rows, args.methods), args.methods))
        print("**Problem by problem (paired, same seeds)**\n")
        print(paired(rows, methods=args.methods) + "\n")
        print("**Wall time per suggestion (median over runs; n-th trial of a run)**\n")
        print(timing_from_runs(rows, args.methods))
    else:
        res = timing(args.methods, dim=args.dim)
        print("| method | " + " | ".join(f"{n} trials" for n in (20, 100, 200)) + " |")
        print("|---|---:|---:|---:|")
        for m, v in res.items():
            print(f"| {LABELS[m]} | " + " | ".join(f"{v[n]:.1f} ms" for n in ("20", "100", "200"))
                  + " |")


if __name__ == "__main__":
    main()
