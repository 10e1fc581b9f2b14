"""The standard views of a round, computed before anything is drawn.

Optimization history, the empirical distribution of values, parallel coordinates and a
two-hyperparameter contour: each is a frozen result built from :class:`RoundRecords`, so the
dashboard, the report and a notebook draw the same numbers and tests check the numbers, not
pixels (the "compute, then draw" habit of Optuna's plot functions).

>>> recs = load_records(store, "width")                     # doctest: +SKIP
>>> history(recs).best_so_far[-1] == recs.values[recs.ranked()[0].id]  # doctest: +SKIP
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tunebook.analysis.records import RoundRecords
from tunebook.core.errors import SpecError
from tunebook.core.space import Param
from tunebook.core.trial import TrialRecord


@dataclass(frozen=True)
class History:
    """Each finished trial's value in the order the trials were numbered, and the best so far."""

    value_name: str
    goal: str
    trial_ids: list[int]
    numbers: list[int]
    values: list[float]
    best_so_far: list[float]
    outcomes: list[str]           # ok | infeasible | diverged, per point


@dataclass(frozen=True)
class Distribution:
    """The empirical distribution (EDF) of the finished trials' values."""

    value_name: str
    goal: str
    values: list[float]           # sorted ascending
    fractions: list[float]        # share of trials with a value <= values[i]


@dataclass(frozen=True)
class Axis:
    name: str
    role: str
    kind: str                     # float | int | choice
    scale: str                    # linear | log
    labels: list[str]             # choice / target labels in axis order; [] when numeric
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Parallel:
    """Parallel coordinates: one line per finished trial, each axis scaled to [0, 1]."""

    value_name: str
    goal: str
    axes: list[Axis]
    trial_ids: list[int]
    positions: list[list[float]]  # per trial, one position in [0, 1] per axis
    values: list[float]


@dataclass(frozen=True)
class Contour:
    """Values over two hyperparameters: the trials as points, and an interpolated grid."""

    value_name: str
    goal: str
    x: Axis
    y: Axis
    points: list[tuple[float, float, float]]   # (x, y, value), x and y in [0, 1]
    grid_x: list[float]
    grid_y: list[float]
    grid: list[list[float | None]]             # grid[j][i] at (grid_x[i], grid_y[j]); None outside


def history(recs: RoundRecords) -> History:
    """Value of every completed or diverged trial by trial number, with the running best."""
    finished = sorted((t for t in recs.finished if t.id in recs.values),
                      key=lambda t: (t.number, t.id))
    best: list[float] = []
    current: float | None = None
    for t in finished:
        v = recs.values[t.id]
        if recs.outcome(t) == "ok" and (current is None or recs.better(v, current)):
            current = v
        best.append(math.nan if current is None else current)
    return History(recs.value_name, recs.goal, [t.id for t in finished],
                   [t.number for t in finished], [recs.values[t.id] for t in finished], best,
                   [recs.outcome(t) for t in finished])


def distribution(recs: RoundRecords) -> Distribution:
    values = sorted(recs.values[t.id] for t in recs.finished if t.id in recs.values)
    n = len(values)
    return Distribution(recs.value_name, recs.goal, values,
                        [(i + 1) / n for i in range(n)])


def axes_of(recs: RoundRecords) -> list[Axis]:
    """The hyperparameters that varied in the round (targets first), as plot axes."""
    out = []
    params = sorted(recs.spec.params.items(), key=lambda kv: kv[1].role != "target")
    for name, p in params:
        if p.role == "fixed":
            continue
        out.append(_axis(name, p))
    return out


def _axis(name: str, p: Param) -> Axis:
    if p.role == "target" or p.kind == "choice":
        labels = [str(v) for v in (p.values if p.role == "target" else p.choices) or []]
        return Axis(name, p.role, "choice", "linear", labels, None, None)
    return Axis(name, p.role, p.kind, p.scale, [], p.low, p.high)


def position(axis: Axis, p: Param, value: Any) -> float | None:
    """Where ``value`` sits on ``axis`` in [0, 1] (log params on a log scale); None if absent."""
    if value is None:
        return None
    if axis.kind == "choice":
        if str(value) not in axis.labels:
            return None
        n = len(axis.labels)
        return 0.5 if n == 1 else axis.labels.index(str(value)) / (n - 1)
    try:
        u = p.to_unit(value)
    except (TypeError, ValueError):
        return None
    return min(1.0, max(0.0, float(u)))


def parallel(recs: RoundRecords) -> Parallel:
    """Parallel coordinates over every varying hyperparameter of the finished trials."""
    axes = axes_of(recs)
    ids: list[int] = []
    rows: list[list[float]] = []
    values: list[float] = []
    for t in _finished(recs):
        row = [position(a, recs.spec.params[a.name], t.config.get(a.name)) for a in axes]
        # A conditional hyperparameter a trial lacks sits mid-axis, drawn like any other.
        rows.append([0.5 if u is None else u for u in row])
        ids.append(t.id)
        values.append(recs.values[t.id])
    return Parallel(recs.value_name, recs.goal, axes, ids, rows, values)


def contour(recs: RoundRecords, x: str | None = None, y: str | None = None,
            resolution: int = 30) -> Contour:
    """Values over hyperparameters ``x`` and ``y`` (default: the first two varying ones).

    The grid interpolates linearly between trials (scipy's ``griddata``) and is empty where the
    trials do not surround a cell: nothing is extrapolated.
    """
    axes = {a.name: a for a in axes_of(recs)}
    names = list(axes)
    if len(names) < 2:
        raise SpecError("contour", "a round with at least two varying hyperparameters",
                        names or "none")
    x = x or names[0]
    y = y or next(n for n in names if n != x)
    for field, name in (("x", x), ("y", y)):
        if name not in axes:
            raise SpecError(f"contour.{field}", f"a varying hyperparameter of the round "
                            f"({names})", name)
    ax, ay = axes[x], axes[y]
    pts: list[tuple[float, float, float]] = []
    for t in _finished(recs):
        px = position(ax, recs.spec.params[x], t.config.get(x))
        py = position(ay, recs.spec.params[y], t.config.get(y))
        if px is not None and py is not None:
            pts.append((px, py, recs.values[t.id]))
    gx = [i / (resolution - 1) for i in range(resolution)]
    grid: list[list[float | None]] = [[None] * resolution for _ in range(resolution)]
    if len({(p[0], p[1]) for p in pts}) >= 4:
        grid = _interpolate(pts, gx)
    return Contour(recs.value_name, recs.goal, ax, ay, pts, gx, gx, grid)


def _interpolate(pts: list[tuple[float, float, float]], g: list[float]
                 ) -> list[list[float | None]]:
    import numpy as np
    from scipy.interpolate import griddata
    from scipy.spatial import QhullError

    xy = np.array([(p[0], p[1]) for p in pts])
    z = np.array([p[2] for p in pts])
    gxx, gyy = np.meshgrid(np.array(g), np.array(g))
    try:
        zz = griddata(xy, z, (gxx, gyy), method="linear")
    except (QhullError, ValueError):  # all points on one line: no surface to interpolate
        return [[None] * len(g) for _ in g]
    return [[None if not math.isfinite(v) else float(v) for v in row] for row in zz]


def _finished(recs: RoundRecords) -> list[TrialRecord]:
    return [t for t in recs.finished if t.id in recs.values and recs.in_sweep(t)]
