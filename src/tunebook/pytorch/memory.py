"""Peak memory of a stretch of work: CUDA's allocator on a GPU, the process's peak RSS on CPU.

On Linux the kernel's peak-RSS mark (VmHWM) can be reset by writing 5 to
``/proc/self/clear_refs``, so a CPU peak can be measured per stretch, not only per process.
"""

from __future__ import annotations

import contextlib
import resource
import sys
from pathlib import Path

import torch

_STATUS = Path("/proc/self/status")
_CLEAR = Path("/proc/self/clear_refs")


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    # Not Linux, or not allowed: the process-wide peak is used instead.
    with contextlib.suppress(OSError):
        _CLEAR.write_text("5")


def peak_mb(device: torch.device) -> float | None:
    """Peak memory since :func:`reset_peak` in MiB (CUDA allocated, or CPU resident)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def available_mb() -> float | None:
    """Memory the system can still give (MemAvailable), in MiB; None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def memory_kind(device: torch.device) -> str:
    return "cuda_max_allocated" if device.type == "cuda" else "cpu_peak_rss"
