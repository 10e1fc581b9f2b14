"""The worker loop: claim a trial, run the user's function, record the outcome; ``run_round``.

A worker needs only the store URL, the round name and the project folder, so the same loop runs
inline (debugging), in local processes, or on any host as ``tunebook worker``.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunebook.core.errors import (
    Interrupted,
    LeaseLost,
    SpecError,
    TrialDiverged,
    TrialFailed,
    TrialPruned,
    WorkerStopped,
)
from tunebook.core.score import best_step, formula_name, metric_key
from tunebook.core.spec import load_pipeline
from tunebook.core.trial import TrialRecord
from tunebook.rounds.fidelity import advance
from tunebook.rounds.lifecycle import fill, progress
from tunebook.rounds.pruning import make_pruner
from tunebook.store import Store
from tunebook.store.files import ArtifactRoot
from tunebook.workers.command import check_command, pipeline_function
from tunebook.workers.executors import executor_named
from tunebook.workers.gpus import assign
from tunebook.workers.lifeline import (
    Lifeline,
    die_with_parent,
    grace_s,
)
from tunebook.workers.repro import Recorder
from tunebook.workers.retention import retain
from tunebook.workers.run import Run
from tunebook.workers.threads import per_trial, set_threads

LEASE_S = float(os.environ.get("TUNEBOOK_LEASE_S", "60"))
MAX_ATTEMPTS = int(os.environ.get("TUNEBOOK_MAX_ATTEMPTS", "3"))


@dataclass(frozen=True)
class Outcome:
    trial_id: int
    status: str
    recorded: bool


def artifact_root(project_dir: str | Path) -> ArtifactRoot:
    return ArtifactRoot(os.environ.get("TUNEBOOK_ARTIFACTS")
                        or Path(project_dir) / ".tunebook" / "artifacts")


def run_trial(store: Store, trial: TrialRecord, token: str, train_fn: Callable[..., Any],
              project_dir: str | Path, *, lease_s: float = LEASE_S,
              stop: threading.Event | None = None) -> Outcome:
    """Run one claimed trial to its end and record status, best step and score."""
    record = store.round(trial.round_id)
    project = record.project
    scorer = project.scorer()
    # A retried attempt keeps its curve up to its latest checkpoint (where train() can resume
    # with run.load_checkpoint()) and rewrites the rest.
    ckpt_steps = [a.step for a in store.artifacts(trial.id, "checkpoint") if a.step is not None]
    store.drop_points_after(trial.id, max(ckpt_steps, default=-1))
    run = Run(store, trial, token, eval_every=project.eval_every,
              artifact_root=artifact_root(project_dir), lease_s=lease_s, stop=stop,
              pruner=make_pruner(store, record, trial, scorer),
              declared=frozenset(project.metric_keys))
    status, error = "completed", None
    try:
        train_fn(run.tracked, run)
    except TrialDiverged as exc:
        status, error = "diverged", f"non-finite value: {exc}"
    except TrialPruned as exc:
        status, error = "pruned", str(exc)
    except TrialFailed as exc:
        status, error = "failed", str(exc)
    except LeaseLost:
        run.close()
        return Outcome(trial.id, "lost", False)
    except WorkerStopped:
        run.close()
        store.requeue(trial.id, token, "re-queued: worker received SIGTERM")
        return Outcome(trial.id, "requeued", False)
    except Exception:
        status, error = "failed", traceback.format_exc(limit=20)
    finally:
        run.close()
    curve = store.curve(trial.id)
    best = best_step(curve, scorer)
    if status == "completed" and best.score is None:
        status, error = "failed", missing_score(curve, scorer.needs, run.undeclared)
    recorded = store.finish(trial.id, token, status, error=error, best_step=best.step,
                            score=best.score, feasible=best.feasible, best_metrics=best.metrics)
    if recorded:  # the project's retention: the N best checkpoints and the latest
        policy = project.checkpoints
        retain(store, run.artifacts, trial.id, scorer, policy.keep_best, policy.keep_latest)
    return Outcome(trial.id, status, recorded)


def missing_score(curve: dict[int, dict[str, float]], needs: tuple[str, ...],
                  undeclared: dict[str, str | None]) -> str:
    """Why a trial that returned normally has no score: one line naming the fix."""
    logged = sorted({k for point in curve.values() for k in point})
    if not logged:
        return ("train() returned without logging any metric: call run.log(step, ...) with "
                f"the score's metrics ({', '.join(formula_name(n) for n in needs)})")
    never = [n for n in needs if not any(n in point for point in curve.values())]
    if never:
        hints = [f"{name} (did you mean {near}?)" for name, near in undeclared.items()
                 if near is not None and metric_key(near) in never]
        return (f"the score needs {', '.join(formula_name(n) for n in never)}, never logged; "
                f"logged: {', '.join(hints or logged[:8])}")
    return ("no step logged every metric the score needs "
            f"({', '.join(formula_name(n) for n in needs)}) together: log them at the same step")


def worker_loop(store_url: str, round_name: str, project_dir: str, *, worker: str | None = None,
                lease_s: float = LEASE_S, poll_s: float = 0.2, threads: int | None = None,
                max_trials: int | None = None, max_attempts: int = MAX_ATTEMPTS,
                on_outcome: Callable[[Outcome], None] | None = None,
                lifeline: Lifeline | None = None) -> int:
    """Claim and run trials of ``round_name`` until the round is finished. Returns trials run.

    SIGTERM (and Ctrl-C in a foreground worker) stops it: the running trial goes back to the
    queue at its next ``run.log``, or within the grace of ``tunebook.workers.lifeline`` if it
    never gets there, and :class:`Interrupted` is raised (exit 130 / 143).
    """
    set_threads(threads)
    store = Store(store_url)
    record = store.round(round_name)
    project = record.project
    train_fn = Recorder(pipeline_function(load_pipeline(project, project_dir), project_dir),
                        project_dir)
    set_threads(threads)  # again: the user's module may have imported torch just now
    worker = worker or f"{socket.gethostname()}:{os.getpid()}"
    ran = 0

    # A signal only raises a flag; the trial stops at its next run.log() and goes back to the
    # queue, and no store write is ever interrupted half-way. The watchdog bounds the wait.
    life = lifeline or Lifeline()
    stop = life.stop
    life.watch(store.requeue)
    try:
        with life.signals():
            while (max_trials is None or ran < max_trials) and not stop.is_set():
                store.reap(record.id, max_attempts=max_attempts)
                if record.kind == "search":
                    fill(store, record)
                    advance(store, record)  # queue a short-then-long round's next stage when due
                claimed = store.claim(record.id, worker, lease_s)
                if claimed is None:
                    if progress(store, record).done:
                        break
                    stop.wait(poll_s)  # others still running: a lease may expire and re-queue
                    continue
                trial, token = claimed
                life.hold(trial.id, token)
                try:
                    outcome = run_trial(store, trial, token, train_fn, project_dir,
                                        lease_s=lease_s, stop=stop)
                finally:
                    life.release()
                ran += 1
                if on_outcome is not None:
                    on_outcome(outcome)
    finally:
        store.close()
    if life.signum is not None:
        raise Interrupted(life.signum, f"worker {worker} stopped by "
                          f"{signal.Signals(life.signum).name} after {ran} trials; its running "
                          "trial went back to the queue")
    return ran


def process_main(store_url: str, round_name: str, project_dir: str, worker: str,
                  threads: int, lease_s: float, parent_pid: int, grace: float,
                  cuda: str | None = None) -> None:
    if cuda is not None:  # before anything could initialise CUDA in this process
        os.environ["CUDA_VISIBLE_DEVICES"] = cuda
    # Ctrl-C reaches the whole process group; the parent turns it into SIGTERM for us, which
    # re-queues the running trial cleanly instead of leaving it to a lease expiry.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    life = Lifeline(parent_pid=parent_pid, grace=grace)
    die_with_parent(parent_pid)  # a killed parent leaves no orphan training unattended
    sys.stdout = sys.stderr  # train()'s prints never mix into a parent's --json document
    try:
        worker_loop(store_url, round_name, project_dir, worker=worker, threads=threads,
                    lease_s=lease_s, lifeline=life)
    except Interrupted as exc:
        sys.exit(exc.exit_code)


def run_round(store: Store, round_name: str, project_dir: str | Path, *, workers: int = 2,
              executor: str = "processes", threads: int | None = None, lease_s: float = LEASE_S,
              show_progress: bool = True, gpus: list[str] | None = None,
              gpus_per_trial: float | None = None) -> dict[str, int]:
    """Run a round to its end with ``workers`` workers and return its status counts.

    ``gpus``: device ids to spread the workers over (``tunebook.workers.gpus``), each worker
    seeing only its own; the Ray executor asks Ray for ``gpus_per_trial`` GPUs per worker.
    """
    run_with = executor_named(executor)  # an unknown name fails here, listing the known ones
    if workers < 1:
        raise SpecError("workers", "an int >= 1", workers)
    record = store.round(round_name)
    project = record.project
    load_pipeline(project, project_dir)  # a broken entry point fails here, before any worker
    grace_s()  # a bad $TUNEBOOK_GRACE_S fails here, before any worker starts
    check_command(store, record, project_dir)
    threads = per_trial(workers, threads)
    placement: dict[str, Any] = {}
    if executor == "ray":
        placement["num_gpus"] = gpus_per_trial if gpus_per_trial is not None else (
            1.0 if gpus else 0.0)
    elif gpus:
        placement["cuda"] = assign(gpus, 1 if executor == "inline" else workers,
                                   1.0 if gpus_per_trial is None else gpus_per_trial)
    elif gpus_per_trial is not None:
        raise SpecError("gpus_per_trial", "--gpus too (the devices to share out)",
                        gpus_per_trial)
    return run_with(store, round_name, str(Path(project_dir).resolve()), workers, threads,
                    lease_s, show_progress, **placement)
