"""Warm against cold on digits: a second round that widens the lr range.

    python benchmarks/warm_digits.py                 # seeds 0-2, 100 steps, 4 + 3 + 3 trials
    python benchmarks/warm_digits.py --seeds 0 1 2 --steps 200 --budget1 6 --budget2 4

Round 1 (explore_exploit, ``--budget1`` trials) searches lr in [1e-4, 1e-3] and weight decay;
round 2 widens lr to [1e-4, 3e-2] with ``--budget2`` trials, twice from the same seed: cold,
and with ``warm_start: [round 1]``. Same configs of the digits CNN (width 16, Adam, batch 64), same
training length; the figure is round 2's best dev accuracy (a trial's stored score).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def run(folder: Path, seed: int, steps: int, budget1: int, budget2: int) -> dict[str, Any]:
    from tunebook.core.spec import load_project, parse_round
    from tunebook.demo import prepare, write_example
    from tunebook.rounds.lifecycle import create_round
    from tunebook.store import Store
    from tunebook.workers.execute import run_round

    write_example(folder)
    prepare(folder)
    project = load_project(folder / "tunebook.yaml")
    store = Store(folder / f"warm-{seed}.db")
    fixed = {"width": {"role": "fixed", "value": 16},
             "optimizer": {"role": "fixed", "value": "adam"},
             "batch_size": {"role": "fixed", "value": 64}}
    wd = {"role": "nuisance", "type": "float", "low": 1e-6, "high": 1e-2, "scale": "log"}

    def lr(high: float) -> dict[str, Any]:
        return {"role": "nuisance", "type": "float", "low": 1e-4, "high": high, "scale": "log"}

    rounds = [("r1", {"budget": budget1, "params": {"lr": lr(1e-3), "weight_decay": wd, **fixed}}),
              ("cold", {"budget": budget2,
                        "params": {"lr": lr(3e-2), "weight_decay": wd, **fixed}}),
              ("warm", {"budget": budget2, "warm_start": ["r1"],
                        "params": {"lr": lr(3e-2), "weight_decay": wd, **fixed}})]
    out: dict[str, Any] = {"seed": seed}
    for name, extra in rounds:
        spec = {"name": name, "question": "lr and weight decay?", "seed": seed,
                "algorithm": "explore_exploit", "max_train_steps": steps, **extra}
        create_round(store, project, parse_round(spec))
        t0 = time.perf_counter()
        run_round(store, name, folder, workers=1, executor="inline", threads=1,
                  show_progress=False)
        ts = store.trials(store.round(name).id)
        out[name] = max(t.score for t in ts if t.score is not None)
        out[f"{name}_trials"] = len(ts)
        out[f"{name}_s"] = round(time.perf_counter() - t0, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--budget1", type=int, default=4)
    ap.add_argument("--budget2", type=int, default=3)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            rows.append(run(Path(tmp) / "digits", seed, args.steps, args.budget1,
                            args.budget2))
            print(json.dumps(rows[-1]), flush=True)
    print("| round 2 | best dev accuracy, median | per seed | trials per seed |")
    print("|---|---|---|---|")
    for name in ("cold", "warm"):
        print(f"| {name} | {statistics.median(r[name] for r in rows):.4f} | "
              f"{', '.join(f'{r[name]:.4f}' for r in rows)} | {rows[0][f'{name}_trials']} |")
    print(f"round 1 (lr <= 1e-3): median {statistics.median(r['r1'] for r in rows):.4f}")


if __name__ == "__main__":
    main()
