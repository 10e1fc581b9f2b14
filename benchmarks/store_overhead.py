"""Orchestration overhead and metric-logging throughput: tunebook vs Optuna vs raw sqlite3.

    python benchmarks/store_overhead.py            # 1,000 trials, 200,000 metric points
    python benchmarks/store_overhead.py --quick    # a smaller run while developing

Every contender writes to its own fresh SQLite file in the same run on the same disk.
- trial overhead: create, claim and finish one trial with no training, per trial.
  tunebook: one queued trial per ``add_trials`` call, then ``claim`` + ``finish``;
  Optuna 5: ``study.ask()`` + ``study.tell()`` with RandomSampler on RDBStorage(SQLite);
  raw sqlite3: INSERT, UPDATE running, UPDATE done, each its own transaction (the ceiling).
- metric logging: points written per second.
  tunebook: ``Run.log(step, train_loss=..., ...)`` (4 metrics a step) then ``close()``;
  Optuna: ``trial.report(value, step)`` (one value a step is all it takes);
  raw sqlite3: ``executemany`` of the same rows into the same table and index, 5,000 per commit.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna

from tunebook.core.spec import parse_project, parse_round
from tunebook.store import Store
from tunebook.store.files import ArtifactRoot
from tunebook.workers.run import Run

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _bench_round(store: Store) -> int:
    """A round with no hyperparameters (the benchmark queues its trials by hand)."""
    project = parse_project({
        "name": "bench", "task": {"type": "classification", "goal": "measure the store"},
        "metrics": [{"name": "loss", "split": "train", "goal": "min"}],
        "score": "train/loss", "pipeline": "train:train"})
    return store.create_round(parse_round({"name": "bench", "question": "q", "budget": 1}),
                              project).id


def tunebook_trials(folder: Path, n: int) -> float:
    store = Store(folder / "tb.db")
    rid = _bench_round(store)
    t0 = time.perf_counter()
    for i in range(n):
        store.add_trials(rid, [{"config": {"lr": 0.1, "i": i}, "seed": i}])
        got = store.claim(rid, "w", 60.0)
        assert got is not None
        store.finish(got[0].id, got[1], "completed", best_step=1, score=0.5, feasible=True,
                     best_metrics={"dev/accuracy": 0.5})
    return (time.perf_counter() - t0) / n


def tunebook_trials_batched(folder: Path, n: int) -> float:
    store = Store(folder / "tb2.db")
    rid = _bench_round(store)
    t0 = time.perf_counter()
    store.add_trials(rid, [{"config": {"lr": 0.1, "i": i}, "seed": i} for i in range(n)])
    for _ in range(n):
        got = store.claim(rid, "w", 60.0)
        assert got is not None
        store.finish(got[0].id, got[1], "completed", best_step=1, score=0.5, feasible=True,
                     best_metrics={"dev/accuracy": 0.5})
    return (time.perf_counter() - t0) / n


def optuna_trials(folder: Path, n: int) -> float:
    study = optuna.create_study(storage=f"sqlite:///{folder / 'optuna.db'}",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    t0 = time.perf_counter()
    for _ in range(n):
        trial = study.ask()
        trial.suggest_float("lr", 1e-4, 1.0, log=True)
        study.tell(trial, 0.5)
    return (time.perf_counter() - t0) / n


def raw_trials(folder: Path, n: int) -> float:
    db = sqlite3.connect(folder / "raw.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, config TEXT, status TEXT, score REAL)")
    t0 = time.perf_counter()
    for i in range(n):
        db.execute("BEGIN IMMEDIATE")
        cur = db.execute("INSERT INTO t (config, status) VALUES (?, 'queued')",
                         (json.dumps({"lr": 0.1, "i": i}),))
        db.execute("COMMIT")
        db.execute("BEGIN IMMEDIATE")
        db.execute("UPDATE t SET status='running' WHERE id=?", (cur.lastrowid,))
        db.execute("COMMIT")
        db.execute("BEGIN IMMEDIATE")
        db.execute("UPDATE t SET status='done', score=0.5 WHERE id=?", (cur.lastrowid,))
        db.execute("COMMIT")
    return (time.perf_counter() - t0) / n


def tunebook_logging(folder: Path, points: int) -> float:
    store = Store(folder / "tbl.db")
    rid = _bench_round(store)
    store.add_trials(rid, [{"config": {}, "seed": 0}])
    got = store.claim(rid, "w", 600.0)
    assert got is not None
    run = Run(store, got[0], got[1], eval_every=100, artifact_root=ArtifactRoot(folder / "a"),
              lease_s=600.0)
    steps = points // 4
    t0 = time.perf_counter()
    for step in range(steps):
        run.log(step, train_loss=1.0 / (step + 1), train_lr=0.1, train_grad_norm=1.5,
                train_step_ms=12.0)
    run.close()
    elapsed = time.perf_counter() - t0
    assert len(store.curve(got[0].id)) == steps
    return steps * 4 / elapsed


def optuna_logging(folder: Path, points: int) -> float:
    study = optuna.create_study(storage=f"sqlite:///{folder / 'optunal.db'}")
    trial = study.ask()
    t0 = time.perf_counter()
    for step in range(points):
        trial.report(1.0 / (step + 1), step)
    return points / (time.perf_counter() - t0)


def raw_logging(folder: Path, points: int) -> float:
    db = sqlite3.connect(folder / "rawl.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE curves (trial_id INTEGER, step INTEGER, metric TEXT, value REAL)")
    db.execute("CREATE INDEX ix ON curves (trial_id)")
    names = ("train/loss", "train/lr", "train/grad_norm", "train/step_ms")
    rows = [(1, s, m, 1.0 / (s + 1)) for s in range(points // 4) for m in names]
    t0 = time.perf_counter()
    for i in range(0, len(rows), 5000):
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO curves VALUES (?, ?, ?, ?)", rows[i:i + 5000])
        db.execute("COMMIT")
    return len(rows) / (time.perf_counter() - t0)


def main() -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n_trials = 200 if args.quick else 1000
    points = 40_000 if args.quick else 200_000
    optuna_points = 1_000 if args.quick else 3_000  # ~1.7 ms each: more only costs time
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        res = {
            "trials": n_trials,
            "ms_per_trial": {
                "tunebook (queue one, claim, finish)": 1e3 * tunebook_trials(d, n_trials),
                "tunebook (queue batch, claim, finish)": 1e3 * tunebook_trials_batched(
                    d, n_trials),
                "optuna 5 RDB sqlite (ask, tell)": 1e3 * optuna_trials(d, n_trials),
                "raw sqlite3 (3 transactions)": 1e3 * raw_trials(d, n_trials),
            },
            "points_per_s": {
                "tunebook Run.log": tunebook_logging(d, points),
                "optuna 5 trial.report": optuna_logging(d, optuna_points),
                "raw sqlite3 executemany": raw_logging(d, points),
            },
            "points": points,
        }
    print(f"per-trial orchestration overhead, {n_trials} trials (ms per trial):")
    for k, v in res["ms_per_trial"].items():
        print(f"  {k:42s} {v:8.3f}")
    print(f"metric logging, {points} points (points per second):")
    for k, v in res["points_per_s"].items():
        print(f"  {k:42s} {v:12,.0f}")
    pps = res["points_per_s"]
    print(f"tunebook / raw ceiling: {pps['tunebook Run.log'] / pps['raw sqlite3 executemany']:.2f}"
          f"; tunebook / optuna: {pps['tunebook Run.log'] / pps['optuna 5 trial.report']:.0f}x")
    return res


if __name__ == "__main__":
    main()
