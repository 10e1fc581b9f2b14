"""The two executors that need nothing but this machine: ``inline`` and ``processes``."""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
import time

from tunebook.store import Store
from tunebook.workers.execute import process_main, worker_loop
from tunebook.workers.progress_bar import ProgressBar


def run_inline(store: Store, round_name: str, project_dir: str, workers: int, threads: int,
               lease_s: float, show_progress: bool) -> dict[str, int]:
    """One worker loop in this process (debugging; ``workers`` is ignored)."""
    record = store.round(round_name)
    with ProgressBar(store, record, show_progress) as tick:
        worker_loop(store.url, round_name, project_dir, worker=f"inline:{os.getpid()}",
                    threads=threads, lease_s=lease_s, on_outcome=lambda _o: tick())
    return store.counts(record.id)


def run_processes(store: Store, round_name: str, project_dir: str, workers: int, threads: int,
                  lease_s: float, show_progress: bool) -> dict[str, int]:
    """``workers`` spawned processes, each an ordinary worker loop."""
    record = store.round(round_name)
    ctx = mp.get_context("spawn")  # fork would copy torch's thread pools and locks
    procs = [ctx.Process(target=process_main, name=f"tunebook-worker-{i}",
                         args=(store.url, round_name, project_dir,
                               f"{socket.gethostname()}:{os.getpid()}:w{i}", threads, lease_s))
             for i in range(workers)]
    for p in procs:
        p.start()
    try:
        with ProgressBar(store, record, show_progress) as tick:
            while any(p.is_alive() for p in procs):
                tick()
                time.sleep(0.3)
            tick()
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()  # workers re-queue their trials on SIGTERM
        for p in procs:
            p.join(10)
        raise
    for p in procs:
        p.join()
    return store.counts(record.id)
