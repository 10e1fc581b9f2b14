"""Decide commands: diagnose, errors, promote, stability (checklist 3.3-3.4, 4, 5.2)."""

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
    ThreadsOption,
    emit,
    fmt,
    project_at,
    store_at,
    use_threads,
)
from tunebook.core.errors import SpecError
from tunebook.core.jsonable import to_jsonable

PlotOption = typer.Option(None, "--plot", help="Also draw the result into this PNG file.")
WorkersOption = typer.Option(2, help="Parallel workers for the re-training.")
ExecutorOption = typer.Option("processes", help="inline | processes")


def _with_plot(data: dict[str, Any], plot: Path | None, drawn: Path | None) -> dict[str, Any]:
    if plot is not None and drawn is not None:
        data["plot"] = str(drawn)
    return data


def register(app: typer.Typer) -> None:
    @app.command()
    def diagnose(trial: int = typer.Option(None, "--trial", help="Diagnose this trial."),
                 round_name: str = typer.Option(None, "--round",
                                                help="Diagnose this round's best trial."),
                 metric: str = typer.Option(None, help="Metric read as error on each split "
                                            "(default: the score's metric)."),
                 target: float = typer.Option(None, help="Target error (default: "
                                              "task.target_error)."),
                 plot: Path = PlotOption, project: str = ProjectOption,
                 store: str = StoreOption, as_json: bool = JsonOption) -> None:
        """Bias / variance / mismatch from train, train_dev, dev and test error (default:
        the current baseline)."""
        from tunebook.analysis.diagnose import diagnose_trial
        from tunebook.analysis.selection import pick_trial

        spec, pdir = project_at(project)
        st = store_at(store, pdir)
        result = diagnose_trial(st, spec, pick_trial(st, trial, round_name), metric, target)
        drawn = None
        if plot is not None:
            from tunebook.plots.diagnose import draw_ladder

            drawn = draw_ladder(result, plot)
        emit(_with_plot(to_jsonable(result), plot, drawn), as_json, _render_diagnosis)

    @app.command()
    def errors(name: str = typer.Argument(..., help="The round (its best trial unless --trial)."),
               trial: int = typer.Option(None, "--trial", help="Analyze this trial."),
               sample: int = typer.Option(150, help="Dev errors to sample (100-200)."),
               seed: int = typer.Option(0, help="Sampling seed (same seed, same sample)."),
               export: Path = typer.Option(None, help="Write the sample as CSV for tagging."),
               tags: Path = typer.Option(None, help="Read tags back from a tagged export."),
               metadata: Path = typer.Option(None, help="CSV with an 'id' column and "
                                             "metadata columns to slice by."),
               plot: Path = PlotOption, project: str = ProjectOption,
               store: str = StoreOption, as_json: bool = JsonOption) -> None:
        """Error analysis: sample dev errors, rank categories, list likely label errors."""
        from tunebook.analysis.errors import (
            errors_of_trial,
            export_sample,
            read_metadata,
            read_tags,
        )
        from tunebook.analysis.selection import trial_in_round

        spec, pdir = project_at(project)
        st = store_at(store, pdir)
        tag_map = read_tags(tags) if tags else None
        meta = read_metadata(metadata) if metadata else None
        t = trial_in_round(st, name, trial)
        result = errors_of_trial(st, spec, pdir, t, sample_size=sample, seed=seed,
                                 metadata=meta, tags=tag_map)
        data = to_jsonable(result)
        data["step_note"] = result.step_note  # which model's predictions were read
        if export is not None:
            from tunebook.store.files import atomic_write

            atomic_write(export, export_sample(result).encode())
            data["exported"] = str(export)
        drawn = None
        if plot is not None:
            from tunebook.plots.errors import draw_categories

            drawn = draw_categories(result, plot)
        emit(_with_plot(data, plot, drawn), as_json, _render_errors)

    @app.command()
    def promote(name: str = typer.Argument(..., help="The round whose best trial is the "
                                           "candidate."),
                trial: int = typer.Option(None, "--trial", help="Candidate trial instead."),
                seeds: int = typer.Option(None, help="Seeds per arm (default: "
                                          "promotion.seeds, 5)."),
                workers: int = WorkersOption, executor: str = ExecutorOption,
                plot: Path = PlotOption, project: str = ProjectOption,
                store: str = StoreOption, threads: int = ThreadsOption,
                as_json: bool = JsonOption) -> None:
        """Re-train candidate and baseline over seeds; promote only a gain beyond noise."""
        use_threads(threads)
        from tunebook.analysis.promotion import promote as run_promotion

        spec, pdir = project_at(project)
        st = store_at(store, pdir)
        result = run_promotion(st, spec, pdir, name, trial_id=trial, seeds=seeds,
                               workers=workers, executor=executor, show_progress=not as_json)
        drawn = None
        if plot is not None:
            from tunebook.plots.promotion import draw_seeds

            drawn = draw_seeds(result, plot)
        emit(_with_plot(to_jsonable(result), plot, drawn), as_json, _render_promotion)

    @app.command()
    def stability(name: str = typer.Argument(..., help="The round whose best trial is probed."),
                  trial: int = typer.Option(None, "--trial", help="Probe this trial instead."),
                  lr_factor: float = typer.Option(2.0, help="Probe lr = this x the lr."),
                  probe_steps: int = typer.Option(500, help="Length of the lr probe."),
                  warmups: str = typer.Option("0,10,100,1000", help="Warmup steps to scan "
                                              "(those above 10% of training are dropped)."),
                  workers: int = WorkersOption, executor: str = ExecutorOption,
                  plot: Path = PlotOption, project: str = ProjectOption,
                  store: str = StoreOption, threads: int = ThreadsOption,
                  as_json: bool = JsonOption) -> None:
        """Stability protocol: lr probe, warmup scan, clipping threshold, mitigation order."""
        use_threads(threads)
        from tunebook.analysis.stability import stability as run_stability

        try:
            scan = [int(w) for w in warmups.split(",") if w.strip()]
        except ValueError:
            raise SpecError("--warmups", "comma-separated ints like 0,10,100", warmups) from None
        spec, pdir = project_at(project)
        st = store_at(store, pdir)
        result = run_stability(st, spec, pdir, name, trial_id=trial, lr_factor=lr_factor,
                               probe_steps=probe_steps, warmups=scan, workers=workers,
                               executor=executor, show_progress=not as_json)
        drawn = None
        if plot is not None:
            from tunebook.plots.stability import draw_probes

            drawn = draw_probes(result, plot)
        data = to_jsonable(result)
        for key in ("reference", "probe"):
            if data.get(key):
                data[key].pop("losses", None)
        for w in data["warmup"]:
            w.pop("losses", None)
        emit(_with_plot(data, plot, drawn), as_json, _render_stability)


