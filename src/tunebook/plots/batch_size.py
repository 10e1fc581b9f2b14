"""Draw a batch-size scan: throughput against batch size, the knee marked, memory alongside."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tunebook.core.throughput import BatchSizeScan  # noqa: E402
from tunebook.store.files import atomic_write  # noqa: E402


def draw_batch_size_scan(scan: BatchSizeScan, path: str | Path) -> Path:
    """Write the scan's plot as a PNG at ``path`` and return the path."""
    import io

    sizes = [p.batch_size for p in scan.points]
    rates = [p.examples_per_s for p in scan.points]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(sizes, rates, "o-", color="tab:blue", label="examples / s")
    if scan.knee is not None:
        ax.axvline(scan.knee, color="tab:red", ls="--", label=f"knee: {scan.knee}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size")
    ax.set_ylabel("training throughput (examples / s)")
    mem = [p.peak_memory_mb for p in scan.points if p.peak_memory_mb is not None]
    if sizes and len(mem) == len(sizes):
        twin = ax.twinx()
        twin.plot(sizes, mem, "s:", color="tab:gray", label="peak memory (MiB)")
        twin.set_ylabel(f"peak memory, MiB ({scan.memory_kind})")
        # A cap far above the curve would flatten it; draw it only when it is in view.
        if scan.memory_cap_mb is not None and scan.memory_cap_mb <= 1.5 * max(mem):
            twin.axhline(scan.memory_cap_mb, color="tab:gray", lw=0.8, label="memory cap")
        handles, labels = ax.get_legend_handles_labels()
        more = twin.get_legend_handles_labels()
        ax.legend(handles + more[0], labels + more[1], loc="upper left", fontsize="small")
    else:
        ax.legend(loc="upper left", fontsize="small")
    ax.set_title(f"batch-size scan on {scan.device}: {scan.stopped}", fontsize="small")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    target = Path(path)
    atomic_write(target, buf.getvalue())
    return target
