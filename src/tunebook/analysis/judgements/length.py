"""Training length: one verdict per trial (shorter, longer or fine) and one per round.

Per trial, in this order (the first that applies is the verdict, so one trial never says both):

1. overfitting (:mod:`.overfit`): the best-step checkpoint is already selected; shorter only when
   the best step falls in the first 10% of training (reason ``best_step_early``), else fine;
2. ``early_saturation``: no gain beyond noise in the second half of training -> shorter;
3. ``still_improving``: the last eval beats every eval before the last 10% by more than the
   noise and is within noise of the best -> longer;
4. ``best_step_late``: the best step in the last 25% of training -> longer;
5. ``best_step_early``: the best step in the first 10% -> shorter.

Per round, the direction most of the top trials agree on wins (a tie goes to the best trial's
verdict); trials that disagree are listed as dissent, never as a second finding.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Direction = Literal["shorter", "longer", "fine", "unknown"]
EARLY, LATE = 0.10, 0.75
END = 0.9


@dataclass(frozen=True)
class LengthVerdict:
    direction: Direction
    reason: str | None             # early_saturation | still_improving | best_step_* | None
    suggested_steps: int | None
    saturated_at: int | None = None


def round_steps(x: float) -> int:
    """Round a step count up to 2 significant digits (1234 -> 1300)."""
    if x <= 0:
        return 0
    mag = 10 ** max(int(math.floor(math.log10(x))) - 1, 0)
    return int(math.ceil(x / mag) * mag)


def trial_length(steps: Sequence[int], y: Sequence[float], total: int, best_step: int | None,
                 se: float, *, overfit: bool) -> LengthVerdict:
    """``y`` oriented so that higher is better; ``se`` one eval's standard error.

    >>> trial_length([100, 200, 300, 400], [0.5, 0.6, 0.7, 0.8], 400, 400, 0.01,
    ...              overfit=False).direction
    'longer'
    """
    if best_step is None:
        return LengthVerdict("unknown", None, None)
    frac = best_step / max(total, 1)
    early = LengthVerdict("shorter", "best_step_early", round_steps(max(4 * best_step, 1)))
    if overfit:
        return early if frac <= EARLY else LengthVerdict("fine", None, None)
    st = np.asarray(steps, dtype=float)
    ys = np.asarray(y, dtype=float)
    if len(ys) >= 3:
        improvement = float(ys.max() - ys[0])
        tol = max(2 * se, 0.005 * abs(improvement), 1e-12)
        first, second = ys[st <= 0.5 * total], ys[st > 0.5 * total]
        if len(first) >= 2 and len(second) >= 2 and float(second.max() - first.max()) <= tol:
            at = int(st[int(np.argmax(ys >= ys.max() - tol))])
            return LengthVerdict("shorter", "early_saturation", round_steps(1.25 * at), at)
        before = ys[st <= END * total]
        if len(before) and st[-1] > END * total and ys[-1] >= ys.max() - tol \
                and float(ys[-1] - before.max()) > tol:
            return LengthVerdict("longer", "still_improving", round_steps(2 * total))
    if frac >= LATE:
        return LengthVerdict("longer", "best_step_late", round_steps(1.5 * total))
    if frac <= EARLY:
        return early
    return LengthVerdict("fine", None, None)


def round_length(verdicts: Sequence[LengthVerdict]) -> Direction:
    """The round's one direction; ``verdicts`` in rank order (best trial first).

    >>> v = [LengthVerdict("shorter", "early_saturation", 100),
    ...      LengthVerdict("longer", "best_step_late", 600)]
    >>> round_length(v)
    'shorter'
    """
    known = [v.direction for v in verdicts if v.direction != "unknown"]
    if not known:
        return "unknown"
    counts = Counter(known)
    top = max(counts.values())
    leaders = [d for d, c in counts.items() if c == top]
    return leaders[0] if len(leaders) == 1 else next(d for d in known if d in leaders)


__all__ = ["Direction", "LengthVerdict", "round_length", "round_steps", "trial_length"]
