"""Judging measured throughput (torch-free): the batch-size knee and input-bound loops.

The measuring lives in ``tunebook.pytorch.batch_size`` and ``tunebook.pytorch.pipeline``; these
pure functions turn measurements into the verdicts, so they are tested on synthetic curves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tunebook.core.errors import SpecError

# The knee: the smallest batch size whose throughput is within this fraction of the best.
KNEE_FRACTION = 0.9
# Doubling the batch and gaining more than this is "still scaling".
STILL_SCALING_GAIN = 1.1
# A loop that waits on data for more than this share of its step time is input-bound.
INPUT_BOUND_SHARE = 0.1

RETUNE_NOTE = ("Batch size is not a knob for dev performance: pick it for throughput, and "
               "remember that changing it re-opens the learning rate, the regularization and "
               "the step budget (re-tune them at the new size).")

INPUT_SUGGESTIONS = (
    "cache the decoded data in memory or on local disk (decode once, not every epoch)",
    "move expensive preprocessing offline, before training",
    "prefetch batches while the model computes (DataLoader prefetch_factor, pin_memory=True)",
    "load in parallel worker processes (DataLoader num_workers > 0)",
)


@dataclass(frozen=True)
class ThroughputPoint:
    batch_size: int
    examples_per_s: float
    step_s: float
    steps: int
    peak_memory_mb: float | None = None


@dataclass(frozen=True)
class BatchSizeScan:
    points: tuple[ThroughputPoint, ...]
    feasible: tuple[int, int] | None     # smallest and largest batch size that ran
    knee: int | None                     # where throughput stops scaling
    knee_fraction: float
    still_scaling: bool                  # the largest size still gained a lot: try larger
    stopped: str                         # why the scan ended
    device: str = "cpu"
    memory_kind: str = ""
    memory_cap_mb: float | None = None
    note: str = RETUNE_NOTE


@dataclass(frozen=True)
class InputProfile:
    steps: int
    wait_s: float                        # total time spent waiting for the next batch
    compute_s: float                     # total time spent in the training step
    wait_share: float                    # wait / (wait + compute)
    threshold: float
    input_bound: bool
    suggestions: tuple[str, ...] = field(default_factory=tuple)
    message: str = ""


def find_knee(sizes: Sequence[int], examples_per_s: Sequence[float],
              fraction: float = KNEE_FRACTION) -> int | None:
    """The smallest batch size reaching ``fraction`` of the best measured throughput.

    >>> find_knee([8, 16, 32, 64, 128], [800, 1600, 3000, 3200, 3210])
    32
    """
    if len(sizes) != len(examples_per_s):
        raise SpecError("throughput", f"{len(sizes)} values (one per batch size)",
                        len(examples_per_s))
    if not 0 < fraction <= 1:
        raise SpecError("knee fraction", "a number in (0, 1]", fraction)
    if not sizes:
        return None
    best = max(examples_per_s)
    return min(b for b, t in zip(sizes, examples_per_s, strict=True) if t >= fraction * best)


def summarize_scan(points: Sequence[ThroughputPoint], stopped: str, *,
                   knee_fraction: float = KNEE_FRACTION, device: str = "cpu",
                   memory_kind: str = "", memory_cap_mb: float | None = None) -> BatchSizeScan:
    """The scan's verdict from its measured points (sizes in increasing order)."""
    pts = tuple(sorted(points, key=lambda p: p.batch_size))
    sizes = [p.batch_size for p in pts]
    rates = [p.examples_per_s for p in pts]
    still = len(pts) >= 2 and rates[-1] > STILL_SCALING_GAIN * rates[-2]
    return BatchSizeScan(
        points=pts, feasible=(sizes[0], sizes[-1]) if pts else None,
        knee=find_knee(sizes, rates, knee_fraction), knee_fraction=knee_fraction,
        still_scaling=still, stopped=stopped, device=device, memory_kind=memory_kind,
        memory_cap_mb=memory_cap_mb)


def judge_input(wait_s: float, compute_s: float, steps: int,
                threshold: float = INPUT_BOUND_SHARE) -> InputProfile:
    """Input-bound when the share of step time spent waiting for data exceeds ``threshold``.

    >>> judge_input(wait_s=3.0, compute_s=1.0, steps=10).input_bound
    True
    """
    if not 0 < threshold < 1:
        raise SpecError("threshold", "a share in (0, 1)", threshold)
    total = wait_s + compute_s
    share = wait_s / total if total > 0 else 0.0
    bound = share > threshold
    if bound:
        msg = (f"input-bound: {share:.0%} of step time is spent waiting for data "
               f"(threshold {threshold:.0%}); the accelerator idles. Try: "
               + "; ".join(INPUT_SUGGESTIONS) + ".")
    else:
        msg = (f"compute-bound: {share:.1%} of step time is spent waiting for data "
               f"(threshold {threshold:.0%}); the input pipeline is not the bottleneck.")
    return InputProfile(steps, wait_s, compute_s, share, threshold, bound,
                        INPUT_SUGGESTIONS if bound else (), msg)
