"""Faults: killed workers, a crowd of workers at once, a frozen worker, a restarted database.

Fast variants of the soak in benchmarks/soak.py; figures in docs/reliability.md.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import bare_round, round_dict

from tunebook.core.spec import load_project, parse_round
from tunebook.rounds.lifecycle import create_round, progress
from tunebook.store import Store
from tunebook.workers.execute import run_round, worker_loop


def _setup(project_dir: Path, url: str, budget: int, sleep: float) -> tuple[Store, str]:
    store = Store(url)
    params = {**round_dict()["params"], "sleep": {"role": "fixed", "value": sleep}}
    spec = parse_round(round_dict(name="chaos", budget=budget, params=params))
    create_round(store, load_project(project_dir / "tunebook.yaml"), spec)
    return store, spec.name


def _worker(url: str, name: str, pdir: str, lease_s: float) -> None:
    worker_loop(url, name, pdir, lease_s=lease_s, max_attempts=50, poll_s=0.05)


@pytest.mark.slow
def test_workers_killed_at_random_lose_and_duplicate_nothing(project_dir: Path,
                                                             store_url: str) -> None:
    store, name = _setup(project_dir, store_url, budget=40, sleep=0.03)
    rid = store.round(name).id
    ctx = mp.get_context("spawn")
    rng = random.Random(0)

    def start() -> mp.process.BaseProcess:
        p = ctx.Process(target=_worker, args=(store.url, name, str(project_dir), 1.0))
        p.start()
        return p

    procs = [start() for _ in range(4)]
    kills = 0
    deadline = time.time() + 240
    while not progress(store, store.round(rid)).done and time.time() < deadline:
        time.sleep(rng.uniform(0.3, 1.0))
        # Kill a worker in the middle of a trial (workers are named host:pid).
        running = [t for t in store.trials(rid, status="running") if t.worker]
        by_pid = {p.pid: p for p in procs}
        victims = [by_pid[int(t.worker.rsplit(":", 1)[1])] for t in running  # type: ignore[union-attr]
                   if int(t.worker.rsplit(":", 1)[1]) in by_pid]  # type: ignore[union-attr]
        if victims and kills < 4:  # each kill costs a new worker process (its imports)
            victim = rng.choice(victims)
            assert victim.pid is not None
            os.kill(victim.pid, signal.SIGKILL)
            victim.join()
            kills += 1
            procs = [p for p in procs if p is not victim] + [start()]
    for p in procs:
        p.join(60)
        if p.is_alive():
            p.kill()
    trials = store.trials(rid)
    assert len(trials) == 40  # the budget is exact
    assert Counter(t.status for t in trials) == {"completed": 40}  # none lost, none stuck
    assert kills >= 3
    requeued = [t for t in trials if t.meta.get("history")]
    assert requeued, "no kill landed on a running trial: the test proved nothing"
    assert all(t.attempts == len(t.meta.get("history", [])) + 1 for t in trials)


def _crowd_member(url: str, start: mp.synchronize.Barrier, queued: mp.synchronize.Event,
                  out: mp.Queue) -> None:  # type: ignore[type-arg]
    try:
        start.wait(120)  # every process has imported: all 32 open the store at once
        store = Store(url)  # 32 processes create/open the schema at once
        if not queued.wait(120):
            raise TimeoutError("the test never queued the trials")
        rid = store.round("crowd").id
        done = []
        while (c := store.claim(rid, f"p{os.getpid()}", 30)) is not None:
            store.log_points([(c[0].id, s, "train/loss", 1.0) for s in range(50)])
            store.finish(c[0].id, c[1], "completed")
            done.append(c[0].id)
        out.put(("ok", done))
    except Exception as exc:  # reported to the test, which fails on any
        out.put(("error", repr(exc)))


@pytest.mark.slow
def test_32_workers_starting_together_on_sqlite_never_hit_database_is_locked(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crowd.db'}"
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(33)  # the 32 workers and this test: no sleeps to guess import times
    queued = ctx.Event()
    out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=_crowd_member, args=(url, start, queued, out))
             for _ in range(32)]
    for p in procs:
        p.start()
    start.wait(240)
    store = Store(url)  # the test opens the schema in the same crowd
    rid = bare_round(store, "crowd").id
    store.add_trials(rid, [{"config": {"i": i}, "seed": i} for i in range(96)])
    queued.set()
    results = [out.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(30)
    errors = [r[1] for r in results if r[0] == "error"]
    assert errors == []
    ids = [i for r in results for i in r[1]]
    assert sorted(ids) == sorted(t.id for t in store.trials(rid)) and len(set(ids)) == 96


def _frozen_worker(url: str, name: str, pdir: str) -> None:
    worker_loop(url, name, pdir, lease_s=0.6, poll_s=0.05)


@pytest.mark.slow
def test_a_frozen_worker_past_its_lease_does_not_complete_twice(project_dir: Path,
                                                               store_url: str) -> None:
    store, name = _setup(project_dir, store_url, budget=1, sleep=0.15)  # ~3 s of training
    rid = store.round(name).id
    ctx = mp.get_context("spawn")
    p = ctx.Process(target=_frozen_worker, args=(store.url, name, str(project_dir)))
    p.start()
    deadline = time.time() + 120
    while store.counts(rid).get("running", 0) == 0 and time.time() < deadline:
        time.sleep(0.05)
    assert p.pid is not None
    os.kill(p.pid, signal.SIGSTOP)
    time.sleep(1.5)  # the lease (0.6 s) expires while the worker is frozen
    run_round(store, name, project_dir, executor="inline", show_progress=False)
    (t,) = store.trials(rid)
    assert t.status == "completed" and t.attempts == 2
    assert (t.worker or "").startswith("inline")
    finished_at = t.finished_at
    os.kill(p.pid, signal.SIGCONT)
    p.join(60)
    assert p.exitcode == 0  # the late worker noticed, dropped its result and left cleanly
    (after,) = store.trials(rid)
    assert (after.status, after.finished_at, after.worker) == ("completed", finished_at, t.worker)


@pytest.mark.skipif(not os.environ.get("TUNEBOOK_TEST_PG_RESTART"),
                    reason="needs TUNEBOOK_TEST_PG_RESTART (a command that restarts PostgreSQL)")
@pytest.mark.slow
def test_workers_reconnect_after_postgres_restarts(project_dir: Path, store_url: str) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    store, name = _setup(project_dir, store_url, budget=12, sleep=0.02)
    rid = store.round(name).id
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(store.url, name, str(project_dir), 20.0))
             for _ in range(2)]
    for p in procs:
        p.start()
    deadline = time.time() + 120
    while progress(store, store.round(rid)).finished < 2 and time.time() < deadline:
        time.sleep(0.1)
    subprocess.run(os.environ["TUNEBOOK_TEST_PG_RESTART"], shell=True, check=True, timeout=120)
    for p in procs:
        p.join(240)
    assert [p.exitcode for p in procs] == [0, 0]
    assert store.counts(rid) == {"completed": 12}
