"""Thin matplotlib drawers of analysis results (Agg backend; tests check the data).

No pyplot state: each drawer builds its own ``Figure``.

Plots only draw what an analysis computed; they never read the store or decide anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tunebook.analysis.overview import RoundAnalysis


def draw_round(analysis: RoundAnalysis, folder: str | Path) -> dict[str, str]:
    """Write the round's PNG plots into ``folder``; returns {plot name: path}.

    >>> draw_round(analyze_round(store, "width"), ".tunebook/reports/width")  # doctest: +SKIP
    {'axes': '.tunebook/reports/width/axes.png', ...}
    """
    from tunebook.plots.axes import draw_axes
    from tunebook.plots.curves import draw_curves
    from tunebook.plots.isolation import draw_isolation

    out = Path(folder)
    written: dict[str, str] = {}
    label = analysis.value_name
    if analysis.axes.axes:
        written["axes"] = str(draw_axes(analysis.axes, label, out / "axes.png"))
    if analysis.isolation is not None:
        written["isolation"] = str(draw_isolation(analysis.isolation, label,
                                                  out / "isolation.png"))
    if analysis.curves.trials:
        written["curves"] = str(draw_curves(analysis.curves, out / "curves.png"))
    return written
