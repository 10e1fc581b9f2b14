"""Round commands: round new / run / rescore / plan / status / list, and steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from tunebook.cli.output import (
    JsonOption,
    NoProgressTimeoutOption,
    ProjectOption,
    StoreOption,
    ThreadsOption,
    TrialTimeoutOption,
    check_trials,
    emit,
    fmt,
    project_handle,
    to_jsonable,
    use_threads,
)
from tunebook.core.errors import SpecError, WorkFailed

round_app = typer.Typer(help="Create, run and inspect rounds (one question each).",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(round_app, name="round")

    @round_app.command("new")
    def round_new(path: Path, project: str = ProjectOption, store: str = StoreOption,
                  as_json: bool = JsonOption) -> None:
        """Record a round from its YAML file and queue its trials."""
        proj = project_handle(project, store)
        rnd = proj.new_round(path)
        rec, pr = rnd.record, rnd.progress()
        emit({"round": rec.name, "id": rec.id, "question": rec.question, "total": pr.total,
              "counts": pr.counts}, as_json,
             lambda c, d: c.print(f"round [bold]{d['round']}[/] created: {d['total']} trials "
                                  f"({d['counts']}). Next: tunebook round run {d['round']}"))

    @round_app.command("run")
    def round_run(name: str, workers: int = typer.Option(2, help="Parallel workers."),
                  executor: str = typer.Option("processes", help="inline | processes | ray"),
                  threads: int = typer.Option(None, help="CPU threads per trial (default: "
                                              "$OMP_NUM_THREADS, else cores / workers)."),
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
                  trial_timeout: float = TrialTimeoutOption,
                  no_progress_timeout: float = NoProgressTimeoutOption,
                  gpus: str = typer.Option(None, "--gpus", help="GPUs to spread the workers "
                                           "over, each seeing only its own: all, a count, or "
                                           "ids 0,1,3."),
                  gpus_per_trial: float = typer.Option(None, "--gpus-per-trial",
                                                       help="GPUs per trial (a fraction such "
                                                       "as 0.5 packs trials) [1]."),
                  project: str = ProjectOption, store: str = StoreOption,
                  as_json: bool = JsonOption) -> None:
        """Run a round's queued trials to the end with N workers."""
        from dataclasses import asdict

        from tunebook.cli.round_render import render_run

        rnd = project_handle(project, store).round(name)
        flags = fidelity or stages is not None or fraction is not None or keep is not None
        done = rnd.run(workers, executor, threads, fidelity=(stages, fraction, keep) if flags
                       else None, seeds=seeds, trial=trial, show_progress=not as_json,
                       gpus=gpus, gpus_per_trial=gpus_per_trial, trial_timeout=trial_timeout,
                       no_progress_timeout=no_progress_timeout)
        payload = rnd.table(limit=20)
        payload["counts"] = done.counts
        if done.fidelity is not None:
            payload["fidelity"] = asdict(done.fidelity)
        if done.seeds is not None:
            payload["seeds"] = [asdict(s) for s in done.seeds]
        if done.failed:
            payload["failed"] = done.failed
        emit(payload, as_json, render_run)
        if done.failed:  # every trial failed: exit 1 with the first failure's reason
            raise WorkFailed(done.failed)
        check_trials(done.counts, name)  # exit 1 when a trial failed or some were left unfinished

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

        if score is None and not constraint and not no_constraints:
            raise SpecError("--score", "a score, --constraint or --no-constraints to rescore by",
                            None)
        rnd = project_handle(project, store).round(name)
        cons = [] if no_constraints else (list(constraint) if constraint else None)
        emit(rnd.rescore(score, goal, cons, record).to_dict(), as_json, render_rescore)

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
        from tunebook.experiments.plan import check_args

        check_args(hours, workers, timing_steps)
        proj = project_handle(project, store)
        emit(to_jsonable(proj.plan(round_ref, hours, workers, timing_steps,
                                   show_progress=not as_json)), as_json, render_plan)

    @app.command("steps")
    def steps_cmd(probe_steps: int = typer.Option(None, help="Length of the constant-lr probe "
                                                  "(default: the baseline's max_train_steps)."),
                  within: float = typer.Option(0.05, help="Gap to the fitted asymptote left, "
                                               "as a share of the gap at the start."),
                  metric: str = typer.Option("train/loss", help="The training metric to fit."),
                  project: str = ProjectOption, store: str = StoreOption,
                  threads: int = ThreadsOption, as_json: bool = JsonOption) -> None:
        """Estimate an initial max_train_steps from a short constant-lr probe."""
        use_threads(threads)
        from tunebook.cli.round_render import render_steps
        from tunebook.experiments.steps import check_within

        check_within(within)
        proj = project_handle(project, store)
        emit(to_jsonable(proj.steps(probe_steps, within, metric, show_progress=not as_json)),
             as_json, render_steps)

    @round_app.command("status")
    def round_status(name: str, project: str = ProjectOption, store: str = StoreOption,
                     as_json: bool = JsonOption) -> None:
        """Counts by status and the best trial per target value."""
        st = project_handle(project, store).round(name).status()
        pr = st.progress
        data = {"round": st.round, "question": st.question, "total": pr.total,
                "finished": pr.finished, "counts": pr.counts, "done": pr.done,
                "best_per_target": [{"group": t.group, "trial": t.id, "score": t.score,
                                     "best_step": t.best_step} for t in st.best]}
        if st.fidelity is not None:  # each stage (rung) so far
            from dataclasses import asdict

            data["fidelity"] = asdict(st.fidelity)
        emit(data, as_json, _render_status)

    @round_app.command("list")
    def round_list(project: str = ProjectOption, store: str = StoreOption,
                   as_json: bool = JsonOption) -> None:
        """Every round in the store."""
        rows = []
        for rnd in project_handle(project, store).rounds():
            r, pr = rnd.record, rnd.progress()
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


def _render_status(console: Console, d: dict[str, Any]) -> None:
    console.print(f"round [bold]{d['round']}[/]: {d['question']}")
    console.print(f"  {d['finished']}/{d['total']} finished  {d['counts']}")
    for b in d["best_per_target"]:
        console.print(f"  best for {b['group'] or 'the round'}: {fmt(b['score'])} "
                      f"(trial {b['trial']}, step {b['best_step']})")
    if d.get("fidelity"):
        from tunebook.cli.round_render import stage_lines

        stage_lines(console, d["fidelity"])

