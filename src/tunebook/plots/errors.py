"""The largest error categories as horizontal bars (share of the sampled dev errors)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from tunebook.analysis.errors import ErrorAnalysis


def draw_categories(a: ErrorAnalysis, path: str | Path, top: int = 15) -> Path:
    """The ``top`` categories across all dimensions, largest first.

    >>> draw_categories(analysis, "errors.png")  # doctest: +SKIP
    PosixPath('errors.png')
    """
    cats = (a.tags + a.categories)[:top][::-1]
    fig = Figure(figsize=(6, 0.3 * len(cats) + 1.2))
    ax = fig.add_subplot()
    ax.barh([f"{c.dimension}: {c.value}" for c in cats], [c.share for c in cats],
            color="#4477aa")
    ax.set_xlabel(f"share of {a.sample_size} sampled dev errors")
    ax.set_title(f"trial {a.trial_id}: dev error {a.dev_error:.3g}", fontsize=9)
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    return out
