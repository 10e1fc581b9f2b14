"""Executors by name: what runs a round's worker loops (this process, local processes, Ray).

The registry names each executor by module and function and imports it on first use: Ray's
executor costs nothing until asked for, and no executor module imports back into this list
(executors import the worker loop; the worker loop's ``run_round`` asks this registry).
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from tunebook.core.errors import SpecError
from tunebook.store import Store


class Executor(Protocol):
    """Runs ``workers`` worker loops of one round to its end; returns its status counts.

    ``placement``: where the workers run (``cuda`` device ids for local executors, ``num_gpus``
    for Ray), as ``run_round`` works it out from ``--gpus``; and ``limits``, the trial limits
    given on the command line.
    """

    def __call__(self, store: Store, round_name: str, project_dir: str, workers: int,
                 threads: int, lease_s: float, show_progress: bool,
                 **placement: Any) -> dict[str, int]: ...


EXECUTORS: dict[str, tuple[str, str]] = {
    "inline": ("tunebook.workers.local", "run_inline"),
    "processes": ("tunebook.workers.local", "run_processes"),
    "ray": ("tunebook.workers.ray_executor", "run_with_ray"),
}


def executor_named(name: str) -> Executor:
    """The executor called ``name``; an unknown name lists the known ones.

    >>> executor_named("inline").__name__
    'run_inline'
    """
    if name not in EXECUTORS:
        raise SpecError("executor", f"one of {sorted(EXECUTORS)}", name)
    module, function = EXECUTORS[name]
    executor: Executor = getattr(importlib.import_module(module), function)
    return executor
