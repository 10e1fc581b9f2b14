"""The two executors that need nothing but this machine: ``inline`` and ``processes``."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import socket
import time

from tunebook.core.errors import Interrupted, WorkFailed
from tunebook.rounds.lifecycle import progress
from tunebook.store import Store
from tunebook.workers.execute import process_main, worker_loop
from tunebook.workers.lifeline import ParentSignals, grace_s, stop_processes
from tunebook.workers.progress_bar import ProgressBar


def run_inline(store: Store, round_name: str, project_dir: str, workers: int, threads: int,
               lease_s: float, show_progress: bool, cuda: list[str] | None = None
               ) -> dict[str, int]:
    """One worker loop in this process (debugging; ``workers`` is ignored)."""
    record = store.round(round_name)
    if cuda:  # effective only while nothing in this process has initialised CUDA yet
        os.environ["CUDA_VISIBLE_DEVICES"] = cuda[0]
    with ProgressBar(store, record, show_progress) as tick:
        worker_loop(store.url, round_name, project_dir, worker=f"inline:{os.getpid()}",
                    threads=threads, lease_s=lease_s, on_outcome=lambda _o: tick())
    return store.counts(record.id)


def run_processes(store: Store, round_name: str, project_dir: str, workers: int, threads: int,
                  lease_s: float, show_progress: bool, cuda: list[str] | None = None
                  ) -> dict[str, int]:
    """``workers`` spawned processes, each an ordinary worker loop; signals are forwarded."""
    record = store.round(round_name)
    grace = grace_s()
    ctx = mp.get_context("spawn")  # fork would copy torch's thread pools and locks
    names = [f"{socket.gethostname()}:{os.getpid()}:w{i}" for i in range(workers)]
    procs = [ctx.Process(target=process_main, name=f"tunebook-worker-{i}",
                         args=(store.url, round_name, project_dir, names[i], threads, lease_s,
                               os.getpid(), grace, cuda[i] if cuda else None))
             for i in range(workers)]
    with ParentSignals() as sig:
        for p in procs:
            p.start()
        try:
            with ProgressBar(store, record, show_progress) as tick:
                while any(p.is_alive() for p in procs) and sig.received is None:
                    tick()
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
    died = [f"{p.name} (exit code {p.exitcode})" for p in procs if p.exitcode != 0]
    if died:
        back = store.requeue_workers(record.id, names, "re-queued: its worker process died")
        pr = progress(store, record)
        if not pr.done:
            raise WorkFailed(f"worker processes died: {', '.join(died)}; round {round_name} is "
                             f"not finished ({pr.finished}/{pr.total} trials"
                             f"{f', {len(back)} re-queued' if back else ''}). "
                             f"Resume with: tunebook round run {round_name}")
    return store.counts(record.id)
