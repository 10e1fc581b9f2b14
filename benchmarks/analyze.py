"""How long reading a big round takes: ``tunebook analyze`` vs Optuna's nearest tools.

    python benchmarks/analyze.py            # 1,000 trials x 1,000 logged steps each
    python benchmarks/analyze.py --quick    # 200 trials x 200 steps, while developing

One synthetic round is written once (a width target with two values, four nuisance
hyperparameters, a planted lr optimum, divergence above lr ~ 0.3, a training loss every step and
dev accuracy and loss every 50 steps), then read by both sides in the same run:

* tunebook: ``tunebook analyze NAME`` as a fresh process (imports included; it writes the
  three PNG plots), and the same work in-process step by step.
* Optuna 5: the same trials in an Optuna SQLite storage (config, value, the dev accuracy at
  each eval step as intermediate values; diverged trials FAIL), then ``load_study``,
  ``plot_slice`` (matplotlib, saved as PNG), ``get_param_importances`` (its default evaluator,
  PED-ANOVA, and fANOVA at its defaults), ``plot_intermediate_values`` (the nearest thing to
  curve plots). Optuna has no isolation, boundary, divergence or curve diagnosis to time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import yaml

from tunebook.core.score import best_step
from tunebook.core.spec import parse_project, parse_round
from tunebook.store import Store

optuna.logging.set_verbosity(optuna.logging.WARNING)

PROJECT: dict[str, Any] = {
    "name": "bench",
    "task": {"type": "classification", "goal": "time the analysis"},
    "metrics": [{"name": "accuracy", "split": "dev", "goal": "max"},
                {"name": "loss", "split": "dev", "goal": "min"},
                {"name": "loss", "split": "train", "goal": "min"}],
    "constraints": ["dev/loss <= 3"],
    "score": "dev/accuracy",
    "pipeline": "train:train",
    "eval_every": 50,
}
PARAMS: dict[str, Any] = {
    "width": {"role": "target", "values": [64, 128]},
    "lr": {"role": "nuisance", "type": "float", "low": 1e-4, "high": 1.0, "scale": "log"},
    "weight_decay": {"role": "nuisance", "type": "float", "low": 1e-6, "high": 1e-2,
                     "scale": "log"},
    "dropout": {"role": "nuisance", "type": "float", "low": 0.0, "high": 0.5},
    "warmup": {"role": "nuisance", "type": "int", "low": 0, "high": 500},
}
EVERY = 50


def synth(n: int, steps: int, seed: int = 0) -> list[dict[str, Any]]:
    """Trials with planted structure: configs, curves (numpy), and outcome."""
    from scipy.stats import qmc

    rng = np.random.default_rng(seed)
    units = qmc.Halton(d=4, scramble=True, seed=seed).random(n)
    out = []
    s = np.arange(1, steps + 1)
    for i, u in enumerate(units):
        width = 64 if i % 2 == 0 else 128
        cfg = {"width": width, "lr": float(1e-4 * 1e4 ** u[0]),
               "weight_decay": float(1e-6 * 1e4 ** u[1]), "dropout": float(0.5 * u[2]),
               "warmup": int(u[3] * 500), "max_train_steps": steps}
        level = (0.97 - 0.08 * (math.log10(cfg["lr"]) + 1.5) ** 2 - 0.3 * (cfg["dropout"] - 0.1)
                 ** 2 + (0.01 if width == 128 else 0.0))
        loss = 2.0 * np.exp(-s / (0.15 * steps)) * (1 + 0.1 * rng.standard_normal(steps)) + 0.05
        evals = s[s % EVERY == 0]
        acc = level * (1 - np.exp(-evals / (0.2 * steps))) + 0.003 * rng.standard_normal(
            len(evals))
        diverged = cfg["lr"] > 0.3 and rng.random() < 0.8
        cut = steps if not diverged else int(steps * (0.2 + 0.5 * rng.random()))
        out.append({"config": cfg, "group": {"width": width}, "loss": loss[:cut],
                    "evals": evals[evals <= cut], "acc": acc[evals <= cut],
                    "diverged": diverged})
    return out


def write_tunebook(store: Store, name: str, trials: list[dict[str, Any]]) -> None:
    project = parse_project(PROJECT)
    spec = parse_round({"name": name, "question": "Does width 128 beat 64 once tuned?",
                        "budget": len(trials) // 2, "params": PARAMS})
    rec = store.create_round(spec, project)
    scorer = project.scorer()
    ids = store.add_trials(rec.id, [{"config": t["config"], "group": t["group"], "seed": i}
                                    for i, t in enumerate(trials)])
    rows: list[tuple[int, int, str, float]] = []
    for tid, t in zip(ids, trials, strict=True):
        claimed = store.claim(rec.id, "bench", 60)
        assert claimed is not None and claimed[0].id == tid
        rows += [(tid, int(k), "train/loss", float(v))
                 for k, v in enumerate(t["loss"], start=1)]
        curve = {int(k): {"dev/accuracy": float(a), "dev/loss": float(1 - a)}
                 for k, a in zip(t["evals"], t["acc"], strict=True)}
        rows += [(tid, k, m, v) for k, ms in curve.items() for m, v in ms.items()]
        if t["diverged"]:
            rows.append((tid, len(t["loss"]) + 1, "train/loss", math.nan))
        best = best_step(curve, scorer)
        store.finish(tid, claimed[1], "diverged" if t["diverged"] else "completed",
                     best_step=best.step, score=best.score, feasible=best.feasible,
                     best_metrics=best.metrics)
        if len(rows) >= 200_000:
            store.log_points(rows)
            rows = []
    store.log_points(rows)


def write_optuna(url: str, name: str, trials: list[dict[str, Any]]) -> None:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )
    from optuna.trial import TrialState, create_trial

    dists = {"width": CategoricalDistribution([64, 128]),
             "lr": FloatDistribution(1e-4, 1.0, log=True),
             "weight_decay": FloatDistribution(1e-6, 1e-2, log=True),
             "dropout": FloatDistribution(0.0, 0.5), "warmup": IntDistribution(0, 500)}
    frozen = []
    for t in trials:
        params = {k: t["config"][k] for k in dists}
        inter = {int(k): float(a) for k, a in zip(t["evals"], t["acc"], strict=True)}
        if t["diverged"]:
            frozen.append(create_trial(state=TrialState.FAIL, params=params, distributions=dists,
                                       intermediate_values=inter))
        else:
            frozen.append(create_trial(value=float(max(t["acc"])), params=params,
                                       distributions=dists, intermediate_values=inter))
    study = optuna.create_study(study_name=name, storage=url, direction="maximize")
    study.add_trials(frozen)


def timed(fn: Any) -> tuple[tuple[float, float], Any]:
    """(wall seconds, CPU seconds of this process) and the result.

    The machine is shared: CPU time is the steadier number when others are busy.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return (time.perf_counter() - t0, time.process_time() - c0), out


