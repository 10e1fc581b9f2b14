"""Quasi-random search: a scrambled, shifted Halton sequence (the playbook's exploration tool).

Each dimension gets a random digit permutation (scipy's scrambled Halton) and a random shift
modulo 1, and the first points are skipped, all from one seed. The whole state is the seed and
how many points were handed out, so the sequence is resumable: the k-th trial of a group always
gets the k-th point, and every target group gets the same points (a paired comparison).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tunebook.core.space import Space
from tunebook.core.trial import TrialRecord

SKIP = 16  # the first Halton points are correlated across dimensions; skip them


def halton_points(dim: int, seed: int, start: int, n: int) -> np.ndarray:
    """Points ``start .. start+n-1`` of the seeded, scrambled and shifted sequence."""
    if dim == 0:
        return np.zeros((n, 0))
    from scipy.stats import qmc  # scipy.stats costs ~1 s to import: only when sampling

    rng = np.random.default_rng([seed, 0x7A11])
    shift = rng.random(dim)
    engine = qmc.Halton(d=dim, scramble=True, seed=np.random.default_rng([seed, 0x5EED]))
    engine.fast_forward(SKIP + start)
    pts = engine.random(n)
    return np.asarray((pts + shift) % 1.0)


class QuasiRandomSearcher:
    """Scrambled, shifted Halton points, the same for every target group (exploration)."""

    name = "quasi_random"
    adaptive = False

    def __init__(self, space: Space, seed: int, **_: Any) -> None:
        self.space = space
        self.seed = seed
        self.count = 0

    def update(self, trials: Sequence[TrialRecord]) -> None:
        self.count = len(trials)

    def suggest(self, n: int) -> list[dict[str, Any]]:
        pts = unit_points(self.space, self.seed, self.count, n)
        self.count += n
        return [nuisance(self.space, list(p)) for p in pts]


def unit_points(space: Space, seed: int, start: int, n: int) -> np.ndarray:
    """Points ``start .. start+n-1`` for ``space``'s nuisance dimensions.

    The sequence runs over the round's full nuisance list and keeps this space's slots, so a
    target group whose conditional hyperparameters differ still shares the other coordinates.
    """
    return halton_points(space.full_dim, seed, start, n)[:, space.slots]


class RandomSearcher:
    """Uniform random search in the unit cube (log-aware through the space's maps)."""

    name = "random"
    adaptive = False

    def __init__(self, space: Space, seed: int, **_: Any) -> None:
        self.space = space
        self.seed = seed
        self.count = 0

    def update(self, trials: Sequence[TrialRecord]) -> None:
        self.count = len(trials)

    def suggest(self, n: int) -> list[dict[str, Any]]:
        out = []
        for k in range(self.count, self.count + n):
            # One stream per point index keeps point k the same however the calls are batched.
            u = np.random.default_rng([self.seed, k]).random(self.space.full_dim)
            out.append(nuisance(self.space, list(u[self.space.slots])))
        self.count += n
        return out


def nuisance(space: Space, u: list[float]) -> dict[str, Any]:
    """The nuisance values at unit-cube point ``u`` (one coordinate per nuisance dimension)."""
    return {name: p.from_unit(x) for (name, p), x in zip(space.nuisance.items(), u, strict=True)}
