"""Core commands: demo, init, validate, baseline, round, trials, trial, export, worker."""

from __future__ import annotations

import sys
from importlib import resources
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
    project_at,
    store_at,
    to_jsonable,
)
from tunebook.errors import SpecError
from tunebook.export import trials_payload

round_app = typer.Typer(help="Create, run and inspect rounds (one question each).",
                        no_args_is_help=True)

def _copy_example(dest: Path, force: bool = False) -> list[str]:
    from tunebook.demo import EXAMPLE_FILES

    src = resources.files("tunebook") / "examples" / "digits"
    written = []
    for name in EXAMPLE_FILES:
        target = dest / name
        if target.exists() and not force:
            raise SpecError(str(target), "a file that does not exist yet", "an existing file",
                            "Pass --force to overwrite it.")
        target.write_text((src / name).read_text(encoding="utf-8"), encoding="utf-8")
        written.append(str(target))
    return written


def _trials_table(console: Console, data: dict[str, Any]) -> None:
    record_keys: list[str] = data["columns"]
    table = Table(title=f"round {data['round']} — {data['question']}")
    for col in ["id", *record_keys, "status", "step", data["score_name"], "feas"]:
        # status and scores never wrap or get cut; config values give way first
        table.add_column(col, justify="left" if col == "status" else "right",
                         no_wrap=col in ("id", "status", "feas", data["score_name"]),
                         min_width=9 if col == "status" else 7 if col in record_keys else None)
    for row in data["trials"]:
        cfg = row["config"]
        style = None if row["status"] == "completed" else "dim"
        table.add_row(str(row["id"]), *[fmt(cfg.get(k), 3) for k in record_keys], row["status"],
                      fmt(row["best_step"]), fmt(row["score"]),
                      {True: "yes", False: "no", None: "-"}[row["feasible"]], style=style)
    console.print(table)
    if data.get("best"):
        best = data["best"]
        console.print(f"[bold]best trial {best['id']}[/]: {data['score_name']} = "
                      f"{fmt(best['score'])} at step {best['best_step']}")
        console.print(f"  config: {best['full_config']}")


