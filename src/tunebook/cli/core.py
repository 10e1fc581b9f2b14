"""Core commands: demo, init, validate, baseline, gc, trials, trial, export, worker."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from tunebook.cli.output import (
    JsonOption,
    NoProgressTimeoutOption,
    ProjectOption,
    StoreOption,
    ThreadsOption,
    TrialTimeoutOption,
    emit,
    fmt,
    project_handle,
    to_jsonable,
    use_threads,
)
from tunebook.cli.round_render import trials_table
from tunebook.core.errors import SpecError, WorkFailed


def _copy_example(dest: Path, force: bool = False) -> list[str]:
    """``tunebook init``'s files (kept for callers of the old helper): see tunebook.scaffold."""
    from tunebook.scaffold import run_init

    return [str(dest / name) for name in run_init(dest, force).write]


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(directory: Path = typer.Option(Path("tunebook-demo"), "--dir",
                                            help="Folder to write the demo project into."),
             workers: int = typer.Option(2, help="Parallel worker processes."),
             as_json: bool = JsonOption) -> None:
        """Write the digits project, make splits, run the baseline and a 16-trial round."""
        from tunebook.demo import run_demo

        result = run_demo(directory, workers=workers, show_progress=not as_json)
        emit(result, as_json, _render_demo)

    @app.command()
    def init(directory: Path = typer.Option(Path("."), "--dir"),
             force: bool = typer.Option(False, help="Replace tunebook.yaml and round.yaml "
                                        "(never your code)."),
             as_json: bool = JsonOption) -> None:
        """Start a project: the digits example in an empty folder; beside your code, only
        tunebook.yaml (running your script) and round.yaml. Never writes your files."""
        from tunebook.scaffold import run_init

        plan = run_init(directory, force)
        emit({"mode": plan.mode, "written": [str(directory / n) for n in plan.write],
              "replaced": list(plan.existing), "untouched": list(plan.user_files),
              "script": plan.script}, as_json, _render_init)

    @app.command()
    def validate(rounds: list[Path] = typer.Argument(None, help="Round files to check too."),
                 project: str = ProjectOption, as_json: bool = JsonOption) -> None:
        """Check the project (and round files): keys, types, metrics, formula, pipeline."""
        project_handle(project, None).validate(rounds or [])
        checked = [project, *(str(r) for r in rounds or [])]
        emit({"ok": True, "checked": checked}, as_json,
             lambda c, d: c.print("[green]ok[/]: " + ", ".join(d["checked"])))

    @app.command()
    def baseline(project: str = ProjectOption, store: str = StoreOption,
                 seed: int = typer.Option(None, help="Seed (default: the project's)."),
                 threads: int = ThreadsOption, as_json: bool = JsonOption) -> None:
        """Train the baseline config and check it beats chance and trains stably."""
        use_threads(threads)
        verdict = project_handle(project, store).baseline(seed=seed, show_progress=not as_json)
        emit(verdict.to_dict(), as_json, _render_baseline)
        if not verdict.ok:  # the work failed: exit 1 with one line (plain and --json)
            raise WorkFailed("the baseline needs attention: "
                             + ("; ".join(verdict.problems) or "see the checks above"))


    @app.command()
    def gc(keep_best: int = typer.Option(None, "--keep-best", help="Checkpoints each trial of "
                                         "a finished round keeps (default: the project's "
                                         "checkpoints.keep_best)."),
           dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be freed; "
                                        "remove nothing."),
           project: str = ProjectOption, store: str = StoreOption,
           as_json: bool = JsonOption) -> None:
        """Free checkpoint space from finished rounds (never the baseline's or a promoted
        config's checkpoints)."""
        result = project_handle(project, store).gc(keep_best=keep_best, dry_run=dry_run)
        emit(to_jsonable(result), as_json, _render_gc)

    @app.command()
    def trials(name: str, status: str = typer.Option(None, help="Only this status."),
               limit: int = typer.Option(None, help="At most this many rows, best first."),
               project: str = ProjectOption, store: str = StoreOption,
               as_json: bool = JsonOption) -> None:
        """The trials of a round, best first: config, status, best step, score."""
        emit(project_handle(project, store).round(name).table(limit=limit, status=status),
             as_json, trials_table)

    @app.command()
    def trial(trial_id: int, curve: bool = typer.Option(False, help="Include the full curve."),
              project: str = ProjectOption, store: str = StoreOption,
              as_json: bool = JsonOption) -> None:
        """One trial: config, status, best step and metrics there, artifacts, error."""
        st = project_handle(project, store).store
        t = st.trial(trial_id)
        data: dict[str, Any] = t.to_dict()
        data["artifacts"] = [a.__dict__ for a in st.artifacts(trial_id)]
        if curve:
            data["curve"] = st.curve(trial_id)
        emit(data, as_json, _render_trial)

    @app.command()
    def export(name: str,
               where: str = typer.Argument(None, help="With --to: the storage URL, tracking "
                                           "URI or folder to write to."),
               format: str = typer.Option("csv", "--format", help="csv | json"),
               out: Path = typer.Option(None, help="File to write (default: stdout)."),
               to: str = typer.Option(None, "--to", help="optuna | mlflow | tensorboard"),
               study: str = typer.Option(None, "--study", help="The Optuna study or MLflow "
                                         "experiment name (default: the round's name)."),
               project: str = ProjectOption, store: str = StoreOption,
               as_json: bool = JsonOption) -> None:
        """Dump a round's trials (CSV/JSON), or export it to Optuna, MLflow or TensorBoard."""
        if format not in ("csv", "json"):
            raise SpecError("--format", "csv or json", format)
        proj = project_handle(project, store)
        if to is not None:
            from tunebook.cli.interop import render_export
            from tunebook.interop.export import export_to

            emit(export_to(proj.store, name, to, where, study), as_json, render_export)
            return
        text = proj.round(name).export(format)
        if out:
            from tunebook.store.files import atomic_write

            atomic_write(out, text.encode())
        else:
            sys.stdout.write(text)

    @app.command()
    def worker(round_name: str = typer.Option(..., "--round", help="The round to work on."),
               project: str = ProjectOption, store: str = StoreOption,
               threads: int = typer.Option(None, help="Torch threads for this worker."),
               trial_timeout: float = TrialTimeoutOption,
               no_progress_timeout: float = NoProgressTimeoutOption,
               gpu: str = typer.Option(None, "--gpu", help="The GPU this worker (and its "
                                       "trials) may use, e.g. 1 (sets CUDA_VISIBLE_DEVICES)."),
               as_json: bool = JsonOption) -> None:
        """Pull and run trials of a round until it is done (run one per host or GPU)."""
        n = project_handle(project, store).work(round_name, threads=threads, gpu=gpu,
                                                trial_timeout=trial_timeout,
                                                no_progress_timeout=no_progress_timeout)
        emit({"round": round_name, "trials_run": n}, as_json,
             lambda c, d: c.print(f"worker ran {d['trials_run']} trials of {d['round']}"))


