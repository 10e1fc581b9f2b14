"""Saving a matplotlib figure atomically as PNG (a reader never sees half a file)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from tunebook.store.files import atomic_write

COLORS = {"ok": "#1f77b4", "infeasible": "#ff7f0e", "diverged": "#d62728"}
MARKERS = {"ok": "o", "infeasible": "x", "diverged": "v"}


def new_figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def save_png(fig: Any, path: str | Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write(path, buf.getvalue())
    return Path(path)


def png_bytes(fig: Any) -> bytes:
    """The figure as PNG bytes (what a server or a notebook shows without touching disk)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
