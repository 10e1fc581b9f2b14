"""The user's step probe for ``tunebook batch-size`` and ``tunebook profile-input``.

A project exposes ``make_step(config)`` next to its ``train`` function (or any
``module:function`` given with ``--step``). It returns two plain callables::

    def make_step(config):
        model, opt = ..., ...                         # built once
        def batches(batch_size):                      # an endless iterator of batches
            ...
        def step(batch):                              # one training step on one batch
            ...
        return batches, step

The scan calls ``batches(b)`` for each batch size and times ``step``; the input profile takes
batches at the configured size and separates waiting for them from computing on them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from tunebook.core.errors import SpecError
from tunebook.core.spec import ProjectSpec, load_pipeline
from tunebook.core.throughput import (
    INPUT_BOUND_SHARE,
    BatchSizeScan,
    InputProfile,
    ThroughputPoint,
)
from tunebook.pytorch.batch_size import Batches, Step, scan_batch_sizes
from tunebook.pytorch.fields import integer
from tunebook.pytorch.pipeline import profile_input
from tunebook.store import Store
from tunebook.workers.threads import per_trial, set_threads

DEFAULT_ENTRY = "make_step"


def entry_name(project: ProjectSpec, entry: str | None) -> str:
    """``entry`` or ``<pipeline module>:make_step``."""
    if entry is None:
        if not isinstance(project.pipeline, str):
            raise SpecError("--step", "'module:function' (a command pipeline has no module to "
                            "look in)", None, "Pass --step module:make_step.")
        return f"{project.pipeline.partition(':')[0]}:{DEFAULT_ENTRY}"
    if ":" not in entry:
        raise SpecError("--step", "'module:function'", entry)
    return entry


def load_probe(project: ProjectSpec, project_dir: str | Path, entry: str | None = None,
               config: Mapping[str, Any] | None = None) -> tuple[Batches, Step]:
    """Import the entry point, call it with the config, and check it returned the pair."""
    set_threads(per_trial(1))  # one measurement at a time: the rule every training command uses
    name = entry_name(project, entry)
    try:
        factory = load_pipeline(project.model_copy(update={"pipeline": name}), project_dir)
    except SpecError as exc:
        raise SpecError("--step", f"a function {name} returning (batches, step)", exc.got,
                        f"{exc.hint} Define make_step(config) beside train() or pass "
                        "--step module:function.".strip()) from None
    cfg = dict(project.baseline.config if config is None else config)
    try:
        inspect.signature(factory).bind(cfg)
    except TypeError:
        raise SpecError("--step", f"a function {name}(config) returning (batches, step)",
                        f"{name}{inspect.signature(factory)}",
                        "Define make_step(config) beside train() or pass --step "
                        "module:function.") from None
    made = factory(cfg)
    if not (isinstance(made, tuple) and len(made) == 2 and all(callable(f) for f in made)):
        raise SpecError(name, "a pair (batches(batch_size) -> iterator, step(batch))",
                        type(made).__name__)
    return made[0], made[1]


@dataclass(frozen=True)
class BatchSizeReport:
    entry: str
    scan: BatchSizeScan
    plot: str | None
    decision_id: int | None


@dataclass(frozen=True)
class InputReport:
    entry: str
    batch_size: int
    profile: InputProfile
    decision_id: int | None


def scan_project(project: ProjectSpec, project_dir: str | Path, store: Store | None = None, *,
                 entry: str | None = None, plot: str | Path | None = None,
                 on_point: Callable[[ThroughputPoint], None] | None = None,
                 **scan: Any) -> BatchSizeReport:
    """Scan the project's step over batch sizes, draw the plot, and record the evidence.

    ``scan`` takes :func:`scan_batch_sizes`'s options (``max_size``, ``memory_cap_mb`` ...).
    """
    batches, step = load_probe(project, project_dir, entry)
    result = scan_batch_sizes(batches, step, on_point=on_point, **scan)
    drawn = None
    if plot is not None and result.points:
        from tunebook.plots.batch_size import draw_batch_size_scan

        drawn = str(draw_batch_size_scan(result, plot))
    decision = None
    if store is not None:
        summary = (f"batch-size scan: feasible {result.feasible}, knee {result.knee} "
                   f"({result.stopped})")
        decision = store.add_decision("batch_size", summary, {
            "entry": entry_name(project, entry), "scan": asdict(result), "plot": drawn})
    return BatchSizeReport(entry_name(project, entry), result, drawn, decision)


def profile_project(project: ProjectSpec, project_dir: str | Path, store: Store | None = None,
                    *, entry: str | None = None, batch_size: int | None = None,
                    steps: int = 50, warmup: int = 3, threshold: float = INPUT_BOUND_SHARE,
                    ) -> InputReport:
    """Profile the project's input pipeline at its batch size; record the verdict."""
    config = project.baseline.config
    size = batch_size if batch_size is not None else integer(config, "batch_size", 32, low=1)
    if size is None or size < 1:
        raise SpecError("--batch-size", "an integer >= 1", size)
    batches, step = load_probe(project, project_dir, entry)
    result = profile_input(batches(size), step, steps=steps, warmup=warmup,
                           threshold=threshold, sync=torch.cuda.is_available())
    decision = None
    if store is not None:
        decision = store.add_decision("input_profile", result.message, {
            "entry": entry_name(project, entry), "batch_size": size, "profile": asdict(result)})
    return InputReport(entry_name(project, entry), size, result, decision)