def _render_init(console: Console, d: dict[str, Any]) -> None:
    console.print("wrote " + ", ".join(d["written"]))
    if d["mode"] == "beside-code":
        console.print(f"your code is untouched ({', '.join(d['untouched'])}); tunebook.yaml runs "
                      f"[bold]python {d['script']}[/]: edit its EDIT lines, add "
                      "`from tunebook import report` to the script, then "
                      "tunebook validate round.yaml")
    else:
        console.print("next: python prepare.py && tunebook validate round.yaml")


def _render_demo(console: Console, data: dict[str, Any]) -> None:
    _render_baseline(console, data["baseline"])
    trials_table(console, data["trials"])
    for row in data["answer"]:
        console.print(f"  best for {row['group']}: {fmt(row['score'])} (trial {row['trial']})")
    if data.get("checklist") is not None:
        from tunebook.cli.runbook import render_checklist
        from tunebook.core.jsonable import to_jsonable

        render_checklist(console, to_jsonable(data["checklist"]), compact=True)
    if data.get("report"):
        console.print(f"\nproject report: [bold]{data['report']}[/] (open it in a browser)")
    console.print(f"\nproject in {data['directory']} (store: {data['store']}); "
                  f"took {data['seconds']:.0f} s. Try: cd {data['directory']} && "
                  f"tunebook trials {data['trials']['round']}")


def _render_gc(console: Console, d: dict[str, Any]) -> None:
    verb = "would free" if d["dry_run"] else "freed"
    mb = d["bytes_freed"] / 2**20
    console.print(f"{verb} {mb:.1f} MiB: {len(d['dropped'])} checkpoints beyond the best "
                  f"{d['keep_best']} per trial, {len(d['orphans'])} orphan files, in "
                  f"{len(d['rounds'])} finished rounds")
    if d["protected_trials"]:
        console.print("kept whole (baseline, promoted): trials "
                      + ", ".join(map(str, d["protected_trials"][:12])))
    if d["skipped_rounds"]:
        console.print("not finished, left alone: " + ", ".join(d["skipped_rounds"]))


def _render_baseline(console: Console, v: dict[str, Any]) -> None:
    mark = "[green]ok[/]" if v["ok"] else "[red]needs attention[/]"
    console.print(f"[bold]baseline[/] trial {v['trial_id']}: {mark}  score {fmt(v['score'])} "
                  f"at step {v['best_step']}")
    ch = v.get("chance")
    if ch and ch["kind"] == "classification":
        console.print(f"  dev accuracy {fmt(ch['model'])} vs chance: majority "
                      f"{fmt(ch['majority'])}, uniform {fmt(ch['uniform'])} "
                      f"(margin {fmt(ch['margin'])})")
    elif ch:
        console.print(f"  dev R^2 {fmt(ch['model'])} vs the mean predictor (0)")
    console.print(f"  training loss {fmt(v['loss_first'])} -> {fmt(v['loss_last'])}; "
                  f"stable: {v['stable']}")
    for p in v["problems"]:
        console.print(f"  [yellow]- {p}[/]")



def _render_trial(console: Console, d: dict[str, Any]) -> None:
    console.print(f"trial [bold]{d['id']}[/] of round {d['round']} — {d['status']}")
    for k in ("config", "seed", "best_step", "score", "feasible", "best_metrics", "attempts",
              "worker", "duration"):
        val = d.get(k) if k != "duration" else None
        console.print(f"  {k}: {val}")
    for a in d["artifacts"]:
        console.print(f"  artifact {a['kind']} step {a['step']}: {a['path']} ({a['sha256'][:12]})")
    from tunebook.workers.repro import Provenance

    meta = d.get("meta") or {}
    prov = Provenance.of(meta)
    if prov is not None:
        console.print("  [bold]reproduce[/]")
        for line in prov.lines(meta.get("command")):
            console.print(f"    {line}", markup=False, highlight=False)
    if d.get("error"):
        console.print(f"  [red]error[/]:\n{d['error']}")


