"""The standard tuning plots: history, distribution, parallel coordinates, contour, importance.

Each drawer takes a result from :mod:`tunebook.analysis.views` (or ``Importance``) and returns a
matplotlib ``Figure``; :func:`tunebook.plots.figure.png_bytes` or ``save_png`` turns it into a
file. In a notebook the figure shows itself.

>>> fig = draw_history(history(load_records(store, "width")))   # doctest: +SKIP
>>> save_png(fig, "history.png")                                 # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import Any

from tunebook.analysis.importance import Importance
from tunebook.analysis.views import Axis, Contour, Distribution, History, Parallel
from tunebook.plots.figure import COLORS, MARKERS, new_figure


def draw_history(h: History) -> Any:
    """Each trial's value by trial number (outcome marked) and the running best as a step line."""
    fig = new_figure(7, 3.6)
    ax = fig.subplots()
    for outcome in ("ok", "infeasible", "diverged"):
        idx = [i for i, o in enumerate(h.outcomes) if o == outcome]
        if idx:
            ax.scatter([h.numbers[i] for i in idx], [h.values[i] for i in idx], s=16,
                       c=COLORS[outcome], marker=MARKERS[outcome], label=outcome)
    ax.step(h.numbers, h.best_so_far, where="post", color="#333333", linewidth=1.2,
            label=f"best so far ({h.goal})")
    ax.set_xlabel("trial number")
    ax.set_ylabel(h.value_name)
    ax.set_title("optimization history", fontsize=10)
    ax.legend(fontsize=7)
    return fig


def draw_distribution(d: Distribution) -> Any:
    """The empirical distribution function of the trials' values."""
    fig = new_figure(6, 3.6)
    ax = fig.subplots()
    ax.step(d.values, d.fractions, where="post", color=COLORS["ok"])
    ax.set_xlabel(d.value_name)
    ax.set_ylabel("share of trials with a value ≤ x")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"empirical distribution ({len(d.values)} trials)", fontsize=10)
    return fig


def _ticks(axis: Axis) -> tuple[list[float], list[str]]:
    if axis.kind == "choice":
        n = len(axis.labels)
        pos = [0.5] if n == 1 else [i / (n - 1) for i in range(n)]
        return pos, axis.labels
    if axis.low is None or axis.high is None:
        return [0.0, 1.0], ["low", "high"]
    if axis.scale == "log":
        lo, hi = math.log(axis.low), math.log(axis.high)
        vals = [math.exp(lo + u * (hi - lo)) for u in (0.0, 0.5, 1.0)]
    else:
        vals = [axis.low + u * (axis.high - axis.low) for u in (0.0, 0.5, 1.0)]
    return [0.0, 0.5, 1.0], [f"{v:.3g}" for v in vals]


def draw_parallel(p: Parallel) -> Any:
    """One line per trial across every varying hyperparameter, coloured by value."""
    from matplotlib import cm, colormaps, colors

    fig = new_figure(max(6, 1.6 * len(p.axes) + 2), 4.0)
    ax = fig.subplots()
    if not p.axes or not p.values:
        ax.text(0.5, 0.5, "no finished trials yet", ha="center", va="center")
        return fig
    lo, hi = min(p.values), max(p.values)
    norm = colors.Normalize(vmin=lo, vmax=hi if hi > lo else lo + 1)
    cmap = colormaps["viridis" if p.goal == "max" else "viridis_r"]
    xs = list(range(len(p.axes)))
    order = sorted(range(len(p.values)), key=lambda i: p.values[i] if p.goal == "max"
                   else -p.values[i])  # best drawn last, on top
    for i in order:
        ax.plot(xs, p.positions[i], color=cmap(norm(p.values[i])), linewidth=0.9, alpha=0.8)
    for x, a in zip(xs, p.axes, strict=True):
        ax.axvline(x, color="#999999", linewidth=0.6)
        pos, labels = _ticks(a)
        for u, label in zip(pos, labels, strict=True):
            ax.text(x + 0.03, u, label, fontsize=7, va="center")
    ax.set_xticks(xs, [f"{a.name}\n({a.role})" for a in p.axes], fontsize=8)
    ax.set_yticks([])
    ax.set_ylim(-0.05, 1.05)
    fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=p.value_name)
    ax.set_title("parallel coordinates", fontsize=10)
    return fig


def draw_contour(c: Contour) -> Any:
    """Interpolated values over two hyperparameters, with the trials as points."""
    import numpy as np

    fig = new_figure(6, 4.6)
    ax = fig.subplots()
    grid = np.array([[math.nan if v is None else v for v in row] for row in c.grid], float)
    if np.isfinite(grid).any():
        filled = ax.contourf(c.grid_x, c.grid_y, grid, levels=12,
                             cmap="viridis" if c.goal == "max" else "viridis_r")
        fig.colorbar(filled, ax=ax, label=c.value_name)
    if c.points:
        ax.scatter([p[0] for p in c.points], [p[1] for p in c.points], s=14, c="white",
                   edgecolors="black", linewidths=0.6)
    for axis, set_ticks, set_label in ((c.x, ax.set_xticks, ax.set_xlabel),
                                       (c.y, ax.set_yticks, ax.set_ylabel)):
        pos, labels = _ticks(axis)
        set_ticks(pos, labels, fontsize=7)
        set_label(f"{axis.name}" + (" (log)" if axis.scale == "log" else ""))
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-0.03, 1.03)
    ax.set_title("contour", fontsize=10)
    return fig


def draw_importance(imp: Importance) -> Any:
    """Horizontal bars: each hyperparameter's share of the value's variance."""
    fig = new_figure(6, max(2.0, 0.45 * len(imp.shares) + 1.2))
    ax = fig.subplots()
    if not imp.shares:
        ax.text(0.5, 0.5, imp.skipped or "nothing to show", ha="center", va="center",
                wrap=True, fontsize=8)
        ax.set_axis_off()
        return fig
    names = list(imp.shares)[::-1]
    ax.barh(names, [imp.shares[n] for n in names], color=COLORS["ok"])
    ax.set_xlabel(f"share ({imp.method}, {imp.trials} trials)")
    ax.set_xlim(0, 1)
    ax.set_title("hyperparameter importance", fontsize=10)
    return fig
