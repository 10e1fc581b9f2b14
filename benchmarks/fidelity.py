"""Short-then-long vs full-length quasi-random search on the digits project: compute to the best.

    python benchmarks/fidelity.py            # 32 configs, 600 steps, stage 1 at 10%, keep 20%
    python benchmarks/fidelity.py --quick    # 8 configs, 200 steps (while developing)

Both rounds tune lr and weight decay of the digits CNN (width 16, Adam, batch 64, constant lr)
over the same quasi-random configs with the same seeds, one after the other in the same run:
- full: every config trained for ``--steps`` steps;
- short-then-long: every config at ``--fraction`` of the steps, the best ``--keep`` share of
  them again at full length (``fidelity: {stages: 2, fraction, keep}``).

The reference is the best full-length dev accuracy (a trial's stored score: dev accuracy at its
best eval step) over both rounds; the target is 0.5 percentage points below it.

- Compute of a round (the headline): the training steps (and trial seconds) of all its trials,
  which is what it takes to know the round's answer; the answer counts when the best
  full-length trial the round found is within the target.
- First hit (an oracle's view): the steps of every trial queued before and including the first
  full-length trial at or above the target, in queue order (stage 1 first, then stage 2 best
  first). For the full round, whose queue order is arbitrary, the expected first hit over random
  orders is ``steps * (n + 1) / (g + 1)`` for ``g`` good configs among ``n``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tunebook.core.trial import TrialRecord


@dataclass(frozen=True)
class Cost:
    """What one round spent, what it found, and when it first touched the target."""

    round: str
    trials: int
    steps_total: int            # the whole round: what it takes to know its answer
    seconds_total: float        # sum of trial durations
    answer: float | None        # the best full-length dev accuracy the round found
    answer_within: bool         # answer >= target
    steps_to_first_hit: int | None      # queue order, as if one could stop there (an oracle)
    seconds_to_first_hit: float | None
    expected_first_hit_random_order: float | None


def _steps(t: TrialRecord) -> int:
    return int(t.config["max_train_steps"])


def _full(t: TrialRecord) -> bool:
    return t.meta.get("final") is not False


def cost_to_reach(name: str, trials: list[TrialRecord], target: float) -> Cost:
    """A round's compute, its answer against ``target`` (max goal), and its first hit."""
    ts = sorted((t for t in trials if t.status in ("completed", "pruned", "failed",
                                                    "diverged")), key=lambda t: t.id)
    good = [t for t in ts if _full(t) and t.score is not None and t.score >= target]
    steps = secs = 0.0
    hit = None
    for t in ts:
        steps += _steps(t)
        secs += t.duration or 0.0
        if good and t.id == good[0].id:
            hit = (int(steps), secs)
            break
    full = [t for t in ts if _full(t)]
    expected = None
    if good:
        # The full-length trials in random order: the first good one comes at (n + 1) / (g + 1).
        before = sum(_steps(t) for t in ts if not _full(t))
        per = sum(_steps(t) for t in full) / len(full)
        expected = before + per * (len(full) + 1) / (len(good) + 1)
    scores = [t.score for t in full if t.score is not None]
    answer = max(scores) if scores else None
    return Cost(name, len(ts), sum(_steps(t) for t in ts),
                round(sum(t.duration or 0.0 for t in ts), 2), answer,
                answer is not None and answer >= target, hit[0] if hit else None,
                round(hit[1], 2) if hit else None, expected)


def run(configs: int, steps: int, fraction: float, keep: float, workers: int,
        folder: Path, seed: int = 0) -> dict[str, Any]:
    from tunebook.core.spec import load_project, parse_round
    from tunebook.demo import prepare, write_example
    from tunebook.rounds.fidelity import report
    from tunebook.rounds.lifecycle import create_round
    from tunebook.store import Store
    from tunebook.workers.execute import run_round

    write_example(folder)
    prepare(folder)
    project = load_project(folder / "tunebook.yaml")
    store = Store(folder / "bench.db")
    base: dict[str, Any] = {
        "question": "What lr and weight decay?", "algorithm": "quasi_random",
        "budget": configs, "seed": seed, "max_train_steps": steps,
        "params": {"lr": {"role": "nuisance", "type": "float", "low": 1e-4, "high": 3e-2,
                          "scale": "log"},
                   "weight_decay": {"role": "nuisance", "type": "float", "low": 1e-6,
                                    "high": 1e-2, "scale": "log"},
                   "width": {"role": "fixed", "value": 16},
                   "optimizer": {"role": "fixed", "value": "adam"},
                   "batch_size": {"role": "fixed", "value": 64}}}
    fid = {"stages": 2, "fraction": fraction, "keep": keep}
    walls = {}
    for name, extra in (("full", {}), ("short-then-long", {"fidelity": fid})):
        create_round(store, project, parse_round({**base, "name": name, **extra}))
        t0 = time.perf_counter()
        run_round(store, name, folder, workers=workers, executor="processes",
                  show_progress=False)
        walls[name] = round(time.perf_counter() - t0, 1)
    trials = {name: store.trials(store.round(name).id) for name in walls}
    ref = max(t.score for ts in trials.values() for t in ts
              if _full(t) and t.score is not None)
    target = ref - 0.005
    costs = {name: cost_to_reach(name, ts, target) for name, ts in trials.items()}
    full, sl = costs["full"], costs["short-then-long"]
    ratio = sl.steps_total / full.steps_total if sl.answer_within else None
    hit = (sl.steps_to_first_hit / full.expected_first_hit_random_order
           if sl.steps_to_first_hit and full.expected_first_hit_random_order else None)
    return {"configs": configs, "steps": steps, "fidelity": fid, "workers": workers, "seed": seed,
            "reference_best_dev_accuracy": ref, "target": target, "wall_seconds": walls,
            "costs": {k: asdict(v) for k, v in costs.items()},
            "steps_ratio": ratio, "first_hit_ratio": hit,
            "seconds_ratio": round(sl.seconds_total / full.seconds_total, 3),
            "stages": asdict(report(store, store.round("short-then-long")))["stages"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="8 configs of 200 steps")
    ap.add_argument("--configs", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--fraction", type=float, default=0.1)
    ap.add_argument("--keep", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0, help="round seed (another set of configs)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dir", type=Path, default=None, help="keep the project here")
    args = ap.parse_args()
    configs = args.configs or (8 if args.quick else 32)
    steps = args.steps or (200 if args.quick else 600)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.dir or Path(tmp) / "digits"
        out = run(configs, steps, args.fraction, args.keep, args.workers, folder, args.seed)
    print(json.dumps(out, indent=2))
    full, sl = out["costs"]["full"], out["costs"]["short-then-long"]
    print(f"\nreference best dev accuracy {out['reference_best_dev_accuracy']:.4f}, "
          f"target {out['target']:.4f}")
    print(f"{'round':16} {'trials':>6} {'steps':>7} {'seconds':>8} {'answer':>7} {'within':>6} "
          f"{'1st hit':>7} {'E[1st hit]':>10}")
    for c in (full, sl):
        print(f"{c['round']:16} {c['trials']:6d} {c['steps_total']:7d} {c['seconds_total']:8.1f} "
              f"{(c['answer'] or 0):7.4f} {str(c['answer_within']):>6} "
              f"{c['steps_to_first_hit'] or '-':>7} "
              f"{(c['expected_first_hit_random_order'] or 0):10.0f}")
    for key in ("steps_ratio", "seconds_ratio", "first_hit_ratio"):
        v = out[key]
        print(f"{key}: {'-' if v is None else f'{v:.3f}'}")


if __name__ == "__main__":
    main()