def _findings(console: Console, findings: list[dict[str, Any]]) -> None:
    colors = {"problem": "red", "warning": "yellow", "info": "cyan"}
    for f in findings:
        c = colors.get(f["severity"], "white")
        console.print(f"[{c}]{f['severity']}[/] {f['message']}", highlight=False)
        console.print(f"    -> {f['action']}", highlight=False)


def _render_diagnosis(console: Console, d: dict[str, Any]) -> None:
    t = Table(title=f"trial {d['trial_id']}: error = {d['rule']}")
    t.add_column("level")
    t.add_column("error", justify="right")
    t.add_column("gap to next", justify="right")
    t.add_column("95% interval", justify="right")
    gaps = d["gaps"]
    ivs = d.get("intervals") or {}
    rows = [("target", d["target"], gaps["avoidable_bias"], "avoidable bias", "avoidable_bias"),
            ("train", d["errors"]["train"], gaps["variance"], "variance", "variance"),
            ("train_dev", d["errors"]["train_dev"], gaps["mismatch"], "mismatch", "mismatch"),
            ("dev", d["errors"]["dev"], gaps["dev_overfit"], "overfitting to dev",
             "dev_overfit"),
            ("test", d["errors"]["test"], None, "", "")]
    for level, err, gap, label, key in rows:
        iv = ivs.get(key) if key else None
        n = (d.get("sizes") or {}).get(level)
        level = f"{level} (n={n})" if n else level
        mark = " <- largest" if label and d["largest"] and label.startswith(
            {"avoidable_bias": "avoidable", "variance": "variance", "mismatch": "mismatch",
             "dev_overfit": "overfitting"}[d["largest"]]) else ""
        t.add_row(level, fmt(err), f"{fmt(gap)} {label}{mark}" if label else "",
                  f"{iv[0]:+.3g} to {iv[1]:+.3g}" if iv else "")
    console.print(t)
    if d.get("mismatch_auc") is not None:
        console.print(f"domain classifier AUC (train vs dev): {fmt(d['mismatch_auc'])}")
    _findings(console, d["findings"])


