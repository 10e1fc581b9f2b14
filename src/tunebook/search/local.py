"""Local refinement: CMA-ES around the incumbent, replayed from the store.

After the model has had the first half of the budget, the last half of an ``explore_exploit``
group in a continuous space of 4+ dimensions refines the best config so far (the rule is
``search.bayes.local_start``): CMA-ES (the ``cmaes`` package) starts at the incumbent with a
small step size and adapts its covariance to the local shape of the score. A GP models the
whole box well but refines a narrow optimum poorly in 5 and more dimensions; CMA-ES does the
opposite, so the hand-over suits both (see docs/benchmarks/search.md for the numbers).

Like the Bayesian searcher, nothing lives outside the store. CMA-ES keeps state (mean, step size,
covariance), so it is rebuilt on every suggestion by replaying the group's local-phase trials in
trial order: every ``popsize`` finished trials make one generation, told to CMA-ES with their
actual points (``tell`` recomputes the steps from the points, so a trial that finished out of
order or came from an older generation is still used correctly). Queued and running trials,
plus the finished ones of the current unfinished generation, occupy slots of the current
generation; the next suggestion is the next slot's sample, drawn from a stream seeded by
(seed, generation), so a resumed round suggests exactly what an uninterrupted one would.
Workers beyond the population size draw further samples of the same generation.

Diverged, failed and infeasible trials are told the worst score seen, as the model is: CMA-ES
moves away from them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from tunebook.core.space import Space
from tunebook.core.trial import FINISHED, TrialRecord

# Initial step size in the unit cube: a close neighbourhood of the incumbent, not the box (on
# BBOB 0.05 beat 0.1 at 5-D and 10-D; the step size adapts from there).
SIGMA0 = 0.05


def population(dim: int) -> int:
    """CMA-ES's default population size, 4 + floor(3 ln d): the trials of one generation."""
    return 4 + int(3 * math.log(dim)) if dim > 0 else 0


def continuous(space: Space) -> bool:
    """Whether CMA-ES can refine this space: every nuisance dimension is a float or an int."""
    return space.dim > 0 and all(p.kind in ("float", "int") for p in space.nuisance.values())


def local_points(space: Space, seed: int, goal: Literal["max", "min"],
                 before: Sequence[TrialRecord], local: Sequence[TrialRecord], n: int,
                 config_of: Callable[[TrialRecord], dict[str, Any]] | None = None
                 ) -> list[list[float]] | None:
    """The next ``n`` unit-cube points of the local phase, or None when it cannot run.

    ``before``: the group's trials before the local phase (they give the incumbent);
    ``local``: the local phase's trials so far, in trial order. None when no trial before has
    a feasible score (nothing to refine) or when CMA-ES has converged (its step size is spent):
    the caller then falls back to its model.
    """
    from cmaes import CMA

    config = config_of or (lambda t: t.config)
    sign = -1.0 if goal == "max" else 1.0  # CMA-ES minimizes
    scores = [t.score for t in (*before, *local) if _scored(t)]
    if not scores:
        return None
    worst = max(sign * s for s in scores)  # type: ignore[operator]
    best = min((t for t in before if _scored(t) and t.feasible),
               key=lambda t: sign * t.score, default=None)  # type: ignore[operator]
    if best is None:
        return None
    mean = _unit(space, config(best))
    if mean is None:
        return None
    cma = CMA(mean=np.clip(mean, 0.0, 1.0), sigma=SIGMA0, bounds=np.array([[0.0, 1.0]] * space.dim),
              seed=seed)
    pop = cma.population_size
    told: list[tuple[np.ndarray, float]] = []
    pending = 0
    for t in local:
        x = _unit(space, config(t))
        if x is None:
            continue
        if t.status not in FINISHED:
            pending += 1
            continue
        value = sign * float(t.score) if _scored(t) and t.feasible else worst  # type: ignore[arg-type]
        told.append((np.clip(x, 0.0, 1.0), value))
        if len(told) == pop:
            cma.tell(told)
            told = []
    if cma.should_stop():
        return None
    slot = len(told) + pending
    cma.reseed_rng(int(np.random.SeedSequence([seed, cma.generation, 0xC3A])
                       .generate_state(1)[0]))
    samples = [cma.ask() for _ in range(slot + n)]
    return [list(map(float, x)) for x in samples[slot:]]


def _scored(t: TrialRecord) -> bool:
    return (t.status in ("completed", "pruned") and t.score is not None
            and math.isfinite(t.score))


def _unit(space: Space, config: dict[str, Any]) -> np.ndarray | None:
    """The config's point in the unit cube; None when it lacks a dimension or holds a bad value."""
    try:
        return np.array(space.unit_point(config))
    except (KeyError, TypeError, ValueError):
        return None
