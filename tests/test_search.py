"""Contract tests run over every searcher, plus quasi-random specifics."""

from __future__ import annotations

import numpy as np
import pytest

from tunebook.core.space import Param, Space
from tunebook.core.trial import TrialRecord
from tunebook.search import make_searcher, searcher_names
from tunebook.search.quasi_random import halton_points

SPACE = Space({
    "lr": Param(role="nuisance", type="float", low=1e-5, high=1.0, scale="log"),
    "wd": Param(role="nuisance", type="float", low=0.0, high=0.1),
    "opt": Param(role="nuisance", type="choice", choices=["sgd", "adam"]),
})


def _records(configs: list[dict]) -> list[TrialRecord]:
    return [TrialRecord(id=i + 1, round_id=1, round="r", number=i, group={}, config=c,
                        seed=i, status="completed", score=float(i % 3), feasible=True)
            for i, c in enumerate(configs)]


@pytest.mark.parametrize("name", searcher_names())
def test_every_searcher_suggests_in_range_and_is_reproducible(name: str) -> None:
    a = make_searcher(name, SPACE, seed=7)
    b = make_searcher(name, SPACE, seed=7)
    a.update([])
    b.update([])
    pa, pb = a.suggest(5), b.suggest(5)
    assert pa == pb and len(pa) == 5
    for cfg in pa:
        assert 1e-5 <= cfg["lr"] <= 1.0 and 0 <= cfg["wd"] <= 0.1 and cfg["opt"] in ("sgd", "adam")
    assert len({tuple(sorted(c.items())) for c in pa}) == 5  # distinct


@pytest.mark.parametrize("name", searcher_names())
def test_every_searcher_resumes_from_the_store(name: str) -> None:
    whole = make_searcher(name, SPACE, seed=3)
    whole.update([])
    first = whole.suggest(4)
    resumed = make_searcher(name, SPACE, seed=3)
    resumed.update(_records(first))
    uninterrupted = make_searcher(name, SPACE, seed=3)
    uninterrupted.update([])
    uninterrupted.suggest(4)
    uninterrupted.update(_records(first))
    assert resumed.suggest(3) == uninterrupted.suggest(3)


def test_halton_same_seed_same_points_and_continuation() -> None:
    a = halton_points(3, seed=11, start=0, n=20)
    assert np.array_equal(a, halton_points(3, seed=11, start=0, n=20))
    assert np.allclose(a[8:], halton_points(3, seed=11, start=8, n=12))
    assert not np.allclose(a, halton_points(3, seed=12, start=0, n=20))
    assert a.min() >= 0 and a.max() < 1


def test_halton_covers_the_cube_better_than_random() -> None:
    # Star-discrepancy proxy: max gap in each 1-D projection after 64 points.
    pts = halton_points(2, seed=0, start=0, n=64)
    rnd = np.random.default_rng(0).random((64, 2))
    def worst_gap(x: np.ndarray) -> float:
        return max(np.diff(np.sort(np.r_[0.0, x[:, d], 1.0])).max() for d in range(2))
    assert worst_gap(pts) < worst_gap(rnd)


def test_quasi_random_log_scale_spreads_over_decades() -> None:
    s = make_searcher("quasi_random", SPACE, seed=0)
    s.update([])
    lrs = np.log10([c["lr"] for c in s.suggest(50)])
    counts = np.histogram(lrs, bins=5, range=(-5, 0))[0]
    assert counts.min() >= 7  # each decade gets about a fifth


def test_unknown_searcher_lists_valid_names() -> None:
    from tunebook.core.errors import SpecError

    with pytest.raises(SpecError, match="quasi_random"):
        make_searcher("grid", SPACE, 0)
