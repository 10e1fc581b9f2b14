"""Bayesian exploitation through Optuna's samplers, rebuilt from the store on every update.

The store stays the single source of truth: each ``suggest`` builds an in-memory Optuna study
from the group's trials and asks it (ask-and-tell), so a resumed round gives the same
suggestions as an uninterrupted one and no sampler state lives anywhere else.

What the model is told, trial by trial:

- completed with a score: the score, feasible or not (a broken constraint is an Optuna
  constraint > 0, so the sampler learns where the infeasible region is);
- diverged, failed, or finished without a score: the worst score seen so far and a broken
  constraint, so the region that blew up is avoided rather than silently forgotten;
- pruned: its score when it has one, otherwise like diverged;
- queued or running: a pending Optuna trial, so parallel workers get distinct suggestions
  (GP: q-batch expected improvement; TPE: constant liar). A suggestion equal to any trial of
  the group is asked again, then replaced by the next quasi-random point.

Small budgets (at most 50 trials per target value) use Optuna's GPSampler (needs torch;
``greenlet`` makes it faster); larger budgets, categorical-heavy spaces or an install without
torch use multivariate TPE. On COCO BBOB the GP is far ahead at 40 evaluations (2-D) and
multivariate TPE slightly ahead at 100 (5-D); see docs/benchmarks/search.md.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from tunebook.errors import SpecError
from tunebook.search.quasi_random import nuisance, unit_points
from tunebook.space import Param, Space
from tunebook.trial import FINISHED, TrialRecord

if TYPE_CHECKING:
    import optuna

GP_MAX_BUDGET = 50  # trials per group up to which the GP is used (BBOB: GP wins at 40, TPE at 100)
MIN_FINISHED = 2  # a model needs at least this many finished trials; before, quasi-random
START_MIN, START_MAX = 5, 20
Sampler = Literal["auto", "gp", "tpe"]


def start_size(dim: int, budget: int | None = None) -> int:
    """Quasi-random trials before the model takes over: 2(d+1) within [5, 20], <= the budget.

    A budget no larger than that is all exploration: a model fit on fewer points than
    2(d+1) would guess, not exploit.

    >>> start_size(2), start_size(5, budget=100), start_size(3, budget=6)
    (6, 12, 6)
    """
    n = min(max(2 * (dim + 1), START_MIN), START_MAX)
    return n if budget is None else min(n, budget)


class BayesianSearcher:
    """Bayesian exploitation (GP for small budgets, TPE for larger), rebuilt from the store.

    >>> from tunebook.space import Param, Space
    >>> space = Space({"x": Param(role="nuisance", type="float", low=0, high=1)})
    >>> s = BayesianSearcher(space, seed=0, goal="min")
    >>> s.update([]); [sorted(c) for c in s.suggest(2)]
    [['x'], ['x']]
    """

    name = "bayesian"
    adaptive = True
    repeats_empty_space = False  # no nuisance hyperparameter: an error, nothing to exploit

    def __init__(self, space: Space, seed: int, *, goal: Literal["max", "min"] = "max",
                 budget: int | None = None, sampler: Sampler = "auto") -> None:
        if space.dim == 0 and not self.repeats_empty_space:
            raise SpecError("algorithm", f"at least one nuisance hyperparameter to search with "
                            f"'{self.name}'", "an empty space",
                            "Add a nuisance range, or use quasi_random to repeat one config.")
        if goal not in ("max", "min"):
            raise SpecError("goal", "'max' or 'min'", goal)
        if sampler not in ("auto", "gp", "tpe"):
            raise SpecError("sampler", "one of 'auto', 'gp', 'tpe'", sampler)
        self.space, self.seed, self.goal, self.budget = space, seed, goal, budget
        self.sampler = sampler
        self.start = self._start()
        self.trials: list[TrialRecord] = []

    def _start(self) -> int:
        """Quasi-random trials before the model (none: the model starts once it has data)."""
        return 0

    # -- the searcher interface -----------------------------------------------------------------

    @property
    def upfront(self) -> int:
        """Next suggestions that do not depend on results (the rest of the quasi-random start)."""
        return max(0, self.start - len(self.trials))

    def update(self, trials: Sequence[TrialRecord]) -> None:
        self.trials = list(trials)

    def suggest(self, n: int) -> list[dict[str, Any]]:
        count = len(self.trials)
        finished = sum(t.status in FINISHED for t in self.trials)
        out: list[dict[str, Any]] = []
        study = None
        for k in range(n):
            index = count + k
            if index < self.start or finished < MIN_FINISHED:
                out.append(nuisance(self.space, list(unit_points(self.space, self.seed,
                                                                 index, 1)[0])))
                continue
            if study is None:
                study = self._study()
            out.append(self._ask(study, out, index))
        return out

    # -- the model ------------------------------------------------------------------------------

    def model(self) -> str:
        """Which Optuna sampler the next suggestion uses: ``"gp"`` or ``"tpe"``.

        GP for a small budget (without one: while the group is small), TPE for a larger one,
        for a space of mostly choices, or without torch.
        """
        if self.sampler != "auto":
            return self.sampler
        size = self.budget if self.budget is not None else len(self.trials) + 1
        choices = sum(p.kind == "choice" for p in self.space.nuisance.values())
        if (size > GP_MAX_BUDGET or 2 * choices > self.space.dim
                or importlib.util.find_spec("torch") is None):
            return "tpe"
        return "gp"

    def _ask(self, study: optuna.Study, batch: list[dict[str, Any]], index: int
             ) -> dict[str, Any]:
        # Never a config the group already has: a pending one would run twice at once, and a
        # finished one (a GP likes to return to a bound) would read as a seed replicate.
        known = [_full(t) for t in self.trials] + batch
        with _quiet():
            for _ in range(3):
                # An asked trial stays RUNNING in the study, so asking again avoids it.
                try:
                    params = study.ask(self.distributions).params
                except Exception as exc:  # a numerical failure must not stop the workers
                    warnings.warn(f"{self.model()} sampler failed ({type(exc).__name__}: "
                                  f"{exc}); using the trial's quasi-random point", stacklevel=2)
                    break
                config = self._values(params)
                if not any(_same(config, p, self.space) for p in known):
                    return config
        return self._fresh(index, known)

    def _fresh(self, index: int, known: list[dict[str, Any]]) -> dict[str, Any]:
        """The model failed or keeps proposing a known config (a bound, a small discrete
        space): this trial's quasi-random point, else seeded uniform draws, else a repeat."""
        u = unit_points(self.space, self.seed, index, 1)[0]
        config = nuisance(self.space, list(u))
        for attempt in range(64):
            if not any(_same(config, p, self.space) for p in known):
                return config
            u = np.random.default_rng([self.seed, index, attempt]).random(self.space.full_dim)
            config = nuisance(self.space, list(u[self.space.slots]))
        return config  # every config of a tiny space is taken: a repeat is all that is left

    @property
    def distributions(self) -> dict[str, Any]:
        return {name: _distribution(p) for name, p in self.space.nuisance.items()}

    def _study(self) -> optuna.Study:
        import optuna

        seed = int(np.random.SeedSequence([self.seed, len(self.trials), 0xBA7E])
                   .generate_state(1)[0])
        with _quiet():
            if self.model() == "gp":
                sampler: optuna.samplers.BaseSampler = optuna.samplers.GPSampler(
                    seed=seed, n_startup_trials=MIN_FINISHED, warn_independent_sampling=False)
            else:
                sampler = optuna.samplers.TPESampler(
                    seed=seed, multivariate=True, constant_liar=True,
                    n_startup_trials=MIN_FINISHED, warn_independent_sampling=False)
            study = optuna.create_study(
                direction="maximize" if self.goal == "max" else "minimize", sampler=sampler)
            study.add_trials(self._told())
        return study

    def _told(self) -> list[optuna.trial.FrozenTrial]:
        """The group's trials as Optuna records (see the module docstring for the rules)."""
        from optuna.trial import TrialState, create_trial

        dists = self.distributions
        done = [t for t in self.trials if t.status in FINISHED]
        scores = [t.score for t in done if t.score is not None and math.isfinite(t.score)]
        worst = (min(scores) if self.goal == "max" else max(scores)) if scores else 0.0
        told: list[tuple[TrialRecord, float, bool]] = []
        for t in done:
            scored = t.score is not None and math.isfinite(t.score)
            if t.status in ("completed", "pruned") and scored:
                told.append((t, float(t.score), bool(t.feasible)))  # type: ignore[arg-type]
            else:
                told.append((t, worst, False))
        # Constraints only when something broke one: an all-feasible history stays an
        # unconstrained problem (a constraint model doubles the GP's cost for nothing).
        constrained = any(not ok for _, _, ok in told)
        out = []
        for t, value, ok in told:
            params = self._params(_full(t))
            if params is None:
                continue
            out.append(create_trial(params=params, distributions=dists, value=value,
                                    constraints={"feasible": 0.0 if ok else 1.0}
                                    if constrained else None))
        for t in self.trials:
            if t.status in FINISHED:
                continue
            params = self._params(_full(t))
            if params is not None:
                out.append(create_trial(state=TrialState.RUNNING, params=params,
                                        distributions=dists))
        return out

    def _params(self, config: dict[str, Any]) -> dict[str, Any] | None:
        """A trial's nuisance values in Optuna's terms; None when one is out of this space."""
        out: dict[str, Any] = {}
        for name, p in self.space.nuisance.items():
            if name not in config:
                return None
            v = config[name]
            if p.kind == "choice":
                assert p.choices is not None
                if v not in p.choices:
                    return None
                out[name] = p.choices.index(v)
                continue
            assert p.low is not None and p.high is not None
            try:
                x = float(v)
            except (TypeError, ValueError):
                return None
            if not math.isfinite(x):
                return None
            x = min(max(x, p.low), p.high)
            out[name] = int(round(x)) if p.kind == "int" else x
        return out

    def _values(self, params: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, p in self.space.nuisance.items():
            v = params[name]
            if p.kind == "choice":
                assert p.choices is not None
                out[name] = p.choices[int(v)]
            else:
                out[name] = int(v) if p.kind == "int" else float(v)
        return out


class ExploreExploitSearcher(BayesianSearcher):
    """Quasi-random start sized from the dimension, then Bayesian (the default)."""

    name = "explore_exploit"
    # As the default it must accept a round with nothing to search: it repeats one config.
    repeats_empty_space = True

    def _start(self) -> int:
        if self.space.dim == 0:
            return self.budget if self.budget is not None else 1 << 30
        return start_size(self.space.dim, self.budget)


def _distribution(p: Param) -> Any:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if p.kind == "choice":
        # Indices, not the values: Optuna accepts only None/bool/int/float/str choices.
        assert p.choices is not None
        return CategoricalDistribution(list(range(len(p.choices))))
    assert p.low is not None and p.high is not None
    if p.kind == "int":
        return IntDistribution(int(p.low), int(p.high), log=p.scale == "log")
    return FloatDistribution(p.low, p.high, log=p.scale == "log")


def _full(trial: TrialRecord) -> dict[str, Any]:
    # A short stage of a short-then-long round shortens max_train_steps in the config and keeps
    # the full value in its meta; the model learns from the values the searcher chose.
    return {**trial.config, **dict(trial.meta.get("full") or {})}


def _same(a: dict[str, Any], b: dict[str, Any], space: Space) -> bool:
    return all(name in b and a[name] == b[name] for name in space.nuisance)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence Optuna's per-study INFO lines and experimental warnings, then restore them."""
    logger = logging.getLogger("optuna")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*experimental.*")
            warnings.filterwarnings("ignore", category=FutureWarning, module="optuna")
            yield
    finally:
        logger.setLevel(level)


def _register() -> None:
    from tunebook.search import register

    register("bayesian", BayesianSearcher)
    register("explore_exploit", ExploreExploitSearcher)


_register()
