"""Cost per trial of a command pipeline beyond starting the script's process.

    PYTHONPATH=src python benchmarks/command_pipeline.py            # 30 trials each, 100 steps
    PYTHONPATH=src python benchmarks/command_pipeline.py --quick    # 10 trials each

Three contenders run the same 100-step loop (one ``report``/``run.log`` of two metrics a step,
no training) in the same run, on fresh SQLite stores:
- in-process: ``pipeline: train:train`` (the loop inside the worker), per trial;
- bare process: ``python script.py`` started by ``subprocess.run`` with no tunebook around it
  (``tunebook.report`` is then a no-op): the price of starting Python and the script;
- command: ``pipeline: {command: "python script.py --lr {lr}"}``, the script reporting through
  ``tunebook.report`` to its worker.
Overhead = command - bare process: what tunebook adds per trial beyond the process start
(claim, finish, curve writes, pipe reading, the log artifact).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from tunebook.core.spec import parse_project, parse_round
from tunebook.rounds.lifecycle import create_round
from tunebook.store import Store
from tunebook.workers.execute import run_round

STEPS = 100
SCRIPT = f'''
import argparse
from tunebook import report
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, default=0.1)
a = p.parse_args()
for step in range(1, {STEPS} + 1):
    report(step, train_loss=1 / (1 + a.lr * step), dev_accuracy=0.5 + a.lr / step)
'''
TRAIN = f'''
def train(config, run):
    for step in range(1, {STEPS} + 1):
        run.log(step, train_loss=1 / (1 + config["lr"] * step),
                dev_accuracy=0.5 + config["lr"] / step)
'''
PROJECT = {
    "name": "bench", "task": {"type": "classification", "goal": "benchmark"},
    "metrics": [{"name": "accuracy", "split": "dev", "goal": "max"},
                {"name": "loss", "split": "train", "goal": "min"}],
    "score": "dev/accuracy", "eval_every": 10,
}


def cpu() -> float:
    """CPU seconds of this process and of every child it waited for (scripts, processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def per_trial(folder: Path, pipeline: object, n: int) -> tuple[float, float]:
    folder.mkdir(parents=True)
    (folder / "script.py").write_text(SCRIPT)
    (folder / "train.py").write_text(TRAIN)
    project = parse_project(dict(PROJECT, pipeline=pipeline))
    (folder / "tunebook.yaml").write_text(yaml.safe_dump(dict(PROJECT, pipeline=pipeline)))
    store = Store(folder / "s.db")
    spec = parse_round({"name": "r", "question": "q", "budget": n, "seed": 0,
                        "algorithm": "quasi_random", "params": {
                            "lr": {"role": "nuisance", "type": "float", "low": 1e-3,
                                   "high": 1.0}}})
    create_round(store, project, spec)
    t0, c0 = time.perf_counter(), cpu()
    counts = run_round(store, "r", folder, executor="inline", show_progress=False, threads=1)
    took = (time.perf_counter() - t0) / n, (cpu() - c0) / n
    assert counts == {"completed": n}, counts
    assert len(store.curve(store.trials()[0].id)) == STEPS
    store.close()
    return took


def bare(folder: Path, n: int) -> tuple[float, float]:
    folder.mkdir(parents=True)
    (folder / "script.py").write_text(SCRIPT)
    t0, c0 = time.perf_counter(), cpu()
    for i in range(n):
        subprocess.run([sys.executable, "script.py", "--lr", str(0.001 * (i + 1))], cwd=folder,
                       check=True)
    return (time.perf_counter() - t0) / n, (cpu() - c0) / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    n = 10 if args.quick else 30
    rows: dict[str, list[tuple[float, float]]] = {"in-process": [], "bare process": [],
                                                  "command": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):  # interleaved so that machine noise hits all three
            root = Path(tmp) / str(r)
            rows["in-process"].append(per_trial(root / "a", "train:train", n))
            rows["bare process"].append(bare(root / "b", n))
            rows["command"].append(per_trial(
                root / "c", {"command": "python script.py --lr {lr}"}, n))
    wall = {k: statistics.median(w for w, _ in v) * 1000 for k, v in rows.items()}
    cpu_ms = {k: statistics.median(c for _, c in v) * 1000 for k, v in rows.items()}
    print(f"{n} trials x {STEPS} steps, median of {args.repeats} repeats, ms per trial; CPU ="
          " this process + the processes it started (robust on a loaded machine)")
    print("| contender | CPU ms per trial | wall ms per trial |\n|---|---:|---:|")
    for k in rows:
        print(f"| {k} | {cpu_ms[k]:.1f} | {wall[k]:.1f} |")
    print(f"| **command - bare process (tunebook's cost per command trial)** | "
          f"**{cpu_ms['command'] - cpu_ms['bare process']:.1f}** | "
          f"{wall['command'] - wall['bare process']:.1f} |")
    print(f"| command - bare process - in-process (the subprocess path's extra) | "
          f"{cpu_ms['command'] - cpu_ms['bare process'] - cpu_ms['in-process']:.1f} | "
          f"{wall['command'] - wall['bare process'] - wall['in-process']:.1f} |")


if __name__ == "__main__":
    main()
