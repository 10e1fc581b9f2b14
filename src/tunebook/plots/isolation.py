"""The isolation plot: best value over nuisance per target value, with spread and seeds."""

from __future__ import annotations

from pathlib import Path

from tunebook.analysis.isolation import Isolation
from tunebook.plots.figure import COLORS, new_figure, save_png


def draw_isolation(iso: Isolation, value_name: str, path: str | Path) -> Path:
    """Per value: its usable trials' quartiles (bar), the best trial (star), seed mean +- std."""
    fig = new_figure(max(4.5, 1.3 * len(iso.values) + 2), 4.0)
    ax = fig.subplots()
    for i, v in enumerate(iso.values):
        if v.spread is not None:
            ax.vlines(i, v.spread.low, v.spread.high, color="lightgrey", linewidth=2)
            ax.vlines(i, v.spread.q1, v.spread.q3, color="grey", linewidth=8)
        if v.best is not None:
            ax.scatter([i], [v.best], marker="*", s=160, c=COLORS["ok"], zorder=3,
                       label="best over nuisance" if i == 0 else None)
        if v.seed_mean is not None and v.seed_std is not None:
            ax.errorbar([i + 0.15], [v.seed_mean], yerr=[v.seed_std], fmt="o", color="black",
                        capsize=4, label="best config: seed mean +- std" if i == 0 else None)
        ax.annotate(f"n={v.usable}/{v.trials}", (i, 0), xycoords=("data", "axes fraction"),
                    xytext=(0, 4), textcoords="offset points", ha="center", fontsize=7)
    ax.set_xticks(range(len(iso.values)), [v.label for v in iso.values],
                  rotation=20 if len(iso.values) > 4 else 0)
    ax.set_ylabel(value_name)
    verdict = {"clear": "a clear difference", "within_noise": "within seed noise",
               "unknown": "uncertainty unknown (no config has several seeds)",
               "single": "one value only"}[iso.verdict]
    ax.set_title(f"isolation of {', '.join(iso.target)}: {verdict}", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    return save_png(fig, path)
