"""Training-loss curves of the stability probes beside the chosen trial's."""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.figure import Figure

from tunebook.analysis.stability import StabilityReport


def draw_probes(report: StabilityReport, path: str | Path) -> Path:
    """One line per probe (log loss axis); unstable runs dashed.

    >>> draw_probes(report, "stability.png")  # doctest: +SKIP
    PosixPath('stability.png')
    """
    fig = Figure(figsize=(6, 3.8))
    ax = fig.add_subplot()
    checks = [report.reference, *([report.probe] if report.probe else []), *report.warmup]
    for c in checks:
        pts = [(s, v) for s, v in c.losses if math.isfinite(v) and v > 0]
        if pts:
            ax.plot([s for s, _ in pts], [v for _, v in pts], label=c.label,
                    linestyle="--" if c.unstable else "-", linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("train loss")
    ax.set_title(f"trial {report.trial_id}: lr {report.lr:.3g}, probe x{report.lr_factor:g}",
                 fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    return out
