"""Kit commands: ``tunebook batch-size`` (throughput scan) and ``tunebook profile-input``.

Both run the project's step probe: ``make_step(config)`` beside ``train`` (or ``--step
module:function``) returning ``(batches(batch_size), step(batch))``. Torch is imported only
when a command runs, so the rest of the CLI works without it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from tunebook.cli.output import (
    JsonOption,
    ProjectOption,
    StoreOption,
    ThreadsOption,
    emit,
    fmt,
    project_at,
    use_threads,
)
from tunebook.core.errors import SpecError

StepOption = typer.Option(None, "--step", help="module:function returning (batches, step); "
                          "default: make_step in the pipeline's module.")

_UNITS = {"": 1.0, "k": 1 / 1024, "kb": 1 / 1024, "kib": 1 / 1024, "m": 1.0, "mb": 1.0,
          "mib": 1.0, "g": 1024.0, "gb": 1024.0, "gib": 1024.0, "t": 1024.0**2,
          "tb": 1024.0**2, "tib": 1024.0**2}


def parse_memory(text: str | None) -> float | None:
    """'4GB', '512MiB', '300' (MiB) -> MiB.

    >>> parse_memory("2GB"), parse_memory("512")
    (2048.0, 512.0)
    """
    if text is None:
        return None
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", text)
    unit = m.group(2).lower() if m else ""
    if not m or unit not in _UNITS or float(m.group(1)) <= 0:
        raise SpecError("--memory-cap", "a size > 0 such as 4GB, 512MB or 300 (MiB)", text)
    return float(m.group(1)) * _UNITS[unit]


def register(app: typer.Typer) -> None:
    @app.command("batch-size")
    def batch_size(step: str = StepOption,
                   start: int = typer.Option(1, help="Smallest batch size."),
                   max_size: int = typer.Option(1024, "--max", help="Largest batch size."),
                   memory_cap: str = typer.Option(
                       None, "--memory-cap", help="Stop before peak memory passes this "
                       "(e.g. 4GB). CPU default: half the memory free at the start."),
                   min_seconds: float = typer.Option(0.3, help="Timed seconds per size."),
                   device: str = typer.Option(None, help="cpu | cuda (default: cuda if "
                                              "available)."),
                   out: Path = typer.Option(None, help="Plot file (default "
                                            ".tunebook/reports/batch-size.png)."),
                   project: str = ProjectOption, store: str = StoreOption,
                   threads: int = ThreadsOption, as_json: bool = JsonOption) -> None:
        """Scan batch sizes at powers of two: feasible range, throughput, and the knee."""
        use_threads(threads)
        from tunebook.pytorch.probe import scan_project
        from tunebook.store import open_store

        cap = parse_memory(memory_cap)
        spec, pdir = project_at(project)
        plot = out or pdir / ".tunebook" / "reports" / "batch-size.png"
        st = open_store(store, pdir)
        with _Bar(not as_json, "batch-size scan") as bar:
            report = scan_project(spec, pdir, st, entry=step, plot=plot, start=start,
                                  max_size=max_size, memory_cap_mb=cap,
                                  min_seconds=min_seconds, device=device,
                                  on_point=lambda p: bar(f"batch {p.batch_size}: "
                                                         f"{p.examples_per_s:.0f} ex/s"))
        emit(report, as_json, _render_scan)

    @app.command("profile-input")
    def profile_input(step: str = StepOption,
                      batch_size: int = typer.Option(None, help="Default: the baseline's."),
                      steps: int = typer.Option(50, help="Timed steps."),
                      threshold: float = typer.Option(0.1, help="Waiting share that counts "
                                                      "as input-bound."),
                      project: str = ProjectOption, store: str = StoreOption,
                      threads: int = ThreadsOption, as_json: bool = JsonOption) -> None:
        """Measure the share of step time spent waiting for data; flag input-bound loops."""
        use_threads(threads)
        from tunebook.pytorch.probe import profile_project
        from tunebook.store import open_store

        spec, pdir = project_at(project)
        st = open_store(store, pdir)
        report = profile_project(spec, pdir, st, entry=step, batch_size=batch_size,
                                 steps=steps, threshold=threshold)
        emit(report, as_json, _render_profile)


class _Bar:
    """A Rich status line that shows each measured point (a no-op when disabled)."""

    def __init__(self, enabled: bool, title: str) -> None:
        self.enabled, self.title = enabled, title
        self._status: Any = None

    def __enter__(self) -> Any:
        if self.enabled:
            from tunebook.cli.output import console

            self._status = console.status(f"[bold]{self.title}[/] starting")
            self._status.start()
        return self

    def __call__(self, text: str) -> None:
        if self._status is not None:
            self._status.update(f"[bold]{self.title}[/] {text}")

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()


def _render_scan(console: Console, report: Any) -> None:
    scan = report.scan
    table = Table(title=f"batch-size scan ({report.entry}, {scan.device})")
    for col in ("batch size", "examples/s", "step ms", "peak MiB", ""):
        table.add_column(col, justify="right")
    for p in scan.points:
        table.add_row(str(p.batch_size), f"{p.examples_per_s:,.0f}", f"{1000 * p.step_s:.2f}",
                      fmt(p.peak_memory_mb), "knee" if p.batch_size == scan.knee else "")
    console.print(table)
    console.print(f"feasible: {scan.feasible}; knee (throughput within "
                  f"{scan.knee_fraction:.0%} of the best): [bold]{scan.knee}[/]; "
                  f"stopped: {scan.stopped}")
    if scan.still_scaling:
        console.print("[yellow]throughput was still rising at the largest size: raise --max "
                      "(or the memory cap) to find the knee[/]")
    console.print(f"[yellow]{scan.note}[/]")
    if report.plot:
        console.print(f"plot: {report.plot}")


def _render_profile(console: Console, report: Any) -> None:
    p = report.profile
    color = "red" if p.input_bound else "green"
    console.print(f"input profile of {report.entry} at batch size {report.batch_size} over "
                  f"{p.steps} steps: waiting {p.wait_s:.3f} s, computing {p.compute_s:.3f} s")
    console.print(f"[{color}]{p.message}[/]")