Times = dict[str, tuple[float, float]]


def bench_tunebook_inprocess(store: Store, name: str, folder: Path) -> Times:
    from tunebook.analysis.axes import axes
    from tunebook.analysis.curves import curve_report
    from tunebook.analysis.importance import importance
    from tunebook.analysis.isolation import isolation
    from tunebook.analysis.overview import analyze_round
    from tunebook.analysis.records import load_records
    from tunebook.plots import draw_round

    out: Times = {}
    out["read trials"], recs = timed(lambda: load_records(store, name))
    out["axes + boundary + divergence"], _ = timed(lambda: axes(recs, top=5))
    out["isolation"], _ = timed(lambda: isolation(recs))
    ids = [t.id for t in recs.ranked()[:5]]
    out["read top-5 curves"], curves = timed(lambda: store.curves(ids))
    out["curve diagnosis"], _ = timed(lambda: curve_report(recs, curves, top=5))
    out["importance (fANOVA 16x8)"], _ = timed(lambda: importance(recs, "fanova"))
    out["importance (PED-ANOVA)"], _ = timed(lambda: importance(recs, "ped_anova"))
    out["analyze_round total"], result = timed(lambda: analyze_round(store, name, top=5))
    out["three PNG plots"], _ = timed(lambda: draw_round(result, folder / "reports"))
    return out


