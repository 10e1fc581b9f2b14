"""Instability of a training-loss curve: spikes, a rising loss, divergence, read with its noise.

A spike is a point far above the trailing median of the curve (``SPIKE_SCALE`` robust deviations
of the residual, ``SPIKE_SHARE`` of the level, and a fifth of the progress so far: minibatch
noise of a small loss is multiplicative). Spikes that recur at a regular period
(``PERIODIC_MIN`` or more, spaced within ``PERIODIC_TOL`` of a common period) are structure, not
instability: an unshuffled loader or a per-epoch schedule repeats its hardest batches every
epoch. They are reported as ``period`` and never make a curve unstable; a spike off that period
still does. A curve rises when its late level sits above its lowest level by a fifth of the
decrease from the initial loss (the larger median of its first 3 and first 3-10 points) and 4
standard errors of that level, or when its last 10% sits above the initial loss by 4 standard
errors. An early blow-up is 3 points in a row in the first 20% above 1.5x the first (and
initial) loss (periodic spikes aside). Curves under 20 points are read only for divergence,
blow-up and "ends above its start". A flat loss that never falls is not instability: the
baseline check reports it as a pipeline problem ("did not fall").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SPIKE_SCALE = 6.0
SPIKE_SHARE = 0.5
SPIKE_PROGRESS = 0.2
RISE_SHARE = 0.2
PERIODIC_MIN = 3
PERIODIC_TOL = 0.15
MIN_POINTS = 20       # below this, no spike or level reading (too few points)
SHORT_POINTS = 5      # below this, nothing is read but divergence
BLOWUP = 1.5
BLOWUP_RUN = 3


@dataclass(frozen=True)
class LossReading:
    """What one training-loss curve shows."""

    points: int
    diverged: bool                 # a non-finite loss
    spikes: tuple[int, ...]        # steps of irregular spikes (instability)
    periodic: tuple[int, ...]      # steps of spikes that recur at a period (structure)
    period: int | None             # the period in steps, when there is one
    rising_from: int | None        # step from which the loss rises again
    blowup: bool = False           # early blow-up: a point in the first 20% above 1.5x the first

    @property
    def unstable(self) -> bool:
        return self.diverged or bool(self.spikes) or self.rising_from is not None \
            or self.blowup

    def signals(self) -> list[str]:
        """The reasons in words (empty when stable)."""
        out = ["diverged"] if self.diverged else []
        out += ["early blow-up"] if self.blowup else []
        out += [f"irregular spikes at steps {list(self.spikes[:5])}"] if self.spikes else []
        out += [f"loss rising from step {self.rising_from}"] \
            if self.rising_from is not None else []
        return out


def _trailing_median(x: np.ndarray, w: int) -> np.ndarray:
    """Median of the ``w`` points before each point (the first point: itself)."""
    from numpy.lib.stride_tricks import sliding_window_view

    padded = np.concatenate([np.full(w, x[0]), x])
    return np.median(sliding_window_view(padded, w)[:-1], axis=1)


def _lattice(spikes: Sequence[int]) -> tuple[int | None, set[int]]:
    """The period and the spikes on it: the gap and phase that the most spikes recur at.

    A spike sits on the lattice when its distance to the anchor spike is within PERIODIC_TOL of
    a whole number of periods; at least PERIODIC_MIN spikes must, else there is no period.
    """
    if len(spikes) < PERIODIC_MIN:
        return None, set()
    pts = list(spikes)[:200]
    gaps = sorted({b - a for a, b in zip(pts, pts[1:], strict=False) if b > a})
    best: tuple[int, int, set[int]] = (0, 0, set())
    for base in gaps:
        for anchor in pts:
            on = {s for s in pts
                  if abs((s - anchor) / base - round((s - anchor) / base)) <= PERIODIC_TOL}
            # Every whole period between the first and last member must hold a spike, so a
            # long gap and two chance spikes do not make a period.
            span = (max(on) - min(on)) / base
            if len(on) >= PERIODIC_MIN and len(on) >= 0.75 * (round(span) + 1) \
                    and (len(on), base) > (best[0], best[1]):
                best = (len(on), base, on)
    return (best[1], best[2]) if best[0] else (None, set())


def read_loss(steps: Sequence[int], loss: Sequence[float]) -> LossReading:
    """Read one training-loss curve.

    >>> s = list(range(1, 301))
    >>> smooth = [2.0 / (1 + i / 30) for i in s]
    >>> read_loss(s, smooth).unstable
    False
    >>> periodic = [v * (4 if i % 50 == 0 else 1) for i, v in zip(s, smooth)]
    >>> r = read_loss(s, periodic)
    >>> r.unstable, r.period
    (False, 50)
    >>> once = [v * (4 if i == 150 else 1) for i, v in zip(s, smooth)]
    >>> read_loss(s, once).spikes
    (150,)
    """
    st = np.asarray(steps, dtype=int)
    y = np.asarray(loss, dtype=float)
    diverged = bool(len(y)) and not bool(np.all(np.isfinite(y)))
    ok = np.isfinite(y)
    st, y = st[ok], y[ok]
    n = len(y)
    if n < SHORT_POINTS:
        return LossReading(n, diverged, (), (), None, None)
    k = max(1, n // 10)
    init = _initial(y)
    if n < MIN_POINTS:
        # Too short for a noise estimate: it rose if its end sits above its start.
        never_fell = n >= SHORT_POINTS and float(np.median(y[-k:])) > init
        return LossReading(n, diverged, (), (), None, int(st[0]) if never_fell else None,
                           _blowup(st, y, set(), init))
    w = int(min(51, max(5, n // 20)))
    base = _trailing_median(y, w)
    resid = y - base
    scale = float(1.4826 * np.median(np.abs(resid - np.median(resid))))
    start = float(np.median(y[:max(3, min(10, n // 50))]))
    progress = np.maximum(start - base, 0.0)
    hit = (resid > np.maximum(SPIKE_SCALE * scale, SPIKE_SHARE * np.abs(base))) & (
        resid > SPIKE_PROGRESS * progress)
    hit[:w] = False  # the trailing window is still filling up
    spikes: list[int] = []
    last = -10**9
    for i in np.flatnonzero(hit):
        if i - last > w:  # consecutive spike points are one event
            spikes.append(int(st[i]))
        last = int(i)
    period, on = _lattice(spikes)
    irregular = [s for s in spikes if s not in on]
    regular = [s for s in spikes if s in on]
    # Never fell: the last 10%'s median above the initial loss by more than its noise (a flat
    # loss that learns nothing is a pipeline problem, not instability).
    kk = max(5, k)
    never_fell = float(np.median(y[-kk:])) - init > 4 * scale / math.sqrt(kk)
    rising = int(st[0]) if never_fell else _rising(st, y, scale, init)
    return LossReading(n, diverged, tuple(irregular), tuple(regular), period, rising,
                       _blowup(st, y, on, init))


def _initial(y: np.ndarray) -> float:
    """The initial loss: the larger of the medians of the first 3 and the first 3-10 points.

    The first 3 catch a loss that falls within a few steps; the longer window steadies a noisy
    minibatch loss. The larger one errs toward "it fell", never toward false instability.
    """
    return max(float(np.median(y[:3])), float(np.median(y[:max(3, min(10, len(y) // 20))])))


def _blowup(st: np.ndarray, y: np.ndarray, periodic: set[int], init: float) -> bool:
    """The first 20% climbs above BLOWUP x the initial loss, for BLOWUP_RUN points in a row
    (one bad minibatch is not a blow-up; periodic spikes aside)."""
    n = len(y)
    if n < SHORT_POINTS or init <= 0:
        return False
    m = max(2, n // 5)
    ref = max(init, float(y[0]))  # above the first loss and the initial level
    early = [float(v) for s, v in zip(st[1:m], y[1:m], strict=True) if int(s) not in periodic]
    run = min(BLOWUP_RUN, max(1, len(early) // 4))
    high = [v > BLOWUP * ref for v in early]
    return any(all(high[i:i + run]) for i in range(len(high) - run + 1))


def _rising(st: np.ndarray, y: np.ndarray, scale: float, start: float) -> int | None:
    n = len(y)
    k = max(5, n // 10)
    level = np.asarray([np.median(y[max(0, i - k + 1):i + 1]) for i in range(k - 1, n, k)])
    if len(level) < 3:
        return None
    lo_i = int(np.argmin(level[:-1]))
    lowest, end = float(level[lo_i]), float(level[-1])
    decrease = start - lowest
    if decrease <= 0 and end - start > max(4 * scale / math.sqrt(k), 1e-12 * abs(start)):
        return int(st[0])  # it never fell: rising from the start
    if decrease > 0 and end - lowest > max(RISE_SHARE * decrease, 4 * scale / math.sqrt(k)):
        return int(st[min((lo_i + 1) * k - 1, n - 1)])
    return None


__all__ = ["LossReading", "read_loss"]
