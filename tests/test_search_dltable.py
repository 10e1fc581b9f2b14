"""The deep-learning table benchmark's lookup and its reading of the default's phases.

The comparison itself (tunebook against Optuna's samplers over the table) lives in
benchmarks/search/dltable.py and docs/benchmarks/search.md; these tests guard the lookup that
every method's score goes through.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from conftest import load_script

pytest.importorskip("optuna")


def _dltable() -> Any:
    return load_script("benchmarks/search/dltable.py", "tunebook_bench_dltable")


def test_a_suggestion_snaps_to_the_nearest_grid_point_in_log_space() -> None:
    d = _dltable()
    grid = d.dlgen.GRID
    assert grid["lr"][d.snap("lr", 3e-3)] == 1e-3  # 0.48 decades from 1e-3, 0.52 from 1e-2
    assert grid["lr"][d.snap("lr", 4e-3)] == 1e-2
    assert grid["width"][d.snap("width", 45)] == 32  # log2: 5.49, nearer 5 than 6
    assert grid["width"][d.snap("width", 46)] == 64
    assert grid["dropout"][d.snap("dropout", 0.2)] == 0.25  # linear
    assert grid["optimizer"][d.snap("optimizer", "sgd")] == "sgd"  # choices: exact


def test_the_objective_is_the_seed_mean_of_the_cell() -> None:
    d = _dltable()
    config = {"optimizer": "sgd", "activation": "tanh", "batch_size": 32,
              "schedule": "cosine", "layers": 2, "width": 30, "lr": 0.08,
              "weight_decay": 2e-6, "dropout": 0.1}
    grid, outer = d.dlgen.GRID, d.dlgen.OUTER
    on_grid = {**config, "width": 32, "lr": 0.1, "weight_decay": 1e-6, "dropout": 0.0}
    cell = d.dlgen.cells().index({k: on_grid[k] for k in outer})
    values = d.table("digits")[cell, grid["lr"].index(0.1), 0, :, 1, 0]  # error at the end
    assert len(values) == 3
    assert math.isclose(d.lookup("digits_error", config), float(values.mean()), rel_tol=1e-6)
    assert d.lookup("digits_error", config) == d.lookup("digits_error", on_grid)
    assert 0.0 <= d.lookup("digits_error", config) <= 1.0


def test_the_default_on_the_table_space_and_which_runs_read_as_prefixes() -> None:
    d = _dltable()
    from tunebook.search.bayes import phases

    assert d.space().dim == 9
    assert phases("explore_exploit", d.space(), 20) == [
        {"phase": "quasi_random", "first": 1, "last": 2},
        {"phase": "gp", "first": 3, "last": 20}]
    assert phases("explore_exploit", d.space(), 50) == [
        {"phase": "quasi_random", "first": 1, "last": 5},
        {"phase": "gp", "first": 6, "last": 50}]
    # 20 and 50 start shorter than 100: their own runs.
    assert not d.budget_free("tunebook") and d.budget_free("tunebook", (100,))
    assert d.budget_free("tunebook_old") and d.budget_free("optuna_gp")
    with d.previous_default():  # the previous rule: 2(d+1) = 20, all of a budget of 20
        assert phases("explore_exploit", d.space(), 20) == [
            {"phase": "quasi_random", "first": 1, "last": 20}]
