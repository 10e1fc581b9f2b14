"""Workers: outcomes of trials, concurrent claims, leases, SIGTERM, resume."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import bare_round, round_dict

from tunebook.core.errors import SpecError
from tunebook.core.spec import load_project, parse_round
from tunebook.rounds.lifecycle import best_trials, create_round, progress
from tunebook.store import Store
from tunebook.workers.execute import run_round, worker_loop


def _setup(project_dir: Path, store_url: str, **over: object) -> tuple[Store, str]:
    store = Store(store_url)
    project = load_project(project_dir / "tunebook.yaml")
    spec = parse_round(round_dict(**over))
    create_round(store, project, spec)
    return store, spec.name


def test_inline_round_records_curves_best_step_and_score(project_dir: Path,
                                                          store_url: str) -> None:
    store, name = _setup(project_dir, store_url)
    counts = run_round(store, name, project_dir, executor="inline", show_progress=False)
    assert counts == {"completed": 4}
    rec = store.round(name)
    for t in store.trials(rec.id):
        curve = store.curve(t.id)
        assert sorted(s for s in curve if "dev/accuracy" in curve[s]) == [5, 10, 15, 20]
        assert t.best_step == 20 and t.feasible  # accuracy rises with steps in the toy
        assert t.score == pytest.approx(curve[20]["dev/accuracy"])
        assert t.best_metrics["dev/latency_ms"] == 1.0
    (best,) = best_trials(store, rec).values()
    assert best.score == max(t.score for t in store.trials(rec.id) if t.score is not None)


def test_divergence_failure_and_infeasible_do_not_stop_the_round(project_dir: Path,
                                                                  store_url: str) -> None:
    params = {
        "mode": {"role": "target", "values": ["ok", "diverge", "fail"]},
        "latency": {"role": "target", "values": [1.0, 50.0]},
        "lr": {"role": "nuisance", "type": "float", "low": 1e-3, "high": 1.0, "scale": "log"},
    }
    store, name = _setup(project_dir, store_url, params=params, budget=1)
    run_round(store, name, project_dir, executor="inline", show_progress=False)
    by = {(t.config["mode"], t.config["latency"]): t for t in store.trials(store.round(name).id)}
    assert by[("ok", 1.0)].status == "completed" and by[("ok", 1.0)].feasible
    slow = by[("ok", 50.0)]
    assert slow.status == "completed" and slow.feasible is False  # breaks dev/latency_ms <= 10
    div = by[("diverge", 1.0)]
    assert div.status == "diverged" and "train/loss = nan at step 5" in (div.error or "")
    fail = by[("fail", 1.0)]
    assert fail.status == "failed" and "planted failure at step 3" in (fail.error or "")
    assert "Traceback" in (fail.error or "")
    assert max(store.curve(fail.id)) == 2  # the curve up to the failure is kept
    assert set(best_trials(store, store.round(name)).keys()) == {
        '{"latency": 1.0, "mode": "ok"}'}


def _claimer(url: str, round_id: int, out: mp.Queue,  # type: ignore[type-arg]
             start: Any) -> None:
    store = Store(url)
    store.counts(round_id)  # connected and warm before the race
    start.wait(60)  # all at once: a process that started first must not drain the queue alone
    got = []
    while True:
        c = store.claim(round_id, f"p{os.getpid()}", 60)
        if c is None:
            break
        got.append(c[0].id)
        store.finish(c[0].id, c[1], "completed")
    out.put(got)


def test_concurrent_claims_by_processes_never_duplicate_or_lose(tmp_path: Path,
                                                                 store_url: str) -> None:
    store = Store(store_url)
    rid = bare_round(store, "race").id
    store.add_trials(rid, [{"config": {"i": i}, "seed": i} for i in range(120)])
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    start = ctx.Barrier(4)
    procs = [ctx.Process(target=_claimer, args=(store.url, rid, q, start)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    ids = [i for r in results for i in r]
    assert len(ids) == 120 and len(set(ids)) == 120
    assert sum(1 for r in results if r) >= 2  # the work really was shared
    assert store.counts(rid) == {"completed": 120}


@pytest.mark.slow
def test_process_executor_runs_a_round_with_two_workers(project_dir: Path,
                                                         store_url: str) -> None:
    params = {**round_dict()["params"], "sleep": {"role": "fixed", "value": 0.05}}
    store, name = _setup(project_dir, store_url, budget=6, params=params)
    counts = run_round(store, name, project_dir, workers=2, show_progress=False)
    assert counts == {"completed": 6}
    workers = Counter(t.worker for t in store.trials(store.round(name).id))
    assert len(workers) == 2


def test_resumed_round_continues_where_it_stopped(project_dir: Path, store_url: str) -> None:
    store, name = _setup(project_dir, store_url, budget=5)
    n = worker_loop(store.url, name, str(project_dir), max_trials=2)
    assert n == 2 and progress(store, store.round(name)).counts == {"completed": 2, "queued": 3}
    run_round(store, name, project_dir, executor="inline", show_progress=False)
    ts = store.trials(store.round(name).id)
    assert [t.status for t in ts] == ["completed"] * 5 and len(ts) == 5  # budget exact


def _sleepy_worker(url: str, name: str, pdir: str) -> None:
    worker_loop(url, name, pdir, lease_s=30)


def test_sigterm_requeues_the_running_trial(project_dir: Path, store_url: str) -> None:
    store, name = _setup(project_dir, store_url, budget=1,
                         params={"sleep": {"role": "fixed", "value": 0.2}})
    ctx = mp.get_context("spawn")
    p = ctx.Process(target=_sleepy_worker, args=(store.url, name, str(project_dir)))
    p.start()
    rid = store.round(name).id
    deadline = time.time() + 60
    while store.counts(rid).get("running", 0) == 0 and time.time() < deadline:
        time.sleep(0.05)
    assert p.pid is not None
    os.kill(p.pid, signal.SIGTERM)
    p.join(30)
    (t,) = store.trials(rid)
    assert t.status == "queued" and "SIGTERM" in (t.error or "")
    run_round(store, name, project_dir, executor="inline", show_progress=False)
    assert store.trial(t.id).status == "completed" and store.trial(t.id).attempts == 2


def test_bad_arguments_refused_before_any_worker(project_dir: Path, store_url: str) -> None:
    store, name = _setup(project_dir, store_url)
    with pytest.raises(SpecError, match="executor"):
        run_round(store, name, project_dir, executor="slurm")
    with pytest.raises(SpecError, match="workers"):
        run_round(store, name, project_dir, workers=0)
    (project_dir / "train.py").write_text("def other(config, run):\n    pass\n")
    with pytest.raises(SpecError, match="pipeline"):
        run_round(store, name, project_dir, executor="inline")
    assert store.counts(store.round(name).id) == {"queued": 4}
