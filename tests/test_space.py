from __future__ import annotations

import math

import pytest

from tunebook.core.space import Param, Space


def test_log_scale_follows_the_playbook_formula() -> None:
    p = Param(role="nuisance", type="float", low=1e-4, high=1e-1, scale="log")
    for u in (0.0, 0.25, 0.5, 0.9):
        assert p.from_unit(u) == pytest.approx(1e-4 * math.exp(u * math.log(1e-1 / 1e-4)))
        assert p.to_unit(p.from_unit(u)) == pytest.approx(u)


def test_linear_int_and_choice_cover_their_range() -> None:
    i = Param(role="nuisance", type="int", low=2, high=5)
    assert sorted({i.from_unit(k / 100) for k in range(100)}) == [2, 3, 4, 5]
    c = Param(role="nuisance", type="choice", choices=["a", "b", "c"])
    assert [c.from_unit(u) for u in (0.0, 0.34, 0.99)] == ["a", "b", "c"]
    assert c.to_unit("b") == pytest.approx(0.5)
    li = Param(role="nuisance", type="int", low=1, high=256, scale="log")
    values = [li.from_unit(k / 20000) for k in range(20000)]
    assert min(values) == 1 and max(values) == 256
    assert sum(v <= 16 for v in values) > 8000  # log scale: about half the mass below 16


def test_space_groups_and_configs() -> None:
    space = Space({
        "width": Param(role="target", values=[8, 16]),
        "depth": Param(role="target", values=[1, 2, 3]),
        "lr": Param(role="nuisance", type="float", low=0.1, high=1.0),
        "momentum": Param(role="fixed", value=0.9),
    })
    groups = space.target_groups()
    assert len(groups) == 6 and {"width": 16, "depth": 3} in groups
    cfg = space.config(groups[0], [0.5])
    assert cfg == {"momentum": 0.9, "width": 8, "depth": 1, "lr": pytest.approx(0.55)}
    with pytest.raises(ValueError):
        space.config(groups[0], [0.1, 0.2])
    assert Space({}).target_groups() == [{}]
