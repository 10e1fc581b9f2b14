"""The ``analyze`` command: the reading of a round, its findings and its plots."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from tunebook.cli.output import JsonOption, ProjectOption, StoreOption, emit, fmt
from tunebook.core.errors import SpecError

_STYLE = {"problem": "bold red", "warning": "yellow", "info": "cyan"}


def register(app: typer.Typer) -> None:
    @app.command()
    def analyze(
        name: str = typer.Argument(..., help="The round to analyse."),
        top: int = typer.Option(5, "--top", help="How many of the best trials the boundary "
                                "check and the curve diagnosis read."),
        metric: str = typer.Option(None, "--metric", help="Judge trials by the best value of "
                                   "this metric (e.g. dev/loss) instead of the score."),
        target: str = typer.Option(None, "--target", help="Isolate this hyperparameter "
                                   "(default: the round's target; continuous ones are "
                                   "bucketed)."),
        buckets: int = typer.Option(5, "--buckets", help="Buckets for a continuous --target."),
        importance: str = typer.Option("fanova", "--importance",
                                       help="fanova | ped_anova | permutation | none"),
        no_plots: bool = typer.Option(False, "--no-plots", help="Do not write PNG plots."),
        project: str = ProjectOption, store: str = StoreOption, as_json: bool = JsonOption,
    ) -> None:
        """Read a round: axes, boundaries, divergence, isolation, curves, importance, actions.

        Writes axes.png, isolation.png and curves.png under .tunebook/reports/NAME/.
        """
        from tunebook.analysis.overview import analyze_round
        from tunebook.core.jsonable import to_jsonable
        from tunebook.store import open_store

        pdir = Path(project).resolve().parent
        default = pdir / ".tunebook" / "store.db"
        if not store and not os.environ.get("TUNEBOOK_STORE") and not default.exists():
            # Opening would create an empty store: say where we looked instead.
            raise SpecError("--store", "an existing store (.tunebook/store.db next to the "
                            "project file, or --store URL)", str(default),
                            "Run the round first (tunebook round new ROUND.yaml; tunebook round "
                            "run NAME), or point -p/--store at the project's store.")
        st = open_store(store, pdir)
        method = None if importance == "none" else importance
        with _status(as_json, f"analysing round {name}"):
            result = analyze_round(st, name, top=top, metric=metric, target=target,
                                   buckets=buckets, importance_method=method)
            plots: dict[str, str] = {}
            if not no_plots:
                from tunebook.plots import draw_round

                plots = draw_round(result, pdir / ".tunebook" / "reports" / result.round)
        data: dict[str, Any] = to_jsonable(result)
        data["plots"] = plots
        emit(data, as_json, _render)


class _status:
    """A Rich spinner while the analysis runs (nothing with --json)."""

    def __init__(self, quiet: bool, text: str) -> None:
        self.quiet, self.text = quiet, text
        self._s: Any = None

    def __enter__(self) -> None:
        if not self.quiet:
            from tunebook.cli.output import err_console

            self._s = err_console.status(self.text)
            self._s.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self._s is not None:
            self._s.__exit__(*exc)


def _render(console: Console, d: dict[str, Any]) -> None:
    counts = "  ".join(f"{s}={n}" for s, n in sorted(d["counts"].items()))
    console.print(f"[bold]round {d['round']}[/] — {d['question']}")
    console.print(f"  trials: {counts}; judged by {d['value_name']} ({d['goal']})")
    console.print(f"\n[bold]answer[/]: {d['answer']}", highlight=False)
    # The answer's finding is printed with the answer, not again among the findings.
    said = [f for f in d["findings"] if f["code"] == "isolation_answer"]
    for f in said:
        console.print(f"  [dim]->[/] {f['action']}", highlight=False)
    rest = [f for f in d["findings"] if f["code"] != "isolation_answer"]
    iso = d.get("isolation")
    if iso:
        t = Table(title=f"isolation of {', '.join(iso['target'])}", title_justify="left")
        for col in ("value", "best", "trial", "median", "usable/trials", "diverged", "failed",
                    "seeds"):
            t.add_column(col, justify="left" if col == "value" else "right")
        for v in iso["values"]:
            sp = v["spread"] or {}
            seeds = "-" if v["seed_mean"] is None else \
                f"{fmt(v['seed_mean'])} ± {fmt(v['seed_std'], 2)} (n={v['seeds']})"
            t.add_row(v["label"], fmt(v["best"]), fmt(v["best_trial"]), fmt(sp.get("median")),
                      f"{v['usable']}/{v['trials']}", str(v["diverged"]), str(v["failed"]),
                      seeds)
        console.print(t)
    imp = d.get("importance")
    if imp and imp["shares"]:
        console.print(f"[bold]importance[/] ({imp['method']}, {imp['trials']} trials): " +
                      ", ".join(f"{k} {v:.0%}" for k, v in imp["shares"].items()))
    elif imp and imp["skipped"]:
        console.print(f"[bold]importance[/]: not computed ({imp['skipped']})")
    console.print(f"\n[bold]findings[/] ({len(rest)})")
    for f in rest:
        style = _STYLE.get(f["severity"], "")
        console.print(f"[{style}]{f['severity']:>7}[/] [bold]{f['code']}[/]: {f['message']}",
                      highlight=False)
        console.print(f"          [dim]->[/] {f['action']}", highlight=False)
    if not rest:
        console.print("  nothing to report")
    for k, path in d["plots"].items():
        console.print(f"[dim]{k} plot:[/] {path}")
