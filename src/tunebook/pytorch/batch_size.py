"""The batch-size scan: short runs at powers of two until memory runs out, with throughput.

The user's code provides two plain callables, the same pair ``tunebook profile-input`` uses:
``batches(batch_size)`` returns an iterator of training batches, and ``step(batch)`` runs one
training step (forward, backward, optimizer step) on a batch. Each size gets a few warmup steps
and then timed steps; the scan stops at the first out-of-memory error, at the maximum size, or
on CPU before the process's peak memory would pass the cap. The verdict (feasible range, knee)
comes from :func:`tunebook.core.throughput.summarize_scan`.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch

from tunebook.core.errors import SpecError
from tunebook.core.throughput import KNEE_FRACTION, BatchSizeScan, ThroughputPoint, summarize_scan
from tunebook.pytorch.memory import available_mb, memory_kind, peak_mb, reset_peak

Batches = Callable[[int], Iterator[Any]]
Step = Callable[[Any], Any]

# On CPU the scan stops before the process's peak memory would pass this share of the memory
# available when it started (an OOM on CPU is the kernel killing the process, not an error).
CPU_MEMORY_SHARE = 0.5


def scan_batch_sizes(batches: Batches, step: Step, *, start: int = 1, max_size: int = 1024,
                     memory_cap_mb: float | None = None, warmup_steps: int = 2,
                     min_steps: int = 5, min_seconds: float = 0.2,
                     device: str | torch.device | None = None,
                     knee_fraction: float = KNEE_FRACTION,
                     on_point: Callable[[ThroughputPoint], None] | None = None) -> BatchSizeScan:
    """Measure examples per second at batch sizes start, 2*start, ... up to ``max_size``.

    >>> import torch
    >>> model = torch.nn.Linear(4, 1); opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> def batches(b):
    ...     while True:
    ...         yield torch.randn(b, 4)
    >>> def step(x):
    ...     opt.zero_grad(); model(x).pow(2).mean().backward(); opt.step()
    >>> scan = scan_batch_sizes(batches, step, max_size=8, min_seconds=0.0)
    >>> [p.batch_size for p in scan.points], scan.stopped
    ([1, 2, 4, 8], 'reached the maximum batch size 8')
    """
    _check(start, max_size, memory_cap_mb, warmup_steps, min_steps, min_seconds)
    dev = torch.device(device) if device is not None else torch.device(
        "cuda" if torch.cuda.is_available() else "cpu")
    if memory_cap_mb is None and dev.type == "cpu":
        now, free = peak_mb(dev), available_mb()
        if now is not None and free is not None:
            memory_cap_mb = now + CPU_MEMORY_SHARE * free
    points: list[ThroughputPoint] = []
    size, stopped = start, f"reached the maximum batch size {max_size}"
    while size <= max_size:
        try:
            point = _measure(batches, step, size, dev, warmup_steps, min_steps, min_seconds)
        except Exception as exc:
            if not _is_oom(exc):
                raise
            _free(dev)
            stopped = f"out of memory at batch size {size}"
            break
        if memory_cap_mb is not None and point.peak_memory_mb is not None \
                and point.peak_memory_mb > memory_cap_mb:
            stopped = (f"batch size {size} used {point.peak_memory_mb:.0f} MiB, over the "
                       f"memory cap of {memory_cap_mb:.0f} MiB")
            break
        points.append(point)
        if on_point is not None:
            on_point(point)
        nxt = _predicted_next_mb(points)
        if memory_cap_mb is not None and nxt is not None and nxt > memory_cap_mb \
                and size * 2 <= max_size:
            stopped = (f"batch size {size * 2} would pass the memory cap of "
                       f"{memory_cap_mb:.0f} MiB (predicted {nxt:.0f} MiB)")
            break
        size *= 2
    return summarize_scan(points, stopped, knee_fraction=knee_fraction, device=str(dev),
                          memory_kind=memory_kind(dev), memory_cap_mb=memory_cap_mb)


def _measure(batches: Batches, step: Step, size: int, dev: torch.device, warmup: int,
             min_steps: int, min_seconds: float) -> ThroughputPoint:
    it = batches(size)
    reset_peak(dev)
    try:
        for _ in range(warmup):
            step(next(it))
        _sync(dev)
        n, t0 = 0, time.perf_counter()
        while n < min_steps or time.perf_counter() - t0 < min_seconds:
            step(next(it))
            n += 1
            if n >= 100 * min_steps:  # very fast steps: enough samples
                break
        _sync(dev)
        elapsed = max(time.perf_counter() - t0, 1e-9)
    except StopIteration:
        raise SpecError(f"batches({size})", "an iterator with enough batches for warmup and "
                        f"{min_steps}+ timed steps", "an exhausted iterator",
                        "Yield batches endlessly (sample with replacement).") from None
    return ThroughputPoint(size, size * n / elapsed, elapsed / n, n, peak_mb(dev))


def _predicted_next_mb(points: list[ThroughputPoint]) -> float | None:
    """Memory at twice the last size: activations grow linearly with the batch, so the
    increase from the previous size doubles."""
    if len(points) < 2 or points[-1].peak_memory_mb is None \
            or points[-2].peak_memory_mb is None:
        return None
    last, prev = points[-1].peak_memory_mb, points[-2].peak_memory_mb
    return last + 2 * max(last - prev, 0.0)


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError | torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text
                                              or "can't allocate memory" in text)


def _free(dev: torch.device) -> None:
    gc.collect()
    if dev.type == "cuda":
        torch.cuda.empty_cache()


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _check(start: int, max_size: int, cap: float | None, warmup: int, min_steps: int,
           min_seconds: float) -> None:
    if isinstance(start, bool) or not isinstance(start, int) or start < 1:
        raise SpecError("start", "an integer >= 1", start)
    if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < start:
        raise SpecError("max batch size", f"an integer >= start ({start})", max_size)
    if cap is not None and not cap > 0:
        raise SpecError("memory cap", "a size > 0 MiB", cap)
    if warmup < 0 or min_steps < 1 or min_seconds < 0:
        raise SpecError("scan steps", "warmup >= 0, min_steps >= 1, min_seconds >= 0",
                        {"warmup": warmup, "min_steps": min_steps, "min_seconds": min_seconds})