def register(app: typer.Typer) -> None:
    app.add_typer(round_app, name="round")

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
             force: bool = typer.Option(False, help="Overwrite existing files."),
             as_json: bool = JsonOption) -> None:
        """Write a commented tunebook.yaml, an example train.py and a first round.yaml."""
        directory.mkdir(parents=True, exist_ok=True)
        written = _copy_example(directory, force)
        emit({"written": written}, as_json,
             lambda c, d: c.print("wrote " + ", ".join(d["written"]) +
                                  "\nnext: python prepare.py && tunebook validate round.yaml"))

    @app.command()
    def validate(rounds: list[Path] = typer.Argument(None, help="Round files to check too."),
                 project: str = ProjectOption, as_json: bool = JsonOption) -> None:
        """Check the project (and round files): keys, types, metrics, formula, pipeline."""
        from tunebook.search import make_searcher
        from tunebook.spec import load_pipeline, load_round

        spec, pdir = project_at(project)
        load_pipeline(spec, pdir)
        checked = [project]
        for r in rounds or []:
            rs = load_round(r)
            make_searcher(rs.algorithm, rs.space, rs.seed)
            checked.append(str(r))
        emit({"ok": True, "checked": checked}, as_json,
             lambda c, d: c.print("[green]ok[/]: " + ", ".join(d["checked"])))

    @app.command()
    def baseline(project: str = ProjectOption, store: str = StoreOption,
                 seed: int = typer.Option(None, help="Seed (default: the project's)."),
                 as_json: bool = JsonOption) -> None:
        """Train the baseline config and check it beats chance and trains stably."""
        from tunebook.baseline import run_baseline

        spec, pdir = project_at(project)
        st = store_at(store, pdir)
        verdict = run_baseline(st, spec, pdir, seed=seed, show_progress=not as_json)
        emit(verdict.to_dict(), as_json, _render_baseline)
        if not verdict.ok:
            raise typer.Exit(1)

    @round_app.command("new")
    def round_new(path: Path, project: str = ProjectOption, store: str = StoreOption,
                  as_json: bool = JsonOption) -> None:
        """Record a round from its YAML file and queue its trials."""
        from tunebook.rounds import create_round, progress
        from tunebook.spec import load_pipeline, load_round

        spec, pdir = project_at(project)
        rs = load_round(path)
        load_pipeline(spec, pdir)
        st = store_at(store, pdir)
        rec = create_round(st, spec, rs)
        pr = progress(st, rec)
        emit({"round": rec.name, "id": rec.id, "question": rec.question, "total": pr.total,
              "counts": pr.counts}, as_json,
             lambda c, d: c.print(f"round [bold]{d['round']}[/] created: {d['total']} trials "
                                  f"({d['counts']}). Next: tunebook round run {d['round']}"))

    @round_app.command("run")
    def round_run(name: str, workers: int = typer.Option(2, help="Parallel workers."),
                  executor: str = typer.Option("processes", help="inline | processes | ray"),
                  threads: int = typer.Option(None, help="Torch threads per worker "
                                              "(default: cores / workers)."),
                  fidelity: bool = typer.Option(False, "--fidelity", help="Short-then-long: "
                                                "stage 1 trains every config at --fraction of "
                                                "max_train_steps, the best --keep go on to full "
                                                "length (before any trial has started)."),
                  stages: int = typer.Option(None, help="With --fidelity: 1-3 stages [2]."),
                  fraction: float = typer.Option(None, help="With --fidelity: stage 1's share "
                                                 "of max_train_steps, in (0, 1] [0.2]."),
                  keep: float = typer.Option(None, help="With --fidelity: share of a stage "
                                             "promoted to the next, in (0, 1] [0.25]."),
                  seeds: int = typer.Option(None, help="Then re-run the best config of each "
                                            "target value with K more seeds."),
                  trial: int = typer.Option(None, "--trial", help="With --seeds: re-run this "
                                            "trial instead of the best ones."),
                  project: str = ProjectOption, store: str = StoreOption,
                  as_json: bool = JsonOption) -> None:
        """Run a round's queued trials to the end with N workers."""
        from dataclasses import asdict

        from tunebook.cli.round_render import render_run
        from tunebook.execute import run_round
        from tunebook.fidelity import from_flags, report, set_fidelity
        from tunebook.rounds import specs
        from tunebook.seeds import check_k, parents, run_seeds

        _, pdir = project_at(project)
        st = store_at(store, pdir)
        rec = st.round(name)
        # Every flag is checked before anything trains.
        if seeds is not None:
            check_k(seeds)
        if trial is not None:
            if seeds is None:
                raise SpecError("--trial", "--seeds K as well (it names the trial to re-run)",
                                trial)
            parents(st, rec, trial)  # of this round, completed, full length, not a re-run
        if fidelity or stages is not None or fraction is not None or keep is not None:
            rec = set_fidelity(st, rec, from_flags(specs(rec)[1].fidelity, stages, fraction,
                                                   keep))
        counts = run_round(st, name, pdir, workers=workers, executor=executor, threads=threads,
                           show_progress=not as_json)
        spread = None
        if seeds is not None:
            spread = [asdict(s) for s in run_seeds(
                st, name, pdir, seeds, trial, workers=workers, executor=executor,
                threads=threads, show_progress=not as_json)]
            counts = st.counts(rec.id)
        payload = trials_payload(st, st.round(name), limit=20)
        payload["counts"] = counts
        if rec.spec.get("fidelity"):
            payload["fidelity"] = asdict(report(st, rec))
        if spread is not None:
            payload["seeds"] = spread
        emit(payload, as_json, render_run)

    @round_app.command("rescore")
    def round_rescore(name: str,
                      score: str = typer.Option(None, help="A metric (dev/loss) or a formula of "
                                                "metrics written split_name."),
                      goal: str = typer.Option(None, help="max | min (needed for a formula)."),
                      constraint: list[str] = typer.Option(None, "--constraint", help="A "
                                                           "constraint such as 'dev/loss <= 1'"
                                                           " (repeat; replaces the project's)."),
                      no_constraints: bool = typer.Option(False, "--no-constraints",
                                                          help="Drop the project's constraints."),
                      record: bool = typer.Option(False, "--record", help="Keep the result as a "
                                                  "decision (stored scores never change)."),
                      project: str = ProjectOption, store: str = StoreOption,
                      as_json: bool = JsonOption) -> None:
        """Best steps and bests per target value under another score, without training."""
        from tunebook.cli.round_render import render_rescore
        from tunebook.rescore import rescore

        if score is None and not constraint and not no_constraints:
            raise SpecError("--score", "a score, --constraint or --no-constraints to rescore by",
                            None)
        _, pdir = project_at(project)
        st = store_at(store, pdir)
        cons = [] if no_constraints else (list(constraint) if constraint else None)
        result = rescore(st, st.round(name), score, goal, cons, record_decision=record)
        emit(result.to_dict(), as_json, render_rescore)

    @round_app.command("plan")
    def round_plan(round_ref: str = typer.Argument(..., metavar="NAME|FILE",
                                                   help="A round in the store or a round file."),
                   hours: float = typer.Option(None, help="Compute budget in hours."),
                   workers: int = typer.Option(1, help="Trials that run at a time."),
                   timing_steps: int = typer.Option(50, help="Steps of the timing run (when "
                                                    "no finished trial gives a step time)."),
                   project: str = ProjectOption, store: str = StoreOption,
                   as_json: bool = JsonOption) -> None:
        """Compute the round needs, trials the budget allows, and too-few-trials warnings."""
        from tunebook.cli.round_render import render_plan
        from tunebook.plan import check_args, plan_round
        from tunebook.rounds import specs
        from tunebook.spec import load_round

        check_args(hours, workers, timing_steps)
        spec, pdir = project_at(project)
        st = store_at(store, pdir)
        if Path(round_ref).is_file():
            rs = load_round(round_ref)
        else:
            spec, rs = specs(st.round(round_ref))
        emit(to_jsonable(plan_round(st, spec, pdir, rs, hours, workers, timing_steps,
                                    show_progress=not as_json)), as_json, render_plan)

    @app.command("steps")
    def steps_cmd(probe_steps: int = typer.Option(None, help="Length of the constant-lr probe "
                                                  "(default: the baseline's max_train_steps)."),
                  within: float = typer.Option(0.05, help="Gap to the fitted asymptote left, "
                                               "as a share of the gap at the start."),
                  metric: str = typer.Option("train/loss", help="The training metric to fit."),
                  project: str = ProjectOption, store: str = StoreOption,
                  as_json: bool = JsonOption) -> None:
        """Estimate an initial max_train_steps from a short constant-lr probe."""
        from tunebook.cli.round_render import render_steps
        from tunebook.steps import check_within, run_probe

        check_within(within)
        spec, pdir = project_at(project)
        st = store_at(store, pdir)
        emit(to_jsonable(run_probe(st, spec, pdir, probe_steps, within, metric,
                                   show_progress=not as_json)), as_json, render_steps)

    @round_app.command("status")
    def round_status(name: str, project: str = ProjectOption, store: str = StoreOption,
                     as_json: bool = JsonOption) -> None:
        """Counts by status and the best trial per target value."""
        from tunebook.rounds import best_trials, progress

        _, pdir = project_at(project)
        st = store_at(store, pdir)
        rec = st.round(name)
        pr = progress(st, rec)
        best = best_trials(st, rec)
        data = {"round": rec.name, "question": rec.question, "total": pr.total,
                "finished": pr.finished, "counts": pr.counts, "done": pr.done,
                "best_per_target": [{"group": t.group, "trial": t.id, "score": t.score,
                                     "best_step": t.best_step} for t in best.values()]}
        emit(data, as_json, _render_status)

    @round_app.command("list")
    def round_list(project: str = ProjectOption, store: str = StoreOption,
                   as_json: bool = JsonOption) -> None:
        """Every round in the store."""
        from tunebook.rounds import progress

        _, pdir = project_at(project)
        st = store_at(store, pdir)
        rows = []
        for r in st.rounds():
            pr = progress(st, r)
            rows.append({"name": r.name, "kind": r.kind, "question": r.question,
                         "total": pr.total, "finished": pr.finished, "counts": pr.counts})

        def render(c: Console, d: list[dict[str, Any]]) -> None:
            t = Table(title="rounds")
            for col in ("name", "kind", "finished", "question"):
                t.add_column(col)
            for r in d:
                t.add_row(r["name"], r["kind"], f"{r['finished']}/{r['total']}", r["question"])
            c.print(t)

        emit(rows, as_json, render)

    @app.command()
    def trials(name: str, status: str = typer.Option(None, help="Only this status."),
               limit: int = typer.Option(None, help="At most this many rows, best first."),
               project: str = ProjectOption, store: str = StoreOption,
               as_json: bool = JsonOption) -> None:
        """The trials of a round, best first: config, status, best step, score."""
        _, pdir = project_at(project)
        st = store_at(store, pdir)
        emit(trials_payload(st, st.round(name), limit=limit, status=status), as_json,
             _trials_table)

    @app.command()
    def trial(trial_id: int, curve: bool = typer.Option(False, help="Include the full curve."),
              project: str = ProjectOption, store: str = StoreOption,
              as_json: bool = JsonOption) -> None:
        """One trial: config, status, best step and metrics there, artifacts, error."""
        _, pdir = project_at(project)
        st = store_at(store, pdir)
        t = st.trial(trial_id)
        data: dict[str, Any] = t.to_dict()
        data["artifacts"] = [a.__dict__ for a in st.artifacts(trial_id)]
        if curve:
            data["curve"] = st.curve(trial_id)
        emit(data, as_json, _render_trial)

    @app.command()
    def export(name: str, format: str = typer.Option("csv", "--format", help="csv | json"),
               out: Path = typer.Option(None, help="File to write (default: stdout)."),
               project: str = ProjectOption, store: str = StoreOption) -> None:
        """Dump a round's trials (config, status, best step, score, best metrics)."""
        from tunebook.export import export_round

        if format not in ("csv", "json"):
            raise SpecError("--format", "csv or json", format)
        _, pdir = project_at(project)
        st = store_at(store, pdir)
        text = export_round(st, st.round(name), format)
        if out:
            from tunebook.artifacts import atomic_write

            atomic_write(out, text.encode())
        else:
            sys.stdout.write(text)

    @app.command()
    def worker(round_name: str = typer.Option(..., "--round", help="The round to work on."),
               project: str = ProjectOption, store: str = StoreOption,
               threads: int = typer.Option(None, help="Torch threads for this worker."),
               as_json: bool = JsonOption) -> None:
        """Pull and run trials of a round until it is done (run one per host or GPU)."""
        from tunebook.execute import worker_loop

        _, pdir = project_at(project)
        st = store_at(store, pdir)
        n = worker_loop(st.url, round_name, str(pdir), threads=threads)
        emit({"round": round_name, "trials_run": n}, as_json,
             lambda c, d: c.print(f"worker ran {d['trials_run']} trials of {d['round']}"))


