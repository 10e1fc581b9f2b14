"""Data commands: ``tunebook data split | report | mismatch``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from tunebook.cli.output import (
    JsonOption,
    ProjectOption,
    StoreOption,
    emit,
    fmt,
    store_at,
)

data_app = typer.Typer(help="Splits, the data report and the train/dev mismatch check.",
                       no_args_is_help=True)


def _dir(project: str) -> Path:
    from tunebook.core.errors import SpecError

    p = Path(project)
    if not p.is_file():
        raise SpecError("--project", "an existing tunebook.yaml", str(p))
    return p.resolve().parent


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")

    @data_app.command("split")
    def split(force: bool = typer.Option(False, help="Re-split although splits are recorded "
                                         "and the data or settings changed."),
              seed: int = typer.Option(None, help="Seed (default: data.seed)."),
              project: str = ProjectOption, store: str = StoreOption,
              as_json: bool = JsonOption) -> None:
        """Split the table in tunebook.yaml's data section into train/train_dev/dev/test."""
        from tunebook.data.project import split_project

        pdir = _dir(project)
        out = split_project(pdir, store=store_at(store, pdir), force=force, seed=seed)
        emit(out, as_json, _render_split)

    @data_app.command("report")
    def report(labels: bool = typer.Option(True, "--label-issues/--no-label-issues",
                                           help="Look for likely label errors (cleanlab)."),
               project: str = ProjectOption, store: str = StoreOption,
               as_json: bool = JsonOption) -> None:
        """Missing values, constant/duplicate columns, duplicates, leakage, outliers, balance."""
        from dataclasses import asdict

        from tunebook.data.report import report_project

        pdir = _dir(project)
        rep = report_project(pdir, label_issues=labels)
        store_at(store, pdir).add_decision(
            "data_report", f"data report: {len(rep.problems)} problems",
            {"problems": rep.problems, "report": asdict(rep)})
        emit({**asdict(rep), "ok": rep.ok}, as_json, _render_report)

    @data_app.command("mismatch")
    def mismatch(a: str = typer.Option("train", "--a", help="First split."),
                 b: str = typer.Option("dev", "--b", help="Second split."),
                 embeddings: Path = typer.Option(None, help=".npy (one row per table row) or "
                                                 "a CSV/Parquet keyed by id, used as features."),
                 seed: int = typer.Option(0),
                 project: str = ProjectOption, store: str = StoreOption,
                 as_json: bool = JsonOption) -> None:
        """How well a classifier tells split A from split B (ROC AUC; 0.5 = same data)."""
        from tunebook.data.mismatch import mismatch_project

        pdir = _dir(project)
        res = mismatch_project(pdir, a, b, embeddings, store=store_at(store, pdir), seed=seed)
        emit(res, as_json, _render_mismatch)


def _render_split(c: Console, d: Any) -> None:
    from tunebook.core.jsonable import to_jsonable

    d = to_jsonable(d)
    c.print(f"splits [bold]{d['status']}[/] from {d['input']['file'] or 'arrays'} "
            f"(sha256 {d['input']['sha256'][:12]}, seed {d['config']['seed']}): {d['path']}")
    t = Table()
    splits = list(d["counts"])
    t.add_column("label")
    for s in splits:
        t.add_column(s, justify="right")
    names = sorted({k for v in d["labels"].values() for k in v})
    for k in names[:30]:
        t.add_row(k, *[str(d["labels"][s].get(k, 0)) for s in splits])
    t.add_row("[bold]all[/]", *[f"[bold]{d['counts'][s]}[/]" for s in splits])
    c.print(t)
    for w in d["warnings"]:
        c.print(f"[yellow]warning:[/] {w}")


def _render_report(c: Console, d: dict[str, Any]) -> None:
    c.print(f"[bold]data report[/]: {d['rows']} rows, {d['columns']} columns, "
            f"{len(d['features'])} features")
    t = Table(title="checks")
    t.add_column("check")
    t.add_column("result")
    dup = d["exact"], d["near"]
    rows = [
        ("missing values", ", ".join(f"{k}: {v}" for k, v in d["missing"].items()) or "none"),
        ("constant columns", ", ".join(d["constant"]) or "none"),
        ("duplicate columns", "; ".join(" = ".join(g) for g in d["duplicate_columns"]) or "none"),
        *[(f"{x['kind']} duplicates", f"{x['rows']} rows in {x['groups']} sets, "
           f"{x['conflicting_labels']} with conflicting labels") for x in dup],
        ("leakage across splits", f"exact {dup[0]['across_splits']}, near "
         f"{dup[1]['across_splits']}, groups {d['group_leaks']}"),
        ("extreme outliers", ", ".join(f"{o['column']}: {o['count']}" for o in d["outliers"]
                                       if not o["heavy_tail"]) or "none"),
        ("class imbalance", "-" if d["imbalance"] is None else
         f"{fmt(d['imbalance']['ratio'])}x ('{d['imbalance']['majority']}' vs "
         f"'{d['imbalance']['minority']}')"),
        ("label issues", d["label_issues"]["reason"] if d["label_issues"]["status"] != "ok"
         else f"{d['label_issues']['count']} of {d['label_issues']['checked_rows']} rows"),
    ]
    for k, v in rows:
        t.add_row(k, v)
    c.print(t)
    if d["labels"]:
        lt = Table(title="labels per split")
        lt.add_column("label")
        for s in d["labels"]:
            lt.add_column(s, justify="right")
        for k in sorted({k for v in d["labels"].values() for k in v})[:30]:
            lt.add_row(k, *[str(d["labels"][s].get(k, 0)) for s in d["labels"]])
        c.print(lt)
    for p in d["problems"]:
        c.print(f"[yellow]- {p}[/]")
    if d["ok"]:
        c.print("[green]no problems found[/]")


def _render_mismatch(c: Console, r: Any) -> None:
    color = {"same distribution": "green", "mild mismatch": "yellow"}.get(r.verdict, "red")
    c.print(f"{r.a} vs {r.b}: domain classifier AUC [bold]{r.auc:.3f}[/] ± {r.auc_std:.3f} "
            f"([{color}]{r.verdict}[/]; {r.n_a} vs {r.n_b} rows, features: {r.features_from})")
    for f in r.top_features:
        c.print(f"  {f['name']}: AUC {f['auc']:.3f} alone")
