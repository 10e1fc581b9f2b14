"""The local executors: worker loops in this process, or in spawned processes on this host."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import socket
import time
from typing import Any

from tunebook.core.errors import Interrupted, WorkFailed
from tunebook.rounds.lifecycle import progress
from tunebook.store import Store
from tunebook.workers.execute import EXIT_FATAL, process_main, worker_loop
from tunebook.workers.lifeline import ParentSignals, grace_s, stop_processes
from tunebook.workers.limits import TrialLimits
from tunebook.workers.limits import max_attempts as attempts_limit
from tunebook.workers.progress_bar import ProgressBar
from tunebook.workers.watchdog import EXIT_STUCK


def run_inline(store: Store, round_name: str, project_dir: str, workers: int, threads: int,
            lease_s: float, show_progress: bool, cuda: list[str] | None = None,
            limits: TrialLimits | None = None) -> dict[str, int]:
    """One worker loop in this process (debugging; ``workers`` is ignored)."""
    # train() runs in this process: a trial that calls os._exit ends the round with it, and one
    # stuck in C code past its time limit is recorded as failed but keeps the round waiting
    # (see workers/watchdog.py). The processes executor isolates both.
    record = store.round(round_name)
    if cuda:  # effective only while nothing in this process has initialised CUDA yet
        os.environ["CUDA_VISIBLE_DEVICES"] = cuda[0]
    with ProgressBar(store, record, show_progress) as tick:
        worker_loop(store.url, round_name, project_dir, worker=f"inline:{os.getpid()}",
                    threads=threads, lease_s=lease_s, on_outcome=lambda _o: tick(),
                    limits=limits)
    return store.counts(record.id)


def run_processes(store: Store, round_name: str, project_dir: str, workers: int, threads: int,
               lease_s: float, show_progress: bool, cuda: list[str] | None = None,
               limits: TrialLimits | None = None) -> dict[str, int]:
    """``workers`` spawned processes, each a worker loop; signals forwarded, dead ones replaced."""
    record = store.round(round_name)
    grace = grace_s()
    ctx = mp.get_context("spawn")  # fork would copy torch's thread pools and locks
    base = f"{socket.gethostname()}:{os.getpid()}"
    names = [f"{base}:w{i}" for i in range(workers)]
    fatal = ctx.SimpleQueue()  # a worker's one-line reason for stopping on a store failure

    def make(i: int, name: str) -> Any:
        return ctx.Process(target=process_main, name=f"tunebook-worker-{name.rsplit(':', 1)[1]}",
                           args=(store.url, round_name, project_dir, name, threads, lease_s,
                                 os.getpid(), grace, cuda[i] if cuda else None, limits, fatal))

    procs = [make(i, names[i]) for i in range(workers)]
    deaths = _Deaths(store, record, base, workers)
    with ParentSignals() as sig:
        for p in procs:
            p.start()
        try:
            with ProgressBar(store, record, show_progress) as tick:
                while sig.received is None:
                    tick()
                    for k, proc in enumerate(list(procs)):
                        short = names[k].rsplit(":", 1)[1]
                        if not proc.is_alive() and deaths.replace(short, proc.exitcode):
                            # a trial killed its worker process: a replacement finishes the round
                            name = f"{base}:{short.split('.')[0]}.{deaths.replaced}"
                            names.append(name)
                            procs.append(make(k % workers, name))
                            procs[-1].start()
                    if not any(p.is_alive() for p in procs):
                        break
                    for _ in range(6):  # 0.3 s, but answer a signal within 0.05 s
                        if sig.received is not None:
                            break
                        time.sleep(0.05)
                tick()
        finally:
            if sig.received is not None or any(p.is_alive() for p in procs):
                # Forward the stop; workers re-queue their trials. A second Ctrl-C skips the
                # wait for stuck trials.
                stop_processes(procs, grace, hurry=lambda: sig.count > 1)
        if sig.received is not None:
            back = store.requeue_workers(record.id, names, "re-queued: round run was stopped")
            raise Interrupted(sig.received, f"round run {round_name} stopped by "
                              f"{signal.Signals(sig.received).name}; running trials went back "
                              f"to the queue{f' ({len(back)} by the parent)' if back else ''}. "
                              f"Resume with: tunebook round run {round_name}")
    for p in procs:
        p.join()
    if deaths.fatal:  # give back what the stopped workers held, if the store takes the write
        with contextlib.suppress(Exception):
            store.requeue_workers(record.id, names, "re-queued: its worker stopped on a store "
                                  "failure")
    deaths.raise_fatal(None if fatal.empty() else fatal.get())
    died = [f"{p.name} (exit code {p.exitcode})" for p in procs if p.exitcode != 0
            and p.name.rsplit("-", 1)[1] not in deaths.replaced_names]  # replaced: accounted for
    if died:
        back = store.requeue_workers(record.id, names, "re-queued: its worker process died")
        pr = progress(store, record)
        if not pr.done:
            raise WorkFailed(f"worker processes died: {', '.join(died)}; round {round_name} is "
                             f"not finished ({pr.finished}/{pr.total} trials"
                             f"{f', {len(back)} re-queued' if back else ''}). "
                             f"Resume with: tunebook round run {round_name}")
    return store.counts(record.id)


# Signals a process sends itself by crashing: the trial's doing, like os._exit.
_CRASHES = {signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGFPE, signal.SIGILL}


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
        self.replaced_names: set[str] = set()
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
        if code is not None and code < 0 and -code not in _CRASHES:
            # Killed from outside (an operator's kill -9, the OOM killer, SIGTERM): not the
            # trial's doing. No replacement; the round fails (exit 1) and re-queues its trials.
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
        self.replaced_names.add(name)
        return True

    def raise_fatal(self, reason: str | None) -> None:
        if self.fatal:
            raise WorkFailed(f"worker {self.fatal[0]} stopped: "
                             f"{reason or 'a store failure (its message is above)'}")
