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

``explore_exploit`` runs in up to three phases per target group: a quasi-random start of
2(d+1) trials (at most 20; when the space has a choice or an int at most 10, Optuna's start,
and at most a tenth of the budget but 2: ``start_size``), the model, and, in a continuous
space of 4 or more dimensions whose budget leaves room for at least five CMA-ES generations in
its second half, a local phase
(``tunebook.search.local``): CMA-ES from the best config so far for the last half of the
budget.

The model is Optuna's GPSampler (needs torch; ``greenlet`` makes it faster) while it models at
most 100 trials (the budget, or the trials before the local phase); multivariate TPE for longer
model phases, categorical-heavy spaces or an install without torch. On COCO BBOB
(docs/benchmarks/search.md) the GP alone is best at 2-D and 3-D (budgets 40 and 100); at 5-D
and 10-D the GP followed by CMA-ES wins more problems than the GP alone, TPE alone or any
Optuna sampler.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import math
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from tunebook.core.errors import SpecError
from tunebook.core.space import Param, Space
from tunebook.core.trial import FINISHED, TrialRecord
from tunebook.search.quasi_random import nuisance, unit_points

if TYPE_CHECKING:
    import optuna

GP_MAX_TRIALS = 100  # the GP models a group while its model phase is at most this many trials
MIN_FINISHED = 2  # a model needs at least this many finished trials; before, quasi-random
START_MIN, START_MAX = 5, 20
# A space with a choice or an int ("mixed") starts its model after at most this many
# quasi-random trials, Optuna's default start: on the deep-learning table
# (benchmarks/search/dltable.py) the 2(d+1) = 20 start of a 9-dimensional space spent the whole of
# a 20-trial budget and 40% of a 50-trial one exploring, and lost to Optuna's GP and TPE there.
START_MAX_MIXED = 10
START_SHARE_MIXED = 10  # ... and at most a tenth of its budget (but MIN_FINISHED): 2 of 20
LOCAL_FRACTION = 0.5  # the share of an explore_exploit budget spent refining with CMA-ES ...
LOCAL_GENERATIONS = 5  # ... when it holds at least this many CMA-ES generations ...
LOCAL_MIN_DIM = 4  # ... in this many dimensions or more (BBOB: it helps at 5-D, not at 2-D, 3-D)
Sampler = Literal["auto", "gp", "tpe"]


