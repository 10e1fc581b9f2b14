"""The searcher contract over every registered searcher, and the Bayesian searchers' rules."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tunebook.core.errors import SpecError
from tunebook.core.space import Param, Space
from tunebook.core.trial import TrialRecord
from tunebook.search import make_searcher, searcher_names, searchers
from tunebook.search.bayes import (
    GP_MAX_TRIALS,
    BayesianSearcher,
    ExploreExploitSearcher,
    start_size,
)

optuna = pytest.importorskip("optuna")


def _space() -> Space:
    return Space({
        "lr": Param(role="nuisance", type="float", low=1e-4, high=1e-1, scale="log"),
        "depth": Param(role="nuisance", type="int", low=1, high=8),
        "act": Param(role="nuisance", type="choice", choices=["relu", "gelu", [1, 2]]),
        "width": Param(role="target", values=[8, 32]),
        "opt": Param(role="fixed", value="adam"),
    })


def _trial(i: int, config: dict[str, Any], status: str = "completed", score: float | None = None,
           feasible: bool | None = True) -> TrialRecord:
    return TrialRecord(id=i, round_id=1, round="r", number=i, group={}, config=config, seed=i,
                       status=status, score=score, feasible=feasible)  # type: ignore[arg-type]


def _history(space: Space, n: int, seed: int = 3) -> list[TrialRecord]:
    configs = make_searcher("quasi_random", space, seed).suggest(n)
    return [_trial(i, c, score=-abs(math.log10(c["lr"]) + 2) - 0.1 * c["depth"])
            for i, c in enumerate(configs)]


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.slow) if n in ("bayesian", "explore_exploit") else n
    for n in searcher_names()])
def test_every_searcher_keeps_to_the_space_and_replays_the_same(name: str) -> None:
    space = _space()
    history = _history(space, 8)
    a, b = make_searcher(name, space, 7), make_searcher(name, space, 7)
    a.update(history)
    b.update(history)
    got = a.suggest(2)
    assert got == b.suggest(2)  # the state is the store's: replaying it gives the same
    assert len(got) == 2
    for config in got:
        assert set(config) == {"lr", "depth", "act"}  # nuisance only: never target or fixed
        assert 1e-4 <= config["lr"] <= 1e-1
        assert isinstance(config["depth"], int) and 1 <= config["depth"] <= 8
        assert config["act"] in (["relu", "gelu", [1, 2]])
    keys = [tuple(sorted((k, str(v)) for k, v in c.items())) for c in got]
    assert len(set(keys)) == 2  # distinct within one call


def test_registry_lists_every_searcher_with_the_default_marked() -> None:
    info = {s.name: s for s in searchers()}
    assert set(info) >= {"quasi_random", "random", "bayesian", "explore_exploit"}
    assert info["explore_exploit"].default and info["explore_exploit"].adaptive
    assert not info["quasi_random"].adaptive
    with pytest.raises(SpecError, match="explore_exploit"):
        make_searcher("bayes", _space(), 0)


def test_explore_exploit_starts_on_the_quasi_random_points() -> None:
    space = _space()
    ee = make_searcher("explore_exploit", space, 5, budget=40)
    qr = make_searcher("quasi_random", space, 5)
    ee.update([])
    n = start_size(space.dim, 40, mixed=True)  # a choice and an int: 4 of a budget of 40
    assert ee.upfront == n  # type: ignore[attr-defined]
    assert ee.suggest(n) == qr.suggest(n)  # the same paired points in every target group
    ee.update(_history(space, n))
    assert ee.upfront == 0  # type: ignore[attr-defined]


def test_start_size_grows_with_the_dimension_and_stays_within_the_budget() -> None:
    assert start_size(1) == 5 and start_size(5) == 12 and start_size(30) == 20
    assert start_size(5, budget=8) == 8  # a budget this small is all exploration


def test_bayesian_refuses_an_empty_space_and_explore_exploit_repeats_it() -> None:
    empty = Space({"width": Param(role="target", values=[8, 32])})
    with pytest.raises(SpecError, match="nuisance"):
        make_searcher("bayesian", empty, 0)
    ee = make_searcher("explore_exploit", empty, 0, budget=3)
    ee.update([])
    assert ee.suggest(2) == [{}, {}]


def test_bad_goal_or_sampler_is_refused() -> None:
    with pytest.raises(SpecError, match="goal"):
        BayesianSearcher(_space(), 0, goal="up")  # type: ignore[arg-type]
    with pytest.raises(SpecError, match="sampler"):
        BayesianSearcher(_space(), 0, sampler="cma")  # type: ignore[arg-type]


def test_failures_inform_the_model_through_constraints() -> None:
    space = _space()
    c = make_searcher("quasi_random", space, 1).suggest(6)
    trials = [
        _trial(0, c[0], score=0.9),
        _trial(1, c[1], score=0.95, feasible=False),  # broke a constraint: its score stays
        _trial(2, c[2], status="diverged", score=0.99, feasible=False),
        _trial(3, c[3], status="failed", score=None, feasible=None),
        _trial(4, c[4], status="running", score=None, feasible=None),
        _trial(5, c[5], status="queued", score=None, feasible=None),
    ]
    s = BayesianSearcher(space, 0, goal="max")
    s.update(trials)
    told = s._told()
    done = [t for t in told if t.state == optuna.trial.TrialState.COMPLETE]
    pending = [t for t in told if t.state == optuna.trial.TrialState.RUNNING]
    assert len(done) == 4 and len(pending) == 2  # nothing vanishes
    assert [t.value for t in done] == [0.9, 0.95, 0.9, 0.9]  # blow-ups get the worst score
    assert [t.constraints["feasible"] for t in done] == [0.0, 1.0, 1.0, 1.0]
    assert done[0].params["act"] == ["relu", "gelu", [1, 2]].index(c[0]["act"])


def test_an_all_feasible_history_is_unconstrained() -> None:
    s = BayesianSearcher(_space(), 0)
    s.update(_history(_space(), 5))
    assert all(not t.constraints for t in s._told())


def test_minimizing_imputes_the_largest_score() -> None:
    space = _space()
    c = make_searcher("quasi_random", space, 1).suggest(3)
    s = BayesianSearcher(space, 0, goal="min")
    s.update([_trial(0, c[0], score=1.0), _trial(1, c[1], score=3.0),
              _trial(2, c[2], status="diverged", score=None, feasible=False)])
    assert [t.value for t in s._told()] == [1.0, 3.0, 3.0]


@pytest.mark.parametrize("sampler", ["tpe", "gp"])
def test_suggestions_avoid_every_known_config(sampler: str) -> None:
    if sampler == "gp":
        pytest.importorskip("torch")
    # A tiny discrete space: a model left alone would propose the same few configs again.
    space = Space({"a": Param(role="nuisance", type="choice", choices=["x", "y", "z"]),
                   "b": Param(role="nuisance", type="int", low=1, high=3)})
    s = BayesianSearcher(space, 0, sampler=sampler)  # type: ignore[arg-type]
    configs = [{"a": a, "b": b} for a in "xyz" for b in (1, 2, 3)]
    history = [_trial(i, c, score=float(i)) for i, c in enumerate(configs[:4])]
    history += [_trial(10 + i, c, status="running", score=None, feasible=None)
                for i, c in enumerate(configs[4:7])]
    s.update(history)
    got = s.suggest(2)
    assert sorted(map(str, got)) == sorted(map(str, configs[7:]))  # the two configs left
    # With every config taken, a repeat is all that is left (and no error).
    s.update(history + [_trial(20 + i, c) for i, c in enumerate(configs[7:])])
    assert s.suggest(1)[0] in configs


@pytest.mark.parametrize("sampler", ["tpe", "gp"])
def test_a_model_drawn_to_a_bound_does_not_repeat_a_finished_config(sampler: str) -> None:
    if sampler == "gp":
        pytest.importorskip("torch")
    # The score rises to the top of the range, so the model keeps proposing x = 1 exactly.
    space = Space({"x": Param(role="nuisance", type="float", low=0, high=1)})
    trials: list[TrialRecord] = []
    for i in range(12):
        s = BayesianSearcher(space, 0, sampler=sampler)  # type: ignore[arg-type]
        s.update(trials)
        x = s.suggest(1)[0]["x"]
        trials.append(_trial(i, {"x": x}, score=x))
    xs = [t.config["x"] for t in trials]
    assert len(set(xs)) == len(xs)
    assert max(xs) > 0.95


def test_model_choice_follows_budget_and_categoricals() -> None:
    pytest.importorskip("torch")
    floats = Space({f"x{i}": Param(role="nuisance", type="float", low=0, high=1)
                    for i in range(3)})
    assert BayesianSearcher(floats, 0, budget=GP_MAX_TRIALS).model() == "gp"
    assert BayesianSearcher(floats, 0, budget=GP_MAX_TRIALS + 1).model() == "tpe"
    # explore_exploit hands the second half of a large budget over 4+ continuous dimensions to
    # CMA-ES, so its model phase is shorter: the GP while that phase is at most GP_MAX_TRIALS.
    wide = Space({f"x{i}": Param(role="nuisance", type="float", low=0, high=1)
                  for i in range(6)})
    budget = 2 * GP_MAX_TRIALS
    assert ExploreExploitSearcher(wide, 0, budget=budget).local_from == GP_MAX_TRIALS
    assert ExploreExploitSearcher(wide, 0, budget=budget).model() == "gp"
    assert ExploreExploitSearcher(wide, 0, budget=budget + 2).model() == "tpe"
    assert BayesianSearcher(wide, 0, budget=budget).model() == "tpe"  # no local phase
    assert ExploreExploitSearcher(floats, 0, budget=budget).local_from is None  # 3-D: GP only
    s = BayesianSearcher(floats, 0)  # no budget: the GP while the group is small
    s.update([])
    assert s.model() == "gp"
    configs = make_searcher("quasi_random", floats, 1).suggest(GP_MAX_TRIALS)
    s.update([_trial(i, c, score=c["x0"]) for i, c in enumerate(configs)])
    assert s.model() == "tpe"
    cats = Space({f"c{i}": Param(role="nuisance", type="choice", choices=[1, 2, 3])
                  for i in range(3)})
    assert BayesianSearcher(cats, 0).model() == "tpe"
    assert BayesianSearcher(cats, 0, sampler="gp").model() == "gp"


@pytest.mark.slow
def test_bayesian_exploits_a_smooth_objective() -> None:
    # 1-D, maximum at x = 0.3: after a quasi-random start the model should home in on it.
    space = Space({"x": Param(role="nuisance", type="float", low=0, high=1)})
    trials: list[TrialRecord] = []
    scores: list[float] = []
    for i in range(14):
        s = make_searcher("explore_exploit", space, 0, goal="max", budget=14)
        s.update(trials)
        x = s.suggest(1)[0]["x"]
        scores.append(-((x - 0.3) ** 2))
        trials.append(_trial(i, {"x": x}, score=scores[-1]))
    start = start_size(1, 14)
    assert start < 14
    best_start, best_model = max(scores[:start]), max(scores[start:])
    assert best_model > best_start
    assert best_model > -1e-3  # within ~0.03 of the optimum


def test_a_failing_model_falls_back_to_the_quasi_random_point(
        monkeypatch: pytest.MonkeyPatch) -> None:
    space = _space()
    s = BayesianSearcher(space, 4, sampler="tpe")
    s.update(_history(space, 5))

    def broken(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("not positive-definite")

    monkeypatch.setattr(optuna.Study, "ask", broken)
    with pytest.warns(UserWarning, match="tpe sampler failed.*quasi-random point"):
        got = s.suggest(1)
    qr = make_searcher("quasi_random", space, 4)
    qr.update(s.trials)
    assert got == qr.suggest(1)  # the sequence's point for this trial's index


def _mixed_table_space() -> Space:
    return Space({
        "opt": Param(role="nuisance", type="choice", choices=["a", "b", "c", "d"]),
        "depth": Param(role="nuisance", type="int", low=1, high=6),
        "lr": Param(role="nuisance", type="float", low=1e-6, high=1e-1, scale="log"),
    })


def _mixed_table(config: dict[str, Any]) -> float:
    """A fixed lookup table over 4 x 6 x 6 cells (lr snapped to a decade), lower is better; its
    one best cell is (b, 5, 1e-3)."""
    decade = min(range(-6, 0), key=lambda e: abs(math.log10(config["lr"]) - e))
    return ({"a": 0.3, "b": 0.0, "c": 0.5, "d": 0.4}[config["opt"]]
            + 0.1 * abs(config["depth"] - 5) + 0.2 * abs(decade + 3))


def test_a_mixed_space_starts_its_model_sooner_than_a_float_space() -> None:
    floats = Space({f"x{i}": Param(role="nuisance", type="float", low=0, high=1)
                    for i in range(9)})
    mixed = Space({**{f"x{i}": Param(role="nuisance", type="float", low=0, high=1)
                      for i in range(8)},
                   "opt": Param(role="nuisance", type="choice", choices=["adam", "sgd"])})
    ints = Space({f"n{i}": Param(role="nuisance", type="int", low=1, high=9) for i in range(9)})
    assert start_size(9) == 20 and start_size(9, mixed=True) == 10
    assert start_size(9, budget=20, mixed=True) == 2  # a tenth of a small budget, >= 2
    assert start_size(9, budget=20) == 20  # floats: unchanged (all of a budget of 20)
    assert start_size(3, mixed=True) == 8  # 2(d+1) when that is already under the cap
    for space, start in ((floats, 20), (mixed, 10), (ints, 10)):
        ee = make_searcher("explore_exploit", space, 0, budget=100)
        ee.update([])
        assert ee.upfront == start  # type: ignore[attr-defined]
    for budget, start in ((50, 5), (20, 2), (4, 2)):  # a tenth of the budget, but 2
        small = make_searcher("explore_exploit", mixed, 0, budget=budget)
        small.update([])
        assert small.upfront == start  # type: ignore[attr-defined]


@pytest.mark.slow
def test_explore_exploit_improves_on_its_start_over_a_mixed_lookup_table() -> None:
    space = _mixed_table_space()
    budget = 18
    start = start_size(space.dim, budget, mixed=True)
    trials: list[TrialRecord] = []
    for i in range(budget):
        s = make_searcher("explore_exploit", space, 1, goal="min", budget=budget)
        s.update(trials)
        config = s.suggest(1)[0]
        if i == start + 2:  # after the start: the same trials give the same suggestion
            again = make_searcher("explore_exploit", space, 1, goal="min", budget=budget)
            again.update(list(trials))
            assert again.suggest(1)[0] == config
        trials.append(_trial(i, config, score=_mixed_table(config)))
    configs = [t.config for t in trials]
    for c in configs:
        assert c["opt"] in ("a", "b", "c", "d") and isinstance(c["depth"], int)
        assert 1 <= c["depth"] <= 6 and 1e-6 <= c["lr"] <= 1e-1
    assert len({(c["opt"], c["depth"], c["lr"]) for c in configs}) == budget  # all distinct
    scores = [t.score for t in trials]
    assert min(scores[start:]) < min(scores[:start])  # type: ignore[type-var]
    assert min(scores[start:]) <= 0.1  # type: ignore[type-var]  # the best cell or a neighbour
    assert min(scores[:start]) > 0.1  # type: ignore[operator]  # (the start had not found it)
