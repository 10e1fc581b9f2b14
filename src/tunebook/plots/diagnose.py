"""The error ladder: target, train, train_dev, dev and test error, with the gaps between."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from tunebook.analysis.diagnose import LABELS, Diagnosis


def draw_ladder(d: Diagnosis, path: str | Path) -> Path:
    """Bars of the error per split; the largest gap is named in the title.

    >>> draw_ladder(diagnosis, "ladder.png")  # doctest: +SKIP
    PosixPath('ladder.png')
    """
    names = (["target"] if d.target is not None else []) + [
        s for s in ("train", "train_dev", "dev", "test") if d.errors.get(s) is not None]
    values = [d.target if n == "target" else d.errors[n] for n in names]
    fig = Figure(figsize=(6, 3.6))
    ax = fig.add_subplot()
    bars = ax.bar(names, [v or 0.0 for v in values],
                  color=["#999999" if n == "target" else "#4477aa" for n in names])
    for bar, v in zip(bars, values, strict=True):
        ax.annotate(f"{v:.3g}", (bar.get_x() + bar.get_width() / 2, v or 0.0),
                    ha="center", va="bottom", fontsize=8)
    ax.set_ylabel(f"error ({d.rule})")
    title = "largest gap: " + (LABELS[d.largest] if d.largest else "none")
    ax.set_title(f"trial {d.trial_id} — {title}", fontsize=9)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    return out
