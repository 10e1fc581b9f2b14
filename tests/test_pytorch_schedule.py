"""Schedules against their formulas; warmup; bad input; recording and setting the lr."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from kit_support import make_run

torch = pytest.importorskip("torch")

from tunebook.core.errors import SpecError  # noqa: E402
from tunebook.pytorch import SCHEDULES, Schedule, make_schedule, set_lr  # noqa: E402

L, T = 0.5, 1000


def expected(name: str, s: int, warmup: int, floor_ratio: float) -> float:
    """The formulas written out independently of the implementation."""
    if warmup and s <= warmup:
        return L * s / warmup
    p = min(max((s - warmup) / (T - warmup), 0.0), 1.0)
    m = floor_ratio * L
    if name == "constant":
        return L
    if name == "linear":
        return L - (L - m) * p
    return m + 0.5 * (L - m) * (1 + math.cos(math.pi * p))


@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize("warmup", [0, 1, 100])
@pytest.mark.parametrize("floor_ratio", [0.0, 0.1])
def test_schedules_follow_their_formulas(name: str, warmup: int, floor_ratio: float) -> None:
    sched = Schedule(name, L, T, warmup, floor_ratio)
    for s in [1, 2, 50, 99, 100, 101, 250, 500, 750, 999, 1000, 1200]:
        assert sched(s) == pytest.approx(expected(name, s, warmup, floor_ratio), abs=1e-12)


def test_shape_landmarks() -> None:
    cos = Schedule("cosine", 1.0, 110, warmup_steps=10)
    assert cos(0) == 0.0 and cos(5) == 0.5 and cos(10) == 1.0  # linear warmup from 0
    assert cos(60) == pytest.approx(0.5) and cos(110) == pytest.approx(0.0)
    lin = Schedule("linear", 1.0, 100)
    assert lin(50) == pytest.approx(0.5) and lin(100) == 0.0
    assert Schedule("constant", 0.3).values(4) == [0.3] * 4  # no total needed
    vals = Schedule("linear", 1.0, 100, 10).values()
    assert len(vals) == 100 and max(vals) == 1.0  # plottable before training


def test_make_schedule_reads_config_and_records_it(tmp_path: Path) -> None:
    store, run = make_run(tmp_path)
    sched = make_schedule({"lr": "1e-3", "schedule": "Cosine", "warmup_steps": 10,
                           "max_train_steps": 100.0}, run)
    assert sched == Schedule("cosine", 1e-3, 100, 10)
    assert store.trial(run.trial_id).meta["schedule"] == {
        "name": "cosine", "lr": 1e-3, "total_steps": 100, "warmup_steps": 10,
        "min_lr_ratio": 0.0}
    assert make_schedule({"lr": 0.1})(123) == 0.1  # constant by default
    nested = make_schedule({"optimizer": {"name": "adam", "lr": 0.2}, "schedule": "constant"})
    assert nested(1) == 0.2


def test_set_lr_sets_every_group() -> None:
    w, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [w]}, {"params": [b], "lr_scale": 0.5}], lr=1.0)
    assert set_lr(opt, 0.2) == 0.2
    assert [g["lr"] for g in opt.param_groups] == [0.2, 0.1]


@pytest.mark.parametrize(("config", "where"), [
    ({"lr": 0.1, "schedule": "exponential", "max_train_steps": 10}, "config.schedule"),
    ({"lr": 0.1, "schedule": "cosine", "max_train_steps": 100, "warmup_steps": 100},
     "warmup_steps"),
    ({"lr": 0.1, "schedule": "linear", "max_train_steps": 100, "warmup_steps": 500},
     "warmup_steps"),
    ({"lr": 0.0, "schedule": "constant"}, "config.lr"),
    ({"lr": -1e-3, "schedule": "constant"}, "config.lr"),
    ({"schedule": "constant"}, "config.lr"),
    ({"lr": 0.1, "schedule": "cosine"}, "max_train_steps"),
    ({"lr": 0.1, "warmup_steps": -5, "max_train_steps": 10}, "warmup_steps"),
    ({"lr": 0.1, "warmup_steps": 2.5, "max_train_steps": 10}, "warmup_steps"),
    ({"lr": 0.1, "schedule": "linear", "max_train_steps": 10, "min_lr_ratio": 2},
     "min_lr_ratio"),
])
def test_bad_schedule_config_is_refused(config: dict, where: str) -> None:
    with pytest.raises(SpecError) as err:
        make_schedule(config)
    assert where in str(err.value)


def test_unknown_schedule_lists_the_valid_ones() -> None:
    with pytest.raises(SpecError, match=r"\['constant', 'cosine', 'linear'\]"):
        make_schedule({"lr": 0.1, "schedule": "cosin", "max_train_steps": 10})
