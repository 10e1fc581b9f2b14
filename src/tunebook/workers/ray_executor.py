"""Run a round's workers as Ray tasks, on a running cluster or a local Ray instance.

Each task is an ordinary ``worker_loop``: it claims trials from the shared store, so Ray only
places the work; leases, retries and budgets stay the store's job, as with any other worker.
The project folder must be reachable at the same path on every node (a shared filesystem), and
the store must be one every node reaches (PostgreSQL for several nodes).
"""

from __future__ import annotations

import os
from typing import Any

from tunebook.core.errors import MissingExtraError
from tunebook.store import Store
from tunebook.workers.execute import worker_loop
from tunebook.workers.limits import TrialLimits
from tunebook.workers.progress_bar import ProgressBar


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise MissingExtraError("ray", "ray") from exc
    return ray


def run_with_ray(store: Store, round_name: str, project_dir: str, workers: int, threads: int,
                 lease_s: float, show_progress: bool, address: str | None = None,
                 num_gpus: float = 0.0, limits: TrialLimits | None = None) -> dict[str, int]:
    """``num_gpus`` per worker task: Ray places each on its own GPU(s) (or packs fractions)
    and sets the task's ``CUDA_VISIBLE_DEVICES`` itself. ``limits`` given here do not travel to
    the cluster: each worker applies the round's and project's own trial limits."""
    ray = _ray()
    started_here = not ray.is_initialized()
    if started_here:
        address = address or os.environ.get("RAY_ADDRESS")
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:  # joining a cluster is the user's explicit choice, on its own terms
            ray.init(address=address, **kwargs)
        else:
            # A local instance: node address 127.0.0.1 and no dashboard. Ray's C++ servers
            # still listen on the wildcard address whatever the node address says (measured
            # with Ray 2.60, see docs/reliability.md); Ray >= 2.59 makes a local instance
            # demand its generated token on every one of them.
            ray.init(num_cpus=max(workers, 1), _node_ip_address="127.0.0.1", **kwargs)

    @ray.remote(max_retries=0)  # retries are the store's job (leases)
    def _task(url: str, name: str, pdir: str, worker: str) -> int:
        return worker_loop(url, name, pdir, worker=worker, threads=threads, lease_s=lease_s)

    record = store.round(round_name)
    try:
        task = _task.options(num_cpus=1, num_gpus=num_gpus)
        refs = [task.remote(store.url, round_name, project_dir, f"ray:{i}:{os.getpid()}")
                for i in range(workers)]
        with ProgressBar(store, record, show_progress) as tick:
            pending = list(refs)
            while pending:
                _, pending = ray.wait(pending, timeout=0.5)
                tick()
        ray.get(refs)
    finally:
        if started_here:
            ray.shutdown()
    return store.counts(record.id)