def bench_cli(folder: Path, url: str, name: str) -> tuple[tuple[float, float], dict[str, Any]]:
    import resource

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(sys.path[1:] + [env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-c", "from tunebook.cli import main; main()", "analyze", name,
           "-p", str(folder / "tunebook.yaml"), "--store", url, "--json"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if res.returncode != 0:
        raise RuntimeError(res.stderr or res.stdout)
    return (wall, cpu), json.loads(res.stdout)


def bench_optuna(url: str, name: str, folder: Path, fanova_defaults: bool) -> Times:
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances
    from optuna.visualization.matplotlib import plot_intermediate_values, plot_slice

    out: Times = {}
    out["read trials"], _ = timed(
        lambda: optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False))
    study = optuna.load_study(study_name=name, storage=url)

    def slice_png() -> None:
        axs = plot_slice(study)
        fig: Any = (axs.flat[0] if hasattr(axs, "flat") else axs).figure
        fig.savefig(folder / "optuna_slice.png")

    def inter_png() -> None:
        fig: Any = plot_intermediate_values(study).figure
        fig.savefig(folder / "optuna_intermediate.png")

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["plot_slice + PNG"], _ = timed(slice_png)
        out["get_param_importances (default: PED-ANOVA)"], _ = timed(
            lambda: get_param_importances(study))
        if fanova_defaults:
            out["get_param_importances (fANOVA defaults 64x64)"], _ = timed(
                lambda: get_param_importances(study,
                                              evaluator=FanovaImportanceEvaluator(seed=0)))
        out["plot_intermediate_values + PNG"], _ = timed(inter_png)
    return out


def warm_up(folder: Path) -> None:
    """Import what both sides use and draw one figure, so in-process rows time work only
    (the fresh-process row above pays the imports)."""
    import optuna.importance  # noqa: F401
    import optuna.visualization.matplotlib  # noqa: F401
    import sklearn.ensemble  # noqa: F401
    from matplotlib.figure import Figure

    import tunebook.analysis.overview  # noqa: F401

    fig = Figure()
    fig.subplots().plot([0, 1], [0, 1])
    fig.savefig(folder / "warm.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200 trials x 200 steps")
    ap.add_argument("--trials", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--no-fanova-defaults", action="store_true",
                    help="skip Optuna's fANOVA at its defaults (slow: tens of seconds)")
    args = ap.parse_args()
    n = args.trials or (200 if args.quick else 1000)
    steps = args.steps or (200 if args.quick else 1000)
    import matplotlib

    matplotlib.use("Agg")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "tunebook.yaml").write_text(yaml.safe_dump(PROJECT))
        trials = synth(n, steps)
        store = Store(folder / "tb.db")
        build_tb, _ = timed(lambda: write_tunebook(store, "bench", trials))
        optuna_url = f"sqlite:///{folder / 'optuna.db'}"
        build_op, _ = timed(lambda: write_optuna(optuna_url, "bench", trials))
        points = sum(len(t["loss"]) + 2 * len(t["evals"]) for t in trials)
        points = sum(len(t["loss"]) + 2 * len(t["evals"]) for t in trials)
        print(f"# {n} trials x {steps} steps ({points:,} curve points); written in "
              f"{build_tb[0]:.1f} s (tunebook) and {build_op[0]:.1f} s (Optuna, eval points "
              "only)\n")
        cli, data = bench_cli(folder, store.url, "bench")
        warm_up(folder)
        tb = bench_tunebook_inprocess(store, "bench", folder)
        op = bench_optuna(optuna_url, "bench", folder, not args.no_fanova_defaults)
        print("| tunebook step | wall s | CPU s |\n|---|---:|---:|")
        for k, (w, c) in tb.items():
            print(f"| {k} | {w:.3f} | {c:.3f} |")
        print(f"| **`tunebook analyze` as a fresh process (imports, analysis, 3 PNGs, JSON)** "
              f"| **{cli[0]:.2f}** | **{cli[1]:.2f}** |\n")
        print("| Optuna step | wall s | CPU s |\n|---|---:|---:|")
        for k, (w, c) in op.items():
            print(f"| {k} | {w:.3f} | {c:.3f} |")
        keys = ("read trials", "plot_slice + PNG", "get_param_importances (default: PED-ANOVA)")
        print(f"| **read + plot_slice + get_param_importances (default), in-process** | "
              f"**{sum(op[k][0] for k in keys):.2f}** | **{sum(op[k][1] for k in keys):.2f}** |\n")
        print("tunebook findings:", ", ".join(f["code"] for f in data["findings"]))
        print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        store.close()


if __name__ == "__main__":
    main()
