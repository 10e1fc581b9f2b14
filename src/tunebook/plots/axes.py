"""Axis plots: each trial's value against each tuned hyperparameter (draws an AxesResult)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tunebook.analysis.axes import AxesResult, Axis
from tunebook.plots.figure import COLORS, MARKERS, new_figure, save_png


def draw_axes(res: AxesResult, value_name: str, path: str | Path) -> Path:
    """One panel per hyperparameter; infeasible (x) and diverged (v, at the bottom) marked.

    Top trials are ringed; a proposed wider range and a stability bound are drawn as lines.
    """
    n = len(res.axes)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = new_figure(4.2 * cols, 3.3 * rows)
    grid = fig.subplots(rows, cols, squeeze=False)
    values = [p.value for p in res.points if p.value is not None]
    floor = (min(values) - 0.05 * (max(values) - min(values) or 1.0)) if values else 0.0
    top = set(res.top)
    for k, axis in enumerate(res.axes):
        ax = grid[k // cols][k % cols]
        _panel(ax, axis, res, value_name, floor, top)
    for k in range(n, rows * cols):
        grid[k // cols][k % cols].set_visible(False)
    fig.suptitle(f"{value_name} against each tuned hyperparameter")
    return save_png(fig, path)


def _panel(ax: Any, axis: Axis, res: AxesResult, value_name: str, floor: float,
           top: set[int]) -> None:
    categorical = axis.kind == "choice"
    cats = [repr(c) for c in axis.choices or []]
    for outcome in ("ok", "infeasible", "diverged"):
        xs, ys = [], []
        for p in res.points:
            if p.outcome != outcome or p.config.get(axis.param) is None:
                continue
            x = p.config[axis.param]
            if categorical:
                r = repr(x)
                # Spread points of one category sideways, deterministically, so they do not hide.
                x = (cats.index(r) if r in cats else len(cats)) + ((p.trial * 37) % 21 - 10) / 50
            xs.append(x)
            ys.append(p.value if p.value is not None else floor)
        if xs:
            ax.scatter(xs, ys, s=18, marker=MARKERS[outcome], c=COLORS[outcome], alpha=0.7,
                       label=outcome)
    tx = [p.config.get(axis.param) for p in res.points if p.trial in top]
    ty = [p.value for p in res.points if p.trial in top]
    if tx and not categorical:
        ax.scatter(tx, ty, s=70, facecolors="none", edgecolors="black", label="top")
    if categorical:
        ax.set_xticks(range(len(cats)), [str(c) for c in axis.choices or []])
    elif axis.scale == "log":
        ax.set_xscale("log")
    for b in res.boundaries:
        if b.param == axis.param:
            edge = b.high if b.edge == "high" else b.low
            ax.axvline(edge, color="grey", linestyle=":", label="range edge")
            new = b.proposed_high if b.edge == "high" else b.proposed_low
            if new is not None:
                ax.axvline(new, color="green", linestyle="--", label="proposed edge")
    for s in res.stability:
        if s.param == axis.param:
            ax.axvline(s.bound, color=COLORS["diverged"], linestyle="--",
                       label="stability bound")
    ax.set_xlabel(f"{axis.param} ({axis.role})")
    ax.set_ylabel(value_name)
    ax.legend(fontsize=7, loc="best")
