"""Tables for the round commands (cli/rounds.py) and the trials table they share with core."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from tunebook.cli.output import fmt


def render_run(console: Console, data: dict[str, Any]) -> None:
    trials_table(console, data)
    fid = data.get("fidelity")
    if fid:
        stage_lines(console, fid)
    for s in data.get("seeds") or []:
        console.print(f"  seeds of trial {s['parent']} {s['group'] or ''}: n={len(s['scores'])} "
                      f"mean {fmt(s['mean'])} std {fmt(s['std'])} spread {fmt(s['spread'])}"
                      + (f"  [red]{', '.join(s['failed'])}[/]" if s["failed"] else ""))


def stage_lines(console: Console, fid: dict[str, Any]) -> None:
    """Each stage of a short-then-long round (``rounds.fidelity.report``) and its compute."""
    mode = fid.get("promotion", "synchronous")
    planned = "planned" if mode == "synchronous" else "synchronous count"
    for s in fid["stages"]:
        console.print(f"  stage {s['stage']} at {s['fraction']:.3g} of max_train_steps: "
                      f"{s['completed']}/{s['trials']} completed ({planned} {s['planned']}), "
                      f"{s['steps']} steps" + (f", {mode} promotion" if s["stage"] > 1
                                               and mode != "synchronous" else ""))
    if fid.get("share") is not None:
        console.print(f"  compute: {fid['steps_spent']} steps, {fid['share']:.0%} of "
                      f"training every config at full length ({fid['steps_all_full']})")


def render_rescore(console: Console, d: dict[str, Any]) -> None:
    old, new = d["old"], d["new"]
    console.print(f"round [bold]{d['round']}[/] rescored: {new['formula']} ({new['goal']}"
                  + (f"; {', '.join(new['constraints'])}" if new["constraints"] else "")
                  + f") instead of {old['formula']} ({old['goal']}"
                  + (f"; {', '.join(old['constraints'])}" if old["constraints"] else "") + ")")
    t = Table(title="best trial per target value")
    for col in ("target", "old best", "old score", "new best", "new score", "changed"):
        t.add_column(col)
    for a in d["answers"]:
        t.add_row(str(a["group"] or "-"), fmt(a["old_trial"]), fmt(a["old_score"]),
                  fmt(a["new_trial"]), fmt(a["new_score"]), "yes" if a["changed"] else "no")
    console.print(t)
    console.print(f"  rank agreement (Spearman): {fmt(d['rank_agreement'])}; stored scores "
                  "unchanged" + (f"; recorded as decision {d['decision_id']}"
                                 if d["decision_id"] else " (--record to keep this as a decision)"))
    for n in d["notes"]:
        console.print(f"  [yellow]{n}[/]")


def render_plan(console: Console, d: dict[str, Any]) -> None:
    st = d["step_time"]
    console.print(f"round [bold]{d['round']}[/]: {d['target_values']} target value(s) x "
                  f"{d['budget']} trials, {len(d['nuisance'])} nuisance hyperparameter(s) "
                  f"{d['nuisance']}, max_train_steps {d['max_train_steps']}"
                  + (f", fidelity {d['fidelity']}" if d["fidelity"] else ""))
    console.print(f"  step time {fmt(st['per_step'])} s (+{fmt(st['overhead'])} s a trial) "
                  f"from {st['source']}")
    console.print(f"  needs {fmt(d['round_seconds'] / 3600)} h of compute, "
                  f"{fmt(d['wall_seconds'] / 3600)} h with {d['workers']} worker(s)")
    if d["hours"] is not None:
        console.print(f"  {d['hours']:g} h afford {d['affordable_per_target']} trials per "
                      f"target value" + ("" if d["fits"] else " [red](the round does not fit)[/]"))
    console.print(f"  rule: {d['rule']} -> {d['min_per_target']} here")
    search = d.get("search") or []
    same = all(s["phases"] == search[0]["phases"] for s in search)
    for s in search[:1] if same else search:  # the same for every target value: say it once
        steps = ", ".join(f"{p['first']}-{p['last']} {p['phase']}" for p in s["phases"])
        who = "" if same else f" for {s['group']}"
        console.print(f"  search ({s['algorithm']}){who}: trials {steps} (per target value)")
    for w in d["warnings"]:
        console.print(f"  [yellow]warning:[/] {w}")


def render_steps(console: Console, d: dict[str, Any]) -> None:
    fit = d["fit"]
    console.print(f"[bold]initial max_train_steps: {d['recommended']}[/] (probe trial "
                  f"{d['trial_id']} of round {d['round']}: {d['probe_steps']} steps at constant "
                  "lr)")
    if fit:
        article = "an" if fit["model"] == "exponential" else "a"
        console.print(f"  {d['metric']} fitted by {article} {fit['model']} curve, asymptote "
                      f"{fmt(fit['asymptote'])} (rmse {fmt(fit['rmse'])}); within "
                      f"{d['within']:g} of it at step {d['steps_needed']}")
    for n in d["notes"]:
        console.print(f"  [yellow]{n}[/]")
    console.print(f"  set baseline.config.max_train_steps: {d['recommended']} in tunebook.yaml")


def trials_table(console: Console, data: dict[str, Any]) -> None:
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
