"""Run a round's workers as Ray tasks, on a running cluster or a local Ray instance.

Each task is an ordinary ``worker_loop``: it claims trials from the shared store, so Ray only
places the work; leases, retries and budgets stay the store's job, as with any other worker.
The project folder must be reachable at the same path on every node (a shared filesystem), and
the store must be one every node reaches (PostgreSQL for several nodes).

A local instance that tunebook starts listens on loopback only. Ray turns a node address of
127.0.0.1 into the host's routable address (``services.resolve_ip_for_localhost``), and its GCS,
raylet and worker servers listen on the node address, so ``_node_ip_address`` alone is not
enough. Ray's own single-machine mode (the one it uses on macOS and Windows,
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``) keeps the node on 127.0.0.1: every server then binds
loopback (measured with ``ss -ltnp`` during a trial, tests/test_ray_executor.py). The node
address Ray reports is checked after start; anything but loopback stops the instance and
refuses to go on.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from tunebook.core.errors import MissingExtraError, SpecError
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
    and sets the task's ``CUDA_VISIBLE_DEVICES`` itself. ``limits`` travel with each task and
    tighten the round's and the project's own trial limits, as on local workers."""
    ray = _ray()
    started_here = not ray.is_initialized()
    if started_here:
        address = address or os.environ.get("RAY_ADDRESS")
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:  # joining a cluster is the user's explicit choice, on its own terms
            ray.init(address=address, **kwargs)
        else:
            # A local instance: loopback only (see the module docstring), no dashboard; Ray
            # >= 2.59 also makes it demand its generated token on every server.
            with _single_machine(ray):
                context = ray.init(num_cpus=max(workers, 1), **kwargs)
            node_ip = str(context.address_info.get("node_ip_address", ""))
            if not _loopback(node_ip):
                ray.shutdown()
                raise SpecError("executor", "a local Ray instance on loopback (this Ray "
                                "version offers none; start a cluster yourself and set "
                                "RAY_ADDRESS, or use --executor processes)",
                                f"ray {ray.__version__} on node address {node_ip}")

    @ray.remote(max_retries=0)  # retries are the store's job (leases)
    def _task(url: str, name: str, pdir: str, worker: str) -> int:
        return worker_loop(url, name, pdir, worker=worker, threads=threads, lease_s=lease_s,
                           limits=limits)

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


LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _loopback(address: str) -> bool:
    """``address`` (a host, no port) is this machine's loopback.

    >>> _loopback("127.0.0.1"), _loopback("192.0.2.2")
    (True, False)
    """
    return address in LOOPBACK or address.startswith("127.")


@contextlib.contextmanager
def _single_machine(ray: Any) -> Iterator[None]:
    """Ray's single-machine mode while a local instance starts; the user's setting after.

    The environment variable reaches the GCS, raylet and worker processes Ray starts; the
    constant is the copy this process's ``ray`` read at import.
    """
    name = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
    constants = ray._private.ray_constants
    before_env, before_const = os.environ.get(name), constants.ENABLE_RAY_CLUSTER
    os.environ[name] = "0"
    constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        constants.ENABLE_RAY_CLUSTER = before_const
        if before_env is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before_env
