"""The standard views (history, distribution, parallel coordinates, contour): numbers first."""

from __future__ import annotations

import math

import pytest
from planted import score_round

from tunebook.analysis import views
from tunebook.analysis.importance import importance
from tunebook.analysis.records import load_records
from tunebook.core.errors import SpecError
from tunebook.plots import standard
from tunebook.plots.figure import png_bytes
from tunebook.store import Store


def _round(store: Store):  # accuracy peaks at u_lr = 0.5, falls with wd; u_lr > 0.9 diverges
    score_round(store, "views", 24, lambda u, w: None if u > 0.9 else
                0.95 - 0.4 * (u - 0.5) ** 2 - 0.1 * w)
    return load_records(store, "views")


def test_history_is_each_value_in_trial_order_with_the_running_best(store: Store) -> None:
    recs = _round(store)
    h = views.history(recs)
    assert h.numbers == sorted(h.numbers)
    assert len(h.values) == len(recs.finished)
    running = -math.inf
    for v, o, b in zip(h.values, h.outcomes, h.best_so_far, strict=True):
        if o == "ok":
            running = max(running, v)
        assert b == running or (math.isnan(b) and running == -math.inf)
    assert h.best_so_far[-1] == recs.values[recs.ranked()[0].id]
    assert "diverged" in h.outcomes


def test_distribution_is_the_empirical_cdf(store: Store) -> None:
    d = views.distribution(_round(store))
    assert d.values == sorted(d.values)
    assert d.fractions[-1] == 1.0 and d.fractions[0] == pytest.approx(1 / len(d.values))


def test_parallel_positions_follow_each_params_scale(store: Store) -> None:
    recs = _round(store)
    p = views.parallel(recs)
    assert [a.name for a in p.axes] == ["lr", "wd"] and p.axes[0].scale == "log"
    for tid, row in zip(p.trial_ids, p.positions, strict=True):
        t = next(t for t in recs.trials if t.id == tid)
        lr = t.config["lr"]
        assert row[0] == pytest.approx(math.log(lr / 1e-4) / math.log(1e-1 / 1e-4))


def test_contour_interpolates_inside_the_trials_and_never_outside(store: Store) -> None:
    recs = _round(store)
    c = views.contour(recs, "lr", "wd", resolution=11)
    assert len(c.grid) == 11 and all(len(r) == 11 for r in c.grid)
    xs = [p[0] for p in c.points]
    ys = [p[1] for p in c.points]
    for j, y in enumerate(c.grid_y):
        for i, x in enumerate(c.grid_x):
            v = c.grid[j][i]
            if not (min(xs) <= x <= max(xs) and min(ys) <= y <= max(ys)):
                assert v is None                   # outside the trials' box: no extrapolation
            elif v is not None:
                assert min(p[2] for p in c.points) - 1e-9 <= v <= max(p[2] for p in c.points) + 1e-9
    with pytest.raises(SpecError, match="contour.y"):
        views.contour(recs, "lr", "nope")


def test_every_standard_plot_draws(store: Store) -> None:
    recs = _round(store)
    figs = [standard.draw_history(views.history(recs)),
            standard.draw_distribution(views.distribution(recs)),
            standard.draw_parallel(views.parallel(recs)),
            standard.draw_contour(views.contour(recs)),
            standard.draw_importance(importance(recs))]
    for fig in figs:
        assert png_bytes(fig)[:8] == b"\x89PNG\r\n\x1a\n"