def start_size(dim: int, budget: int | None = None, mixed: bool = False) -> int:
    """Quasi-random trials before the model takes over: 2(d+1) within [5, 20] for a space of
    floats; for a ``mixed`` one (a choice or an int) 2(d+1) within [5, 10], then at most a
    tenth of the budget (but 2); never over the budget.

    A budget no larger than that is all exploration. Why the two rules: on COCO BBOB (all
    floats) the GP after a 2(d+1) start is best or tied with Optuna's best sampler; on the
    deep-learning table (choices, ordinal ints and log floats, 9 dimensions) a start of 20 lost
    to Optuna's samplers, a start of 10 still lost at a budget of 20, and a tenth of the budget
    made the default level with them at 20, 50 and 100 (docs/search.md has the numbers).

    >>> start_size(2), start_size(5, budget=100), start_size(3, budget=6)
    (6, 12, 6)
    >>> start_size(9), start_size(9, mixed=True), start_size(9, budget=100, mixed=True)
    (20, 10, 10)
    >>> start_size(9, budget=20, mixed=True), start_size(9, budget=50, mixed=True)
    (2, 5)
    """
    cap = START_MAX_MIXED if mixed else START_MAX
    if mixed and budget is not None:
        # A small budget: at most a tenth of it (but MIN_FINISHED), so that a budget of 20
        # gives the model 18 trials (starts of 10 and 5 lost to Optuna's TPE and GP at 20).
        cap = min(cap, max(MIN_FINISHED, budget // START_SHARE_MIXED))
        return min(max(2 * (dim + 1), START_MIN), cap, budget)
    n = min(max(2 * (dim + 1), START_MIN), cap)
    return n if budget is None else min(n, budget)


def mixed(space: Space) -> bool:
    """Whether a nuisance dimension is a choice or an int (the start rule's "mixed" space)."""
    return any(p.kind != "float" for p in space.nuisance.values())


class BayesianSearcher:
    """Bayesian exploitation (GP up to 100 trials, TPE beyond), rebuilt from the store.

    >>> from tunebook.core.space import Param, Space
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
        self.prior: list[TrialRecord] = []  # earlier rounds' trials (warm start): told only

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

    def warm(self, trials: Sequence[TrialRecord]) -> None:
        """Earlier finished trials (another round's) that the model learns from.

        They are not this group's trials: no trial index, no budget. Each one stands in for
        a trial of the quasi-random start, so a warm group reaches the model that much sooner.
        """
        self.prior = [t for t in trials if t.status in FINISHED
                      and self._params(t.full_config) is not None]
        self.start = max(0, self._start() - len(self.prior))

    def suggest(self, n: int) -> list[dict[str, Any]]:
        count = len(self.trials)
        finished = sum(t.status in FINISHED for t in self.trials) + len(self.prior)
        out: list[dict[str, Any]] = []
        study = None
        cut = self.local_from
        local: list[dict[str, Any]] | None = None  # the local phase's configs, made once
        had: list[dict[str, Any]] = []  # the group's configs, for the duplicate check
        for k in range(n):
            index = count + k
            if index < self.start or finished < MIN_FINISHED:
                out.append(nuisance(self.space, list(unit_points(self.space, self.seed,
                                                                 index, 1)[0])))
                continue
            if cut is not None and index >= cut:
                if local is None:
                    local = self._local(cut, n - k)
                    had = [t.full_config for t in self.trials]
                config = local.pop(0) if local else None
                if config is not None and not any(_same(config, p, self.space)
                                                  for p in had + out):
                    out.append(config)
                    continue
            if study is None:
                study = self._study()
            out.append(self._ask(study, out, index))
        return out

    @property
    def local_from(self) -> int | None:
        """The trial index where local refinement (CMA-ES) takes over; None: never."""
        return None

    def _local(self, cut: int, n: int) -> list[dict[str, Any]]:
        """The next ``n`` configs of the local phase starting at trial ``cut`` (empty when
        CMA-ES cannot go on)."""
        from tunebook.search.local import local_points

        points = local_points(self.space, self.seed, self.goal, self.trials[:cut],
                              self.trials[cut:], n, config_of=lambda t: t.full_config)
        return [nuisance(self.space, u) for u in points] if points else []

    # -- the model ------------------------------------------------------------------------------

    def model(self) -> str:
        """Which Optuna sampler the next suggestion uses: ``"gp"`` or ``"tpe"``.

        The GP while its model phase (the budget, or the trials before a local phase; without
        a budget, the trials so far) is at most ``GP_MAX_TRIALS`` trials; TPE for longer ones,
        for a space of mostly choices, or without torch.
        """
        if self.sampler != "auto":
            return self.sampler
        local = self.local_from
        size = (local if local is not None else self.budget if self.budget is not None
                else len(self.trials) + 1)
        choices = sum(p.kind == "choice" for p in self.space.nuisance.values())
        if (size > GP_MAX_TRIALS or 2 * choices > self.space.dim
                or importlib.util.find_spec("torch") is None):
            return "tpe"
        return "gp"

    def _ask(self, study: optuna.Study, batch: list[dict[str, Any]], index: int
             ) -> dict[str, Any]:
        # Never a config the group already has: a pending one would run twice at once, and a
        # finished one (a GP likes to return to a bound) would read as a seed replicate.
        known = [t.full_config for t in self.trials + self.prior] + batch
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

    @functools.cached_property
    def distributions(self) -> dict[str, Any]:
        # Made once per searcher: the study's trials and every ask share the same objects.
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
            study.add_trials(_owned(t) for t in self._told())
        return study

    def _told(self) -> list[optuna.trial.FrozenTrial]:
        """The group's trials as Optuna records (see the module docstring for the rules)."""
        from optuna.trial import TrialState, create_trial

        dists = self.distributions
        done = self.prior + [t for t in self.trials if t.status in FINISHED]
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
            params = self._params(t.full_config)
            if params is None:
                continue
            out.append(create_trial(params=params, distributions=dists, value=value,
                                    constraints={"feasible": 0.0 if ok else 1.0}
                                    if constrained else None))
        for t in self.trials:
            if t.status in FINISHED:
                continue
            params = self._params(t.full_config)
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
    """Quasi-random start, then Bayesian, then CMA-ES near the best for large budgets."""

    name = "explore_exploit"
    # As the default it must accept a round with nothing to search: it repeats one config.
    repeats_empty_space = True

    def _start(self) -> int:
        if self.space.dim == 0:
            return self.budget if self.budget is not None else 1 << 30
        return start_size(self.space.dim, self.budget, mixed=mixed(self.space))

    @property
    def local_from(self) -> int | None:
        return local_start(self.space, self.budget)


def local_start(space: Space, budget: int | None) -> int | None:
    """Where the local phase of an ``explore_exploit`` group starts, or None for no local phase.

    A continuous space (floats and ints) of at least ``LOCAL_MIN_DIM`` dimensions with a
    known budget whose last ``LOCAL_FRACTION`` holds at least ``LOCAL_GENERATIONS`` CMA-ES
    generations: fewer could not adapt the step size and shape. In 2 and 3 dimensions the GP
    refines well by itself (on BBOB it beat GP-then-CMA-ES there at budgets of 40 and 100).

    >>> from tunebook.core.space import Param, Space
    >>> s = Space({f"x{i}": Param(role="nuisance", type="float", low=0, high=1) for i in range(5)})
    >>> local_start(s, 100), local_start(s, 60), local_start(s, None)
    (50, None, None)
    """
    from tunebook.search.local import continuous, population

    if budget is None or space.dim < LOCAL_MIN_DIM or not continuous(space):
        return None
    local = int(round(LOCAL_FRACTION * budget))
    if local < LOCAL_GENERATIONS * population(space.dim):
        return None
    return budget - local


def _owned(trial: optuna.trial.FrozenTrial) -> optuna.trial.FrozenTrial:
    """``trial``, handed to the in-memory study without the deep copy ``add_trials`` makes.

    The storage copies every added trial so that the caller cannot change it afterwards; these
    trials were made for this one study and nothing else holds them, so the copy (about a
    tenth of a GP suggestion at 100 trials, mostly the distributions) buys nothing.
    """
    trial.__class__ = _owned_class()
    return trial


@functools.cache
def _owned_class() -> type:
    from optuna.trial import FrozenTrial

    class OwnedTrial(FrozenTrial):
        def __deepcopy__(self, memo: dict[int, Any]) -> OwnedTrial:
            return self

    return OwnedTrial


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


def phases(algorithm: str, space: Space, budget: int) -> list[dict[str, Any]]:
    """What ``algorithm`` does over one target group's ``budget``: trial ranges (1-based).

    >>> from tunebook.core.space import Param, Space
    >>> s = Space({f"x{i}": Param(role="nuisance", type="float", low=0, high=1) for i in range(5)})
    >>> [(p["phase"], p["first"], p["last"]) for p in phases("explore_exploit", s, 100)]
    [('quasi_random', 1, 12), ('gp', 13, 50), ('cma_es', 51, 100)]
    """
    factories: dict[str, type[BayesianSearcher]] = {
        "bayesian": BayesianSearcher, "explore_exploit": ExploreExploitSearcher}
    if algorithm not in factories:
        return [{"phase": algorithm, "first": 1, "last": budget}]
    searcher = factories[algorithm](space, 0, budget=budget)
    start = min(searcher.start, budget)
    local = searcher.local_from
    end = local if local is not None else budget
    out = []
    if start:
        out.append({"phase": "quasi_random", "first": 1, "last": start})
    if end > start:
        out.append({"phase": searcher.model(), "first": start + 1, "last": end})
    if local is not None:
        out.append({"phase": "cma_es", "first": local + 1, "last": budget})
    return out