def _render_errors(console: Console, d: dict[str, Any]) -> None:
    console.print(f"trial {d['trial_id']}: {d['n_errors']} dev errors of {d['n_examples']} "
                  f"(error {fmt(d['dev_error'])}); sample of {d['sample_size']} (seed "
                  f"{d['seed']})")
    console.print(d["step_note"])
    t = Table(title="largest error categories (share of sampled errors)")
    for col in ("dimension", "value", "count", "share", "ceiling", "error rate"):
        t.add_column(col, justify="left" if col in ("dimension", "value") else "right")
    for c in (d["tags"] + d["categories"])[:20]:
        t.add_row(c["dimension"], c["value"], str(c["count"]), f"{c['share']:.0%}",
                  fmt(c["ceiling"]), "-" if c["rate"] is None else f"{c['rate']:.0%}")
    console.print(t)
    if d["suspects"]:
        s = Table(title="likely mislabelled (listed apart)")
        for col in ("id", "label", "prediction", "confidence", "others agree"):
            s.add_column(col)
        for x in d["suspects"][:15]:
            agree = "-" if x["agreement"] is None else f"{x['agreement']:.0%} of {x['others']}"
            s.add_row(x["id"], x["label"], x["prediction"], fmt(x["confidence"]), agree)
        console.print(s)
    if d.get("exported"):
        console.print(f"sample written to {d['exported']}: fill the 'tag' column, then "
                      f"read it back with --tags {d['exported']}")
    _findings(console, d["findings"])


def _render_promotion(console: Console, d: dict[str, Any]) -> None:
    color = "green" if d["promoted"] else "yellow"
    console.print(f"[bold {color}]{d['verdict']}[/]: trial {d['candidate_trial']} of "
                  f"{d['source_round']} vs the baseline (round {d['round']}, decision "
                  f"{d['decision_id']})")
    console.print("  changed: " + ", ".join(f"{k}: {fmt(a)} -> {fmt(b)}"
                                            for k, (a, b) in d["changed"].items()))
    test = d["test"]
    if test:
        console.print(f"  candidate {fmt(test['mean_candidate'])} ± {fmt(test['std_candidate'])}"
                      f"  baseline {fmt(test['mean_baseline'])} ± {fmt(test['std_baseline'])}"
                      f"  ({len(test['candidate'])} vs {len(test['baseline'])} seeds)")
        console.print(f"  gain {fmt(test['gain'])}, {test['confidence']:.0%} interval "
                      f"[{fmt(test['ci_low'])}, {fmt(test['ci_high'])}], p = "
                      f"{fmt(test['p_value'])}, min_gain {fmt(test['min_gain'])}")
    _findings(console, d["findings"])


def _render_stability(console: Console, d: dict[str, Any]) -> None:
    console.print(f"trial {d['trial_id']}: lr {fmt(d['lr'])}, probes in round {d['round']}")
    t = Table(title="probes")
    for col in ("run", "lr", "warmup", "steps", "status", "score", "signals"):
        t.add_column(col)
    runs = [d["reference"], *([d["probe"]] if d["probe"] else []), *d["warmup"]]
    for r in runs:
        signals = [s for s, on in (("diverged", r["diverged"]), ("loss rose", r["rising"]),
                                   ("early blow-up", r["early_blowup"])) if on]
        if r["spikes"]:
            signals.append(f"{len(r['spikes'])} spikes")
        t.add_row(r["label"], fmt(r["lr"]), str(r["warmup_steps"]), str(r["steps"]),
                  r["status"], fmt(r["score"]), ", ".join(signals) or "stable")
    console.print(t)
    _findings(console, d["findings"])
    console.print("mitigation order:")
    for line in d["mitigation_order"]:
        console.print(f"  {line}", highlight=False)
