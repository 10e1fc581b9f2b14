"""Seed distributions of the candidate and the baseline, with the gain's interval."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from tunebook.analysis.promotion import PromotionResult


def draw_seeds(result: PromotionResult, path: str | Path) -> Path:
    """Each seed's score per arm, the arm means, and the verdict in the title.

    >>> draw_seeds(result, "seeds.png")  # doctest: +SKIP
    PosixPath('seeds.png')
    """
    fig = Figure(figsize=(5, 3.6))
    ax = fig.add_subplot()
    test = result.test
    arms = [("baseline", test.baseline if test else []),
            ("candidate", test.candidate if test else [])]
    for i, (arm, scores) in enumerate(arms):
        xs = [i + 0.06 * (k - (len(scores) - 1) / 2) for k in range(len(scores))]
        ax.scatter(xs, scores, s=18, color="#4477aa" if arm == "baseline" else "#ee6677")
        if scores:
            mean = sum(scores) / len(scores)
            ax.hlines(mean, i - 0.25, i + 0.25, color="black", linewidth=1)
    ax.set_xticks([0, 1], [a for a, _ in arms])
    ax.set_xlim(-0.6, 1.6)
    ax.set_ylabel("score per seed")
    sub = f"gain {test.gain:.3g} [{test.ci_low:.3g}, {test.ci_high:.3g}]" if test else ""
    ax.set_title(f"{result.verdict}  {sub}", fontsize=9)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    return out
