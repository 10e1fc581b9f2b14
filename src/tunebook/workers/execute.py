"""Executors and the worker loop: claim a trial, run the user's function, record the outcome.

A worker needs only the store URL, the round name and the project folder, so the same loop runs
inline (debugging), in local processes, or on any host as ``tunebook worker``.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
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
    LeaseLost,
    ScoreError,
    SpecError,
    StoreError,
    StoreFull,
    TrialDiverged,
    TrialPruned,
    TrialTimedOut,
    WorkerStopped,
    WorkFailed,
)
from tunebook.core.score import best_step
from tunebook.core.spec import load_pipeline
from tunebook.core.trial import TrialRecord
from tunebook.rounds.fidelity import advance
from tunebook.rounds.lifecycle import fill, progress, specs
from tunebook.rounds.pruning import make_pruner
from tunebook.store import Store
from tunebook.store.connection import disk_full
from tunebook.store.files import ArtifactRoot
from tunebook.workers.limits import TrialLimits, lease_seconds
from tunebook.workers.limits import max_attempts as attempts_limit
from tunebook.workers.run import Run
from tunebook.workers.watchdog import EXIT_STUCK, Watchdog, alarm_raises, interrupts_seen

# A worker process that stops on a store failure no retry can fix (full disk, damaged or
# read-only store) exits with this code after one line on stderr; its parent does not replace
# it, and the round fails (exit code 1).
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
              hard_exit: bool = False) -> Outcome:
    """Run one claimed trial to its end and record status, best step and score.

    Whatever ``train()`` does (raise, ``sys.exit``, ``KeyboardInterrupt``, run past its time
    limits, log values the score formula cannot handle) ends this trial only, with its reason;
    the worker goes on. A full disk stops the worker (``StoreFull``), the trial re-queued.
    """
    lease_s = lease_seconds(lease_s)
    record = store.round(trial.round_id)
    project, spec = specs(record)
    scorer = project.scorer()
    limits = trial_limits(project, spec).merged(limits or TrialLimits())
    # A retried attempt keeps its curve up to its latest checkpoint (where train() can resume
    # with run.load_checkpoint()) and rewrites the rest.
    ckpt_steps = [a.step for a in store.artifacts(trial.id, "checkpoint") if a.step is not None]
    store.drop_points_after(trial.id, max(ckpt_steps, default=-1))
    run = Run(store, trial, token, eval_every=project.eval_every,
              artifact_root=artifact_root(project_dir), lease_s=lease_s, stop=stop,
              pruner=make_pruner(store, record, trial, scorer))
    status, error = "completed", None
    try:
        with interrupts_seen() as sigint, alarm_raises(run), \
                Watchdog(run, limits, hard_exit=hard_exit):
            train_fn(trial.config, run)
    except TrialDiverged as exc:
        status, error = "diverged", f"non-finite value: {exc}"
    except TrialPruned as exc:
        status, error = "pruned", str(exc)
    except TrialTimedOut as exc:
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
    try:
        best = best_step(store.curve(trial.id), scorer)
    except ScoreError as exc:
        status, error = "failed", str(exc)
        recorded = store.finish(trial.id, token, status, error=error)
        return Outcome(trial.id, status, recorded)
    recorded = store.finish(trial.id, token, status, error=error, best_step=best.step,
                            score=best.score, feasible=best.feasible, best_metrics=best.metrics)
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


def set_threads(threads: int | None) -> None:
    """Give torch ``threads`` intra-op threads (measured: never oversubscribe the cores).

    The environment variable covers a torch imported later by the user's module; a torch that
    is already imported is told directly. Importing torch here would cost non-torch projects
    a second per worker.
    """
    if not threads:
        return
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def worker_loop(store_url: str, round_name: str, project_dir: str, *, worker: str | None = None,
                lease_s: float | None = None, poll_s: float = 0.2, threads: int | None = None,
                max_trials: int | None = None, max_attempts: int | None = None,
                on_outcome: Callable[[Outcome], None] | None = None,
                limits: TrialLimits | None = None, hard_exit: bool = False) -> int:
    """Claim and run trials of ``round_name`` until the round is finished. Returns trials run."""
    lease_s = lease_seconds(lease_s)
    attempts = attempts_limit(max_attempts)
    set_threads(threads)
    store = Store(store_url)
    record = store.round(round_name)
    project, _ = specs(record)
    train_fn = load_pipeline(project, project_dir)
    set_threads(threads)  # again: the user's module may have imported torch just now
    worker = worker or f"{socket.gethostname()}:{os.getpid()}"
    ran = 0

    # SIGTERM only raises a flag; the trial stops at its next run.log() and goes back to the
    # queue, and no store write is ever interrupted half-way.
    stop = threading.Event()
    try:
        old = signal.signal(signal.SIGTERM, lambda _s, _f: stop.set())
    except ValueError:  # not the main thread: no signal handling there
        old = None
    try:
        while (max_trials is None or ran < max_trials) and not stop.is_set():
            store.reap(record.id, max_attempts=attempts)
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
            outcome = run_trial(store, trial, token, train_fn, project_dir, lease_s=lease_s,
                                stop=stop, limits=limits, hard_exit=hard_exit)
            ran += 1
            if on_outcome is not None:
                on_outcome(outcome)
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
        store.close()
    return ran


def _process_main(store_url: str, round_name: str, project_dir: str, worker: str,
                  threads: int, lease_s: float, limits: TrialLimits | None = None,
                  fatal: Any = None) -> None:
    # Ctrl-C reaches the whole process group; the parent turns it into SIGTERM for us, which
    # re-queues the running trial cleanly instead of leaving it to a lease expiry.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stdout = sys.stderr  # train()'s prints never mix into a parent's --json document
    try:
        worker_loop(store_url, round_name, project_dir, worker=worker, threads=threads,
                    lease_s=lease_s, limits=limits, hard_exit=True)
    except StoreError as exc:  # one line, and a code that tells the parent not to replace us
        if fatal is not None:
            fatal.put(str(exc))
        else:
            print(f"tunebook worker {worker}: {exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_FATAL)


def run_round(store: Store, round_name: str, project_dir: str | Path, *, workers: int = 2,
              executor: str = "processes", threads: int | None = None,
              lease_s: float | None = None, show_progress: bool = True,
              limits: TrialLimits | None = None) -> dict[str, int]:
    """Run a round to its end with ``workers`` workers and return its status counts.

    ``limits`` (per-trial time and no-progress limits) override the round's and project's.
    """
    if executor not in EXECUTORS:
        raise SpecError("executor", f"one of {sorted(EXECUTORS)}", executor)
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 1024:
        raise SpecError("workers", "an int between 1 and 1024", workers)
    lease_s = lease_seconds(lease_s)
    attempts_limit()  # a bad $TUNEBOOK_MAX_ATTEMPTS fails here, before any worker starts
    record = store.round(round_name)
    project, _ = specs(record)
    load_pipeline(project, project_dir)  # a broken entry point fails here, before any worker
    cores = os.cpu_count() or 1
    threads = threads or max(1, cores // workers)
    return EXECUTORS[executor](store, round_name, str(Path(project_dir).resolve()), workers,
                               threads, lease_s, show_progress, limits=limits)


def _inline(store: Store, round_name: str, project_dir: str, workers: int, threads: int,
            lease_s: float, show_progress: bool, *,
            limits: TrialLimits | None = None) -> dict[str, int]:
    # train() runs in this process: a trial that calls os._exit ends the round with it, and one
    # stuck in C code past its time limit is recorded as failed but keeps the round waiting
    # (see workers/watchdog.py). The processes executor isolates both.
    record = store.round(round_name)
    with _bar(store, record, show_progress) as tick:
        worker_loop(store.url, round_name, project_dir, worker=f"inline:{os.getpid()}",
                    threads=threads, lease_s=lease_s, on_outcome=lambda _o: tick(),
                    limits=limits)
    return store.counts(record.id)


def _processes(store: Store, round_name: str, project_dir: str, workers: int, threads: int,
               lease_s: float, show_progress: bool, *,
               limits: TrialLimits | None = None) -> dict[str, int]:
    record = store.round(round_name)
    ctx = mp.get_context("spawn")  # fork would copy torch's thread pools and locks
    base = f"{socket.gethostname()}:{os.getpid()}"
    fatal = ctx.SimpleQueue()  # a worker's one-line reason for stopping on a store failure

    def start(name: str) -> Any:
        proc = ctx.Process(target=_process_main, name=f"tunebook-worker-{name}",
                           args=(store.url, round_name, project_dir, f"{base}:{name}", threads,
                                 lease_s, limits, fatal))
        proc.start()
        return proc

    procs = {f"w{i}": start(f"w{i}") for i in range(workers)}
    deaths = _Deaths(store, record, base, workers)
    try:
        with _bar(store, record, show_progress) as tick:
            while any(p.is_alive() for p in procs.values()):
                tick()
                time.sleep(0.3)
                for name, proc in list(procs.items()):
                    if not proc.is_alive() and deaths.replace(name, proc.exitcode):
                        new = f"{name.split('.')[0]}.{deaths.replaced}"
                        procs[new] = start(new)
            tick()
    except KeyboardInterrupt:
        for p in procs.values():
            p.terminate()  # workers re-queue their trials on SIGTERM
        for p in procs.values():
            p.join(10)
        raise
    for p in procs.values():
        p.join()
    deaths.raise_fatal(None if fatal.empty() else fatal.get())
    return store.counts(record.id)


class _Deaths:
    """What the parent does when a worker process ends before the round does.

    A worker that dies while running a trial (``os._exit`` in ``train()``, a segfault, the OOM
    killer) gives that trial back at once with the reason (re-queued, or failed once out of
    attempts, as for an expired lease), and a replacement worker starts so the round finishes.
    A worker that stopped on a store failure (EXIT_FATAL) is not replaced: the round fails.
    """

    def __init__(self, store: Store, record: Any, base: str, workers: int) -> None:
        self.store, self.record, self.base = store, record, base
        self.seen: set[str] = set()
        self.replaced = 0
        self.fatal: list[str] = []
        self.idle_deaths = 0
        self.max_idle_deaths = 2 * workers  # deaths outside any trial: a broken worker
        self.attempts = attempts_limit()

    def replace(self, name: str, code: int | None) -> bool:
        if name in self.seen:
            return False
        self.seen.add(name)
        if code == EXIT_FATAL:
            self.fatal.append(name)
            return False
        how = (f"killed by signal {-code}" if code is not None and code < 0
               else f"exited with code {code}")
        hint = " (train() called os._exit?)" if code is not None and code >= 0 else ""
        if code == EXIT_STUCK:
            how, hint = "was ended by the trial watchdog", ""
        held = self.store.release_worker(self.record.id, f"{self.base}:{name}",
                                         f"the worker process {how} during this trial{hint}",
                                         max_attempts=self.attempts)
        if not held and code in (0, EXIT_STUCK) and progress(self.store, self.record).done:
            return False
        if not held and code not in (0, EXIT_STUCK):
            self.idle_deaths += 1
            if self.idle_deaths > self.max_idle_deaths:
                return False
        if progress(self.store, self.record).done:
            return False
        self.replaced += 1
        return True

    def raise_fatal(self, reason: str | None) -> None:
        if self.fatal:
            raise WorkFailed(f"worker {self.fatal[0]} stopped: "
                             f"{reason or 'a store failure (its message is above)'}")


class _bar:
    """A Rich progress bar over a round's finished trials (a no-op when disabled)."""

    def __init__(self, store: Store, record: Any, enabled: bool) -> None:
        self.store, self.record, self.enabled = store, record, enabled
        self._progress: Any = None

    def __enter__(self) -> Callable[[], None]:
        if not self.enabled:
            return lambda: None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                  MofNCompleteColumn(), TextColumn("{task.fields[detail]}"),
                                  TimeElapsedColumn(), transient=False)
        self._progress.start()
        p = progress(self.store, self.record)
        task = self._progress.add_task(f"round {self.record.name}", total=p.total,
                                       completed=p.finished, detail="")

        def tick() -> None:
            pr = progress(self.store, self.record)
            detail = " ".join(f"{s}={n}" for s, n in sorted(pr.counts.items()))
            self._progress.update(task, total=pr.total, completed=pr.finished, detail=detail)

        return tick

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def _ray(store: Store, round_name: str, project_dir: str, workers: int, threads: int,
         lease_s: float, show_progress: bool, *,
         limits: TrialLimits | None = None) -> dict[str, int]:
    # The round's and project's trial limits apply on Ray too (each worker reads the specs);
    # limits given to run_round here do not travel to the cluster.
    from tunebook.workers.ray_executor import run_with_ray

    return run_with_ray(store, round_name, project_dir, workers, threads, lease_s, show_progress)


EXECUTORS: dict[str, Callable[..., dict[str, int]]] = {
    "inline": _inline,
    "processes": _processes,
    "ray": _ray,
}