def _render_demo(console: Console, data: dict[str, Any]) -> None:
    _render_baseline(console, data["baseline"])
    _trials_table(console, data["trials"])
    for row in data["answer"]:
        console.print(f"  best for {row['group']}: {fmt(row['score'])} (trial {row['trial']})")
    if data.get("checklist") is not None:
        from tunebook.cli.output import to_jsonable
        from tunebook.cli.runbook import render_checklist

        render_checklist(console, to_jsonable(data["checklist"]), compact=True)
    if data.get("report"):
        console.print(f"\nproject report: [bold]{data['report']}[/] (open it in a browser)")
    console.print(f"\nproject in {data['directory']} (store: {data['store']}); "
                  f"took {data['seconds']:.0f} s. Try: cd {data['directory']} && "
                  f"tunebook trials {data['trials']['round']}")


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


def _render_status(console: Console, d: dict[str, Any]) -> None:
    console.print(f"round [bold]{d['round']}[/]: {d['question']}")
    console.print(f"  {d['finished']}/{d['total']} finished  {d['counts']}")
    for b in d["best_per_target"]:
        console.print(f"  best for {b['group'] or 'the round'}: {fmt(b['score'])} "
                      f"(trial {b['trial']}, step {b['best_step']})")


def _render_trial(console: Console, d: dict[str, Any]) -> None:
    console.print(f"trial [bold]{d['id']}[/] of round {d['round']} — {d['status']}")
    for k in ("config", "seed", "best_step", "score", "feasible", "best_metrics", "attempts",
              "worker", "duration"):
        val = d.get(k) if k != "duration" else None
        console.print(f"  {k}: {val}")
    for a in d["artifacts"]:
        console.print(f"  artifact {a['kind']} step {a['step']}: {a['path']} ({a['sha256'][:12]})")
    if d.get("error"):
        console.print(f"  [red]error[/]:\n{d['error']}")


