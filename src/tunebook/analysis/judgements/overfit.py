"""Overfitting: the dev curve's best point and the trend after it, read against its noise.

The dev curve is the score or the metric analysed (``tunebook analyze NAME --metric dev/loss``
reads the dev loss: its minimum and the rise after it). With the curve turned so that higher is
better, a trial overfits when, after its best eval (glitches excluded, see
:func:`tunebook.core.score.isolated_evals`), at least two evals follow, the mean of the last two
sits below the best by more than ``NOISE_OVERFIT`` standard errors and ``OVERFIT_SHARE`` of the
curve's range, and the least-squares trend after the best is downward. The best eval may be the
first one: a curve that is best at its first eval and only worse afterwards overfits (it is not
"saturation").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

OVERFIT_SHARE = 0.10
NOISE_OVERFIT = 3.0


@dataclass(frozen=True)
class OverfitReading:
    best_index: int
    best_step: int
    drop: float          # best minus the mean of the last two evals (in the better direction)
    slope: float         # trend per step after the best (negative: worsening)


def read_overfit(steps: Sequence[int], y: Sequence[float], se: float,
                 skip: Sequence[int] = ()) -> OverfitReading | None:
    """``y`` is oriented so that higher is better; ``skip`` holds glitch indices.

    >>> read_overfit([1, 2, 3, 4, 5], [0.9, 0.8, 0.7, 0.65, 0.6], se=0.01).best_step
    1
    >>> read_overfit([1, 2, 3, 4, 5], [0.5, 0.7, 0.8, 0.85, 0.86], se=0.01) is None
    True
    """
    ys = np.asarray(y, dtype=float)
    if len(ys) < 3:
        return None
    masked = ys.copy()
    masked[list(skip)] = -math.inf
    b = int(np.argmax(masked))
    if len(ys) - 1 - b < 2:
        return None
    end = float(np.mean(ys[-2:]))
    drop = float(ys[b]) - end
    span = float(np.max(np.delete(ys, list(skip))) - np.min(ys)) if len(skip) < len(ys) \
        else 0.0
    x = np.asarray(steps[b:], dtype=float)
    slope = float(np.polyfit(x, ys[b:], 1)[0]) if len(x) >= 2 and np.ptp(x) > 0 else 0.0
    # The mean of two evals has SE se/sqrt(2); their difference to the best ~ se*sqrt(1.5).
    if drop > max(NOISE_OVERFIT * se * math.sqrt(1.5), OVERFIT_SHARE * span) and slope < 0:
        return OverfitReading(b, int(steps[b]), drop, slope)
    return None


__all__ = ["OverfitReading", "read_overfit"]
