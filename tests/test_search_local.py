"""The local phase of explore_exploit: CMA-ES around the incumbent, replayed from the store."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from tunebook.core.space import Param, Space
from tunebook.core.trial import TrialRecord
from tunebook.search import make_searcher
from tunebook.search.bayes import ExploreExploitSearcher, local_start
from tunebook.search.local import local_points

pytest.importorskip("cmaes")
pytest.importorskip("optuna")

OPT = np.array([0.31, 0.62, 0.47, 0.55])


def _space(dim: int = 4) -> Space:
    return Space({f"x{i}": Param(role="nuisance", type="float", low=0, high=1)
                  for i in range(dim)})


def _score(config: dict[str, Any]) -> float:
    x = np.array([config[f"x{i}"] for i in range(len(OPT))])
    return float(np.sum((x - OPT) ** 2))  # minimized


def _trial(i: int, config: dict[str, Any], status: str = "completed",
           score: float | None = None) -> TrialRecord:
    return TrialRecord(id=i, round_id=1, round="r", number=i, group={}, config=config, seed=0,
                       status=status, score=score, feasible=True)  # type: ignore[arg-type]


def _run(budget: int, sampler: str = "tpe", seed: int = 0) -> list[TrialRecord]:
    """A sequential explore_exploit round as ``rounds.fill`` drives it (a searcher per step)."""
    space, trials = _space(), []
    for i in range(budget):
        s = ExploreExploitSearcher(space, seed, goal="min", budget=budget,
                                   sampler=sampler)  # type: ignore[arg-type]
        s.update(trials)
        config = s.suggest(1)[0]
        trials.append(_trial(i, config, score=_score(config)))
    return trials


def test_only_large_continuous_budgets_get_a_local_phase() -> None:
    assert local_start(_space(), 100) == 50
    # Too small a budget for five CMA-ES generations (8 trials each at 4-D) in its second
    # half: the model all the way.
    assert local_start(_space(), 78) is None
    assert local_start(_space(), 80) == 40
    assert local_start(_space(), None) is None  # no budget: no end to count back from
    mixed = Space({"x": Param(role="nuisance", type="float", low=0, high=1),
                   "act": Param(role="nuisance", type="choice", choices=["relu", "gelu"])})
    assert local_start(mixed, 200) is None  # CMA-ES has no notion of a choice
    ints = Space({"depth": Param(role="nuisance", type="int", low=1, high=8),
                  "width": Param(role="nuisance", type="int", low=16, high=512, scale="log"),
                  "wd": Param(role="nuisance", type="float", low=1e-6, high=1e-2, scale="log"),
                  "lr": Param(role="nuisance", type="float", low=1e-4, high=1, scale="log")})
    assert local_start(ints, 100) == 50
    assert local_start(_space(3), 1000) is None  # 2-D and 3-D: the GP refines well alone


def test_the_local_phase_refines_the_incumbent() -> None:
    budget = 80
    trials = _run(budget)
    cut = local_start(_space(), budget)
    assert cut is not None
    before = min(t.score for t in trials[:cut])  # type: ignore[type-var]
    after = min(t.score for t in trials[cut:])  # type: ignore[type-var]
    assert after < before / 3  # a clear gain on a smooth bowl, not noise
    incumbent = min(trials[:cut], key=lambda t: t.score)  # type: ignore[arg-type,return-value]
    first = trials[cut].config
    # It starts in the incumbent's neighbourhood (step size 0.1 of the box), not anywhere.
    dist = math.dist([first[f"x{i}"] for i in range(4)],
                     [incumbent.config[f"x{i}"] for i in range(4)])
    assert dist < 0.6


def test_local_suggestions_replay_from_the_store_with_workers_in_flight() -> None:
    budget = 80
    trials = _run(budget)[:50]  # into the local phase (it starts at trial 40)
    s = ExploreExploitSearcher(_space(), 0, goal="min", budget=budget, sampler="tpe")
    s.update(trials)
    four = s.suggest(4)
    assert len({tuple(sorted(c.items())) for c in four}) == 4  # distinct for parallel workers
    # Three handed out and still running: a fresh searcher gives the fourth, as one call did.
    running = [_trial(50 + k, c, status="running") for k, c in enumerate(four[:3])]
    t = ExploreExploitSearcher(_space(), 0, goal="min", budget=budget, sampler="tpe")
    t.update(trials + running)
    assert t.suggest(1) == four[3:]


def test_failed_local_trials_count_as_the_worst_and_the_search_goes_on() -> None:
    space = _space()
    before = [_trial(i, c, score=_score(c))
              for i, c in enumerate(make_searcher("quasi_random", space, 1).suggest(12))]
    x = local_points(space, 0, "min", before, [], 12)
    assert x is not None
    failed = [_trial(12 + k, dict(zip(space.nuisance, p, strict=True)), status="failed")
              for k, p in enumerate(x)]
    nxt = local_points(space, 0, "min", before, failed, 2)
    assert nxt is not None and len(nxt) == 2
    assert all(0.0 <= v <= 1.0 for p in nxt for v in p)
    # Nothing feasible before the phase: nothing to refine, the caller's model takes over.
    assert local_points(space, 0, "min", [_trial(0, before[0].config, status="failed")],
                        [], 1) is None
