"""Asynchronous (ASHA) vs synchronous short-then-long with 8 workers: idle, time to best, compute.

    python benchmarks/fidelity_async.py                 # both modes, 8 workers, 3 repeats
    python benchmarks/fidelity_async.py --record        # re-record the curves (~6 min, once)

Eight real CNN trainers on a 2-core machine shared with other jobs would measure CPU
contention, not scheduling. So the trials replay real learning curves: ``--record`` trains the
digits CNN once (``tunebook.examples.digits``, 1 torch thread, constant lr, so a shorter run
with the same seed is exactly a prefix of the full one) over the quasi-random configs of two
round seeds, with width and batch size among the nuisance hyperparameters so that trial
durations differ as they do in real tuning (here 6-30 ms a step), and stores each config's dev
accuracy and loss every 25 steps and its seconds per step in ``fidelity_curves.json``. A
replayed trial of length L sleeps ``L x seconds per step`` (in slices, logging the recorded
evaluations at steps <= L as it goes), so durations are heterogeneous, known and identical in
both modes, and the 8 workers cost the CPU next to nothing.

Both modes run the same round (same configs, same seeds; ``fidelity: {stages: 3, fraction:
0.125, keep: 0.33}``) with 8 process workers on one SQLite store, one after the other, per
round seed and repeat. Measured from the store's trial start and finish times:
- idle: the share of ``workers x wall`` not inside a trial (wall: first trial start to last
  trial finish; worker start-up is the same in both modes and left out);
- time to best: from the first trial start to the finish of the round's final best
  full-length trial (its answer);
- compute: training steps of all trials, and trial-seconds (sum of durations);
- the answer: the best full-length dev accuracy found.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tunebook.core.trial import TrialRecord

HERE = Path(__file__).resolve().parent
CURVES = HERE / "fidelity_curves.json"
STEPS = 400            # full length (the digits baseline's max_train_steps)
EVAL_EVERY = 25
BUDGET = 32            # stage-1 configs per round seed
SEEDS = (0, 1)
FIDELITY: dict[str, Any] = {"stages": 3, "fraction": 0.125, "keep": 0.33}

PARAMS: dict[str, Any] = {
    "lr": {"role": "nuisance", "type": "float", "low": 1e-4, "high": 3e-2, "scale": "log"},
    "weight_decay": {"role": "nuisance", "type": "float", "low": 1e-6, "high": 1e-2,
                     "scale": "log"},
    "width": {"role": "nuisance", "type": "choice", "choices": [8, 16, 32]},
    "batch_size": {"role": "nuisance", "type": "choice", "choices": [32, 64, 128]},
    "optimizer": {"role": "fixed", "value": "adam"},
}

REPLAY_PY = '''
"""Replay a learning curve recorded from the digits CNN (benchmarks/fidelity_async.py)."""
import json, os, time

# What an asynchronous round's worker imports at its first suggestion (the searcher's scipy, ~2 s
# a process on the loaded 2-core box): imported here, at worker start, in both modes, so that
# one-time start-up cost does not count as scheduling idle (a synchronous round's workers never
# suggest: the parent queued every stage-1 config).
import scipy.stats.qmc  # noqa: F401

CURVES = {c["key"]: c for c in json.load(open(os.environ["TUNEBOOK_REPLAY"]))["configs"]}


def key(config):
    return ",".join(f"{k}={float(config[k]):.6g}" for k in sorted(
        ("lr", "weight_decay", "width", "batch_size")))


def train(config, run):
    rec = CURVES[key(config)]
    length = int(config["max_train_steps"])
    scale = float(os.environ.get("TUNEBOOK_REPLAY_SCALE", "1"))
    done = 0
    for step, acc, loss in rec["curve"]:
        if step > length:
            break
        time.sleep(scale * (rec["seconds_per_step"] * (step - done) + rec["seconds_per_eval"]))
        done = step
        run.log(step, dev_accuracy=acc, dev_loss=loss)
    time.sleep(scale * rec["seconds_per_step"] * (length - done))
'''


def key(config: dict[str, Any]) -> str:
    return ",".join(f"{k}={float(config[k]):.6g}" for k in sorted(
        ("lr", "weight_decay", "width", "batch_size")))


def _spec(name: str, seed: int, extra: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "question": "What lr, weight decay, width and batch size?",
            "algorithm": "quasi_random", "budget": BUDGET, "seed": seed,
            "max_train_steps": STEPS, "params": PARAMS, **extra}


def _project(folder: Path, pipeline: str | None = None) -> Any:
    from tunebook.core.spec import load_project
    from tunebook.core.yamlio import dump_yaml, load_yaml
    from tunebook.demo import prepare, write_example

    write_example(folder)
    prepare(folder)
    doc = load_yaml(folder / "tunebook.yaml")
    doc["eval_every"] = EVAL_EVERY
    if pipeline:
        doc["pipeline"] = pipeline
    (folder / "tunebook.yaml").write_text(dump_yaml(doc))
    return load_project(folder / "tunebook.yaml")


def _train_one(job: tuple[str, dict[str, Any], int]) -> dict[str, Any]:
    """Train one config of the digits CNN at full length; its dev curve and step time."""
    import sys

    import torch

    folder, config, seed = job
    torch.set_num_threads(1)
    sys.path.insert(0, folder)
    import train as digits  # the example's own model, data and step (tunebook.examples)

    from tunebook import pytorch as tk

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    splits = digits.load_splits()
    model = digits.Net(int(config["width"]))
    opt = tk.make_optimizer(model.parameters(), config)  # constant lr: a prefix is a short run
    data = digits.batches(*splits["train"][:2], int(config["batch_size"]), gen)
    points, train_s, eval_s = [], 0.0, 0.0
    for step in range(1, STEPS + 1):
        t0 = time.perf_counter()
        digits.train_step(model, opt, next(data))
        train_s += time.perf_counter() - t0
        if step % EVAL_EVERY == 0:
            t0 = time.perf_counter()
            loss, acc = digits.evaluate(model, splits["dev"], 256)
            eval_s += time.perf_counter() - t0
            points.append([step, round(acc, 5), round(loss, 5)])
    return {"key": key(config), "seed": seed, "seconds_per_step": round(train_s / STEPS, 6),
            "seconds_per_eval": round(eval_s / len(points), 6), "curve": points}


def record(folder: Path, workers: int) -> dict[str, Any]:
    """Train every config of the round seeds once at full length (2 processes, 1 thread each)."""
    import multiprocessing as mp

    from tunebook.core.spec import parse_round
    from tunebook.rounds.lifecycle import create_round
    from tunebook.store import Store

    project = _project(folder)
    store = Store(folder / "record.db")
    jobs = []
    for seed in SEEDS:  # the configs and seeds a round of this seed queues
        name = f"record-{seed}"
        create_round(store, project, parse_round(_spec(name, seed, {})))
        jobs += [(str(folder), t.config, t.seed) for t in store.trials(store.round(name).id)]
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(workers) as pool:
        configs = pool.map(_train_one, jobs, chunksize=1)
    return {"recorded_with": f"digits CNN (tunebook.examples.digits), {STEPS} steps, dev "
                             f"every {EVAL_EVERY}, {workers} processes x 1 torch thread, load "
                             f"average {os.getloadavg()[0]:.1f} at the end",
            "minutes": round((time.perf_counter() - t0) / 60, 1), "configs": configs}


@dataclass(frozen=True)
class Measure:
    mode: str
    seed: int
    repeat: int
    trials: int
    wall_s: float           # first trial start -> last trial finish
    idle: float             # share of workers x wall outside any trial
    to_best_s: float        # first trial start -> the final best full-length trial finished
    steps: int              # training steps of every trial
    trial_seconds: float    # sum of trial durations
    answer: float | None    # the best full-length dev accuracy


def measure(mode: str, seed: int, repeat: int, trials: list[TrialRecord], best: TrialRecord,
            workers: int) -> Measure:
    ts = [t for t in trials if t.started_at is not None and t.finished_at is not None]
    start = min(t.started_at or 0.0 for t in ts)
    end = max(t.finished_at or 0.0 for t in ts)
    wall = end - start
    busy = sum(t.duration or 0.0 for t in ts)
    return Measure(mode, seed, repeat, len(ts), round(wall, 2),
                   round(1 - busy / (workers * wall), 3),
                   round((best.finished_at or 0.0) - start, 2),
                   sum(int(t.config["max_train_steps"]) for t in ts), round(busy, 1),
                   best.score)


def compare(folder: Path, workers: int, repeats: int, scale: float) -> list[Measure]:
    from tunebook.core.spec import parse_round
    from tunebook.rounds.lifecycle import best_trials, create_round
    from tunebook.store import Store
    from tunebook.workers.execute import run_round

    os.environ["TUNEBOOK_REPLAY"] = str(CURVES)
    os.environ["TUNEBOOK_REPLAY_SCALE"] = str(scale)
    project = _project(folder, "replay:train")
    (folder / "replay.py").write_text(REPLAY_PY)
    store = Store(folder / "bench.db")
    out = []
    for repeat in range(repeats):
        for seed in SEEDS:
            for mode in ("synchronous", "asynchronous"):
                name = f"{mode}-{seed}-{repeat}"
                fid = {**FIDELITY, "promotion": mode}
                create_round(store, project, parse_round(_spec(name, seed, {"fidelity": fid})))
                run_round(store, name, folder, workers=workers, executor="processes",
                          threads=1, show_progress=False)
                rec = store.round(name)
                (best,) = best_trials(store, rec).values()
                m = measure(mode, seed, repeat, store.trials(rec.id), best, workers)
                print(json.dumps(asdict(m)), flush=True)
                out.append(m)
    return out


def table(ms: list[Measure]) -> str:
    rows = ["| mode | rounds | idle | wall s | time to best s | steps | trial-s | "
            "best dev acc |", "|---|---|---|---|---|---|---|---|"]
    for mode in ("synchronous", "asynchronous"):
        mine = [m for m in ms if m.mode == mode]

        def med(attr: str, ms_: list[Measure] = mine) -> float:
            return statistics.median(float(getattr(m, attr)) for m in ms_)

        rows.append(f"| {mode} | {len(mine)} | {med('idle'):.1%} | {med('wall_s'):.1f} | "
                    f"{med('to_best_s'):.1f} | {med('steps'):.0f} | {med('trial_seconds'):.1f} | "
                    f"{med('answer'):.4f} |")
    pairs: dict[tuple[int, int], dict[str, Measure]] = {(m.seed, m.repeat): {} for m in ms}
    for m in ms:
        pairs[(m.seed, m.repeat)][m.mode] = m
    both = [p for p in pairs.values() if len(p) == 2]
    rows.append("")
    for attr, what in (("to_best_s", "time to best"), ("wall_s", "wall"), ("idle", "idle")):
        ratios = [getattr(p["asynchronous"], attr) / getattr(p["synchronous"], attr)
                  for p in both if getattr(p["synchronous"], attr)]
        better = sum(r < 1 for r in ratios)
        rows.append(f"{what}: asynchronous / synchronous, median {statistics.median(ratios):.2f}"
                    f" over {len(ratios)} paired rounds; lower in {better} of them"
                    if ratios else "")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--record", action="store_true", help="re-record fidelity_curves.json")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0,
                    help="replay time per recorded second (smaller: a faster benchmark)")
    ap.add_argument("--stages", type=int, default=FIDELITY["stages"])
    ap.add_argument("--fraction", type=float, default=FIDELITY["fraction"])
    ap.add_argument("--keep", type=float, default=FIDELITY["keep"])
    args = ap.parse_args()
    FIDELITY.update(stages=args.stages, fraction=args.fraction, keep=args.keep)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "digits"
        if args.record:
            doc = record(folder, workers=2)
            CURVES.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
            print(f"recorded {len(doc['configs'])} configs in {doc['minutes']} min")
            return
        load = os.getloadavg()
        ms = compare(folder, args.workers, args.repeats, args.scale)
    print(f"\n{args.workers} workers, fidelity {FIDELITY}, medians over {args.repeats} repeats "
          f"x round seeds {list(SEEDS)}; load average before {load[0]:.2f}, after "
          f"{os.getloadavg()[0]:.2f}")
    print(table(ms))


if __name__ == "__main__":
    main()
