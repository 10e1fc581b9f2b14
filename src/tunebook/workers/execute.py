"""The worker loop: claim a trial, run the user's function, record the outcome; ``run_round``.

A worker needs only the store URL, the round name and the project folder, so the same loop runs
inline (debugging), in local processes, or on any host as ``tunebook worker``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunebook.core.errors import (
    Interrupted,
    LeaseLost,
    ScoreError,
    SpecError,
    StoreError,
    StoreFull,
    TrialDiverged,
    TrialFailed,
    TrialPruned,
    TrialTimedOut,
    WorkerStopped,
)
from tunebook.core.score import best_step, formula_name, metric_key
from tunebook.core.spec import load_pipeline
from tunebook.core.trial import RoundRecord, TrialRecord
from tunebook.rounds.fidelity import advance
from tunebook.rounds.lifecycle import fill, progress, start_config
from tunebook.rounds.pruning import make_pruner
from tunebook.store import Store
from tunebook.store.connection import disk_full
from tunebook.store.files import ArtifactRoot
from tunebook.workers.command import check_command, pipeline_function
from tunebook.workers.executors import executor_named
from tunebook.workers.gpus import assign
from tunebook.workers.lifeline import (
    Lifeline,
    die_with_parent,
    grace_s,
)
from tunebook.workers.limits import TrialLimits, lease_seconds
from tunebook.workers.limits import max_attempts as attempts_limit
from tunebook.workers.repro import Recorder
from tunebook.workers.retention import retain
from tunebook.workers.run import Run
from tunebook.workers.threads import per_trial, set_threads
from tunebook.workers.watchdog import Watchdog, alarm_raises, interrupts_seen

# A worker process that stops on a store failure no retry can fix (full disk, damaged or
# read-only store) exits with this code; its parent does not replace it, and the round fails
# (exit code 1) with the worker's one-line reason.
EXIT_FATAL = 74


@dataclass(frozen=True)
class Outcome:
    trial_id: int
    status: str
    recorded: bool


def artifact_root(project_dir: str | Path) -> ArtifactRoot:
    return ArtifactRoot(os.environ.get("TUNEBOOK_ARTIFACTS")
                        or Path(project_dir) / ".tunebook" / "artifacts")


def run_trial(store: Store, trial: TrialRecord, token: str, train_fn: Callable[..., Any],
              project_dir: str | Path, *, lease_s: float | None = None,
              stop: threading.Event | None = None, limits: TrialLimits | None = None,
              hard_exit: bool = False, record: RoundRecord | None = None) -> Outcome:
    """Run one claimed trial to its end and record status, best step and score.

    Whatever ``train()`` does (raise, ``sys.exit``, ``KeyboardInterrupt``, run past its time
    limits, log values the score formula cannot handle) ends this trial only, with its reason;
    the worker goes on. A full disk stops the worker (``StoreFull``), the trial re-queued.
    ``record``: the trial's round as the worker already holds it (read from the store if None).
    """
    lease_s = lease_seconds(lease_s)
    if record is None or record.id != trial.round_id:
        record = store.round(trial.round_id)
    project, spec = record.project, record.spec
    scorer = project.scorer()
    limits = trial_limits(project, spec).merged(limits or TrialLimits())
    # A retried attempt keeps its curve up to its latest checkpoint (where train() can resume
    # with run.load_checkpoint()) and rewrites the rest.
    # A first attempt has neither (nothing ran before): two statements fewer per trial.
    if trial.attempts > 1:
        ckpt_steps = [a.step for a in store.artifacts(trial.id, "checkpoint")
                      if a.step is not None]
        store.drop_points_after(trial.id, max(ckpt_steps, default=-1))
    run = Run(store, trial, token, eval_every=project.eval_every,
              artifact_root=artifact_root(project_dir), lease_s=lease_s, stop=stop,
              pruner=make_pruner(store, record, trial, scorer),
              declared=frozenset(project.metric_keys))
    status, error = "completed", None
    try:
        with interrupts_seen() as sigint, alarm_raises(run), \
                Watchdog(run, limits, hard_exit=hard_exit):
            train_fn(run.tracked, run)
    except TrialDiverged as exc:
        status, error = "diverged", f"non-finite value: {exc}"
    except TrialPruned as exc:
        status, error = "pruned", str(exc)
    except (TrialFailed, TrialTimedOut) as exc:
        status, error = "failed", str(exc)
    except LeaseLost:
        _close_quietly(run)
        return Outcome(trial.id, "lost", False)
    except WorkerStopped:
        _close_quietly(run)
        store.requeue(trial.id, token, "re-queued: worker received SIGTERM")
        return Outcome(trial.id, "requeued", False)
    except KeyboardInterrupt:
        if sigint.is_set():  # a real Ctrl-C: the trial goes back, the interrupt goes on
            _close_quietly(run)
            store.requeue(trial.id, token, "re-queued: interrupted (Ctrl-C)")
            raise
        status, error = "failed", "train() raised KeyboardInterrupt (no Ctrl-C was pressed)"
    except SystemExit as exc:
        status, error = "failed", f"train() called sys.exit({exc.code!r})"
    except ScoreError as exc:  # the pruner scores each eval step inside run.log
        status, error = "failed", str(exc)
    except StoreError as exc:
        _stop_worker(store, run, trial, token, exc)
    except Exception as exc:
        if disk_full(exc):
            _stop_worker(store, run, trial, token, exc)
        status, error = "failed", traceback.format_exc(limit=20)
    try:
        run.close()
    except Exception as exc:  # the last points could not be written
        if isinstance(exc, StoreError) or disk_full(exc):
            _stop_worker(store, run, trial, token, exc)
        status, error = "failed", f"recording the trial's curve failed: {exc}"
    curve = store.curve(trial.id)
    try:
        best = best_step(curve, scorer)
    except ScoreError as exc:
        recorded = store.finish(trial.id, token, "failed", error=str(exc))
        return Outcome(trial.id, "failed", recorded)
    if status == "completed" and best.score is None:
        status, error = "failed", missing_score(curve, scorer.needs, run.undeclared)
    recorded = store.finish(trial.id, token, status, error=error, best_step=best.step,
                            score=best.score, feasible=best.feasible, best_metrics=best.metrics)
    if recorded:  # the project's retention: the N best checkpoints and the latest
        policy = project.checkpoints
        retain(store, run.artifacts, trial.id, scorer, policy.keep_best, policy.keep_latest)
    return Outcome(trial.id, status, recorded)


def trial_limits(project: Any, spec: Any) -> TrialLimits:
    """The round's per-trial limits, falling back to the project's (spec fields)."""
    return TrialLimits(getattr(project, "trial_timeout_s", None),
                       getattr(project, "no_progress_timeout_s", None)).merged(
        TrialLimits(getattr(spec, "trial_timeout_s", None),
                    getattr(spec, "no_progress_timeout_s", None)))


def _close_quietly(run: Run) -> None:
    with contextlib.suppress(Exception):  # this attempt's outcome is already decided
        run.close()


def _stop_worker(store: Store, run: Run, trial: TrialRecord, token: str,
                 exc: BaseException) -> None:
    """A failure of the store or the disk is not the trial's: re-queue it and stop."""
    _close_quietly(run)
    # The store itself may be what failed: then the lease expires instead.
    with contextlib.suppress(Exception):
        store.requeue(trial.id, token, f"re-queued: the worker stopped: {exc}")
    if isinstance(exc, StoreError):
        raise exc
    raise StoreFull(f"the disk is full: {exc}. Free some space, then run the round again: "
                    "it resumes.") from None


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
                lease_s: float | None = None, poll_s: float = 0.2, threads: int | None = None,
                max_trials: int | None = None, max_attempts: int | None = None,
                on_outcome: Callable[[Outcome], None] | None = None,
                lifeline: Lifeline | None = None, limits: TrialLimits | None = None,
                hard_exit: bool = False) -> int:
    """Claim and run trials of ``round_name`` until the round is finished. Returns trials run.

    SIGTERM (and Ctrl-C in a foreground worker) stops it: the running trial goes back to the
    queue at its next ``run.log``, or within the grace of ``tunebook.workers.lifeline`` if it
    never gets there, and :class:`Interrupted` is raised (exit 130 / 143).
    """
    lease_s = lease_seconds(lease_s)
    attempts = attempts_limit(max_attempts)
    set_threads(threads)
    store = Store(store_url)
    record = store.round(round_name)
    project = record.project
    train_fn = Recorder(pipeline_function(load_pipeline(project, project_dir), project_dir),
                        project_dir)
    set_threads(threads)  # again: the user's module may have imported torch just now
    worker = worker or f"{socket.gethostname()}:{os.getpid()}"
    ran = 0
    full: set[str] = set()  # target groups at their budget: fill reads nothing for them
    # Expired leases are looked for at most this often while trials keep coming (a lease
    # lasts lease_s: a dead worker's trial still goes back within a quarter of it), and at
    # once whenever the queue looks empty.
    reap_every, next_reap = min(1.0, lease_s / 4), 0.0

    # A signal only raises a flag; the trial stops at its next run.log() and goes back to the
    # queue, and no store write is ever interrupted half-way. The watchdog bounds the wait.
    life = lifeline or Lifeline()
    stop = life.stop
    life.watch(store.requeue)
    try:
        with life.signals():
            while (max_trials is None or ran < max_trials) and not stop.is_set():
                if time.monotonic() >= next_reap:
                    store.reap(record.id, max_attempts=attempts)
                    next_reap = time.monotonic() + reap_every
                if record.kind == "search":
                    # A short-then-long round's promotions first: an asynchronous round
                    # queues a new config only when nothing (no promotion) is queued.
                    advance(store, record)
                    fill(store, record, full=full)
                claimed = store.claim(record.id, worker, lease_s)
                if claimed is None and start_config(store, record):  # asynchronous rounds
                    claimed = store.claim(record.id, worker, lease_s)
                if claimed is None:
                    next_reap = 0.0
                    if progress(store, record).done:
                        break
                    stop.wait(poll_s)  # others still running: a lease may expire and re-queue
                    continue
                trial, token = claimed
                life.hold(trial.id, token)
                try:
                    outcome = run_trial(store, trial, token, train_fn, project_dir,
                                        lease_s=lease_s, stop=stop, limits=limits,
                                        hard_exit=hard_exit, record=record)
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
                  cuda: str | None = None, limits: TrialLimits | None = None,
                  fatal: Any = None) -> None:
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
                    lease_s=lease_s, lifeline=life, limits=limits, hard_exit=True)
    except Interrupted as exc:
        sys.exit(exc.exit_code)
    except StoreError as exc:  # one line, and a code that tells the parent not to replace us
        if fatal is not None:
            fatal.put(str(exc))
        else:
            print(f"tunebook worker {worker}: {exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_FATAL)


def run_round(store: Store, round_name: str, project_dir: str | Path, *, workers: int = 2,
              executor: str = "processes", threads: int | None = None,
              lease_s: float | None = None, show_progress: bool = True,
              gpus: list[str] | None = None, gpus_per_trial: float | None = None,
              limits: TrialLimits | None = None) -> dict[str, int]:
    """Run a round to its end with ``workers`` workers and return its status counts.

    ``gpus``: device ids to spread the workers over (``tunebook.workers.gpus``), each worker
    seeing only its own; the Ray executor asks Ray for ``gpus_per_trial`` GPUs per worker.
    """
    run_with = executor_named(executor)  # an unknown name fails here, listing the known ones
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 1024:
        raise SpecError("workers", "an int between 1 and 1024", workers)
    lease_s = lease_seconds(lease_s)
    attempts_limit()  # a bad $TUNEBOOK_MAX_ATTEMPTS fails here, before any worker starts
    record = store.round(round_name)
    project = record.project
    load_pipeline(project, project_dir)  # a broken entry point fails here, before any worker
    grace_s()  # a bad $TUNEBOOK_GRACE_S fails here, before any worker starts
    check_command(store, record, project_dir)
    threads = per_trial(workers, threads)
    placement: dict[str, Any] = {"limits": limits}
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
