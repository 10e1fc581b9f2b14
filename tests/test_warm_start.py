"""Warm-started rounds and hand-picked configs."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import round_dict

from tunebook.core.errors import NotFoundError, SpecError
from tunebook.core.spec import load_project, parse_round
from tunebook.rounds.lifecycle import base_config, create_round
from tunebook.rounds.warm import compatible, warm_trials
from tunebook.search import make_searcher
from tunebook.store import Store
from tunebook.workers.execute import run_round

LR = {"role": "nuisance", "type": "float", "low": 1e-3, "high": 1e-1, "scale": "log"}
WIDE = {**LR, "low": 1e-4, "high": 1.0}


def _round(store: Store, project_dir: Path, **over: object) -> str:
    spec = parse_round(round_dict(**over))
    create_round(store, load_project(project_dir / "tunebook.yaml"), spec)
    return spec.name


def test_enqueued_configs_run_first_in_each_group_within_the_budget(
        project_dir: Path, store_url: str) -> None:
    store = Store(store_url)
    params = {"latency": {"role": "target", "values": [1.0, 2.0]}, "lr": LR,
              "momentum": {"role": "fixed", "value": 0.9}}
    name = _round(store, project_dir, params=params, budget=3, algorithm="quasi_random",
                  enqueue=[{"lr": 0.02}, {"lr": 0.005, "latency": 2.0}])
    trials = store.trials(store.round(name).id)
    by = {g: [t for t in trials if t.group["latency"] == g] for g in (1.0, 2.0)}
    assert [t.config["lr"] for t in by[1.0]][:1] == [0.02] and len(by[1.0]) == 3
    assert [t.config["lr"] for t in by[2.0]][:2] == [0.02, 0.005] and len(by[2.0]) == 3
    assert by[2.0][1].meta["enqueued"] == 1 and by[2.0][0].config["momentum"] == 0.9
    assert len({t.config["lr"] for t in by[1.0]}) == 3  # the searcher fills the rest


@pytest.mark.parametrize(("entry", "fragment"), [
    ({"lr": 5.0}, "enqueue[0].lr: expected a number in [0.001, 0.1], got 5.0"),
    ({"lrr": 0.01}, "Did you mean 'lr'?"),
    ({"momentum": 0.9}, "a value for every nuisance hyperparameter"),
])
def test_enqueue_is_checked_against_the_space(entry: dict[str, object], fragment: str) -> None:
    params = {"lr": LR, "momentum": {"role": "fixed", "value": 0.9}}
    with pytest.raises(SpecError) as info:
        parse_round(round_dict(params=params, enqueue=[entry]))
    assert fragment in str(info.value)


def test_warm_start_is_refused_where_it_cannot_help(project_dir: Path, store_url: str) -> None:
    with pytest.raises(SpecError, match="searched by a model"):
        parse_round(round_dict(algorithm="quasi_random", warm_start=["r0"]))
    store = Store(store_url)
    with pytest.raises(NotFoundError, match="not in the store"):
        _round(store, project_dir, name="r2", algorithm="bayesian", warm_start=["nope"])
    assert store.rounds() == []  # refused before anything was recorded


def test_a_warm_round_learns_from_the_last_one_without_spending_its_budget(
        project_dir: Path, store_url: str) -> None:
    store = Store(store_url)
    project = load_project(project_dir / "tunebook.yaml")
    first = _round(store, project_dir, name="r1", params={"lr": LR}, budget=6,
                   algorithm="quasi_random", max_train_steps=10)
    run_round(store, first, project_dir, executor="inline", show_progress=False)
    old = store.trials(store.round(first).id)
    spec = parse_round(round_dict(name="r2", params={"lr": WIDE}, budget=4,
                                  algorithm="explore_exploit", max_train_steps=10,
                                  warm_start=[first]))
    gspace = spec.space.for_group({})
    usable = compatible(warm_trials(store, spec), base_config(project, spec), gspace, {})
    assert {t.id for t in usable} == {t.id for t in old}  # the widened range holds them all
    other = parse_round(round_dict(name="r3", params={"lr": WIDE}, budget=4,
                                   algorithm="explore_exploit", max_train_steps=20,
                                   warm_start=[first]))
    assert compatible(warm_trials(store, other), base_config(project, other), gspace, {}) == []
    narrow = parse_round(round_dict(name="r4", params={"lr": {**LR, "high": 0.01}}, budget=4,
                                    algorithm="explore_exploit", max_train_steps=10))
    inside = compatible(old, base_config(project, narrow), narrow.space, {})
    assert {t.id for t in inside} == {t.id for t in old if t.config["lr"] <= 0.01}

    cold = make_searcher("explore_exploit", gspace, 0, budget=4)
    hot = make_searcher("explore_exploit", gspace, 0, budget=4)
    hot.warm(usable)  # type: ignore[attr-defined]
    assert cold.upfront == 4 and hot.upfront == 0  # six earlier trials replace the start

    create_round(store, project, spec)
    run_round(store, "r2", project_dir, executor="inline", show_progress=False)
    new = store.trials(store.round("r2").id)
    assert len(new) == 4 and all(t.status == "completed" for t in new)
    assert not {t.config["lr"] for t in new} & {t.config["lr"] for t in old}
