"""Training curves of the top trials: dev value and training loss, problems marked."""

from __future__ import annotations

from pathlib import Path

from tunebook.analysis.curves import CurveReport
from tunebook.plots.figure import COLORS, new_figure, save_png


def draw_curves(report: CurveReport, path: str | Path) -> Path:
    """Left: the dev value per eval step (best step dotted); right: training loss (spikes: v)."""
    fig = new_figure(11, 4.0)
    left, right = fig.subplots(1, 2)
    for d in report.trials:
        line = left.plot(d.dev.steps, d.dev.values, label=f"trial {d.trial}", linewidth=1.2)[0]
        if d.best_step is not None:
            left.axvline(d.best_step, color=line.get_color(), linestyle=":", linewidth=0.8)
        if d.train_loss is not None:
            right.plot(d.train_loss.steps, d.train_loss.values, color=line.get_color(),
                       linewidth=0.8, label=f"trial {d.trial}")
            at = dict(zip(d.train_loss.steps, d.train_loss.values, strict=True))
            spikes = [s for s in d.loss_spikes if s in at]
            if spikes:
                right.scatter(spikes, [at[s] for s in spikes], marker="v",
                              c=COLORS["diverged"], zorder=3)
    left.set_xlabel("step")
    left.set_ylabel(report.metric if report.metric != "score" else "dev score")
    left.set_title("dev curve of the top trials", fontsize=10)
    left.legend(fontsize=7)
    right.set_xlabel("step")
    right.set_ylabel("train/loss")
    right.set_title("training loss", fontsize=10)
    if any(d.train_loss is not None for d in report.trials):
        vals = [v for d in report.trials if d.train_loss for v in d.train_loss.values]
        if vals and min(vals) > 0:
            right.set_yscale("log")
        right.legend(fontsize=7)
    return save_png(fig, path)
