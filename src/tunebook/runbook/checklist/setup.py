"""Rules for checklist sections 0-2: prerequisites, metrics and splits, baseline config and run."""

from __future__ import annotations

from typing import Any

from tunebook.core.decisions import (
    BaselinePayload,
    BatchSizePayload,
    DataReportPayload,
    MismatchPayload,
    SplitsPayload,
    StepsPayload,
)
from tunebook.core.trial import DecisionRecord
from tunebook.core.usage import train_usage
from tunebook.runbook.checklist.items import (
    Verdict,
    done,
    from_note,
    item,
    not_applicable,
    note_hint,
    todo,
)
from tunebook.runbook.evidence import Evidence

# Optimizers the checklist calls well-established (2.2), as config names.
ESTABLISHED = {"sgd", "momentum", "nesterov", "adam", "adamw", "nadam", "adafactor", "lamb",
               "lion", "rmsprop"}
# The community defaults the checklist asks to start from (everything but lr).
DEFAULTS: dict[str, float] = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "momentum": 0.9}
SIMPLE_SCHEDULES = {"constant", "linear", "cosine", "linear_decay", "cosine_decay"}
# What `tunebook init` writes for the goal and the success criterion: a template to fill in,
# never a statement of the user's business goal.
PLACEHOLDER_GOAL = "TODO: who uses the model, and for what (replace this line)"
PLACEHOLDER_SUCCESS = "TODO: the measurable bar for done, e.g. dev accuracy >= 0.97"


def is_placeholder(text: str) -> bool:
    return text.strip().upper().startswith("TODO") or text.strip() in (PLACEHOLDER_GOAL,
                                                                       PLACEHOLDER_SUCCESS)


SMALL_SIZES = {"tiny", "small", "base", "mini", "s", "xs", "b", "18", "resnet18"}


def _config(ev: Evidence) -> dict[str, Any]:
    return dict(ev.baseline.config if ev.baseline and ev.baseline.config
                else ev.project.baseline.config)


def config_where(ev: Evidence) -> str:
    """Which record the baseline config comes from (a decision, else tunebook.yaml)."""
    b = ev.baseline
    if b is not None:
        return f"{'promotion' if b.promoted else 'baseline'} decision {b.decision_id}"
    return "tunebook.yaml baseline.config"


def logged_by(ev: Evidence, prefix: str = "") -> str:
    """``trials 1, 2, 3`` that recorded metrics (starting with ``prefix``) at their best step."""
    ids = [t.id for t in ev.all_trials if t.status == "completed"
           and any(k.startswith(prefix) for k in t.best_metrics)]
    return "trials " + ", ".join(map(str, ids[:5])) + (" ..." if len(ids) > 5 else "")


def logged_metrics(ev: Evidence) -> set[str]:
    """Metric keys some completed trial recorded at its best step."""
    keys: set[str] = set()
    for t in ev.all_trials:
        if t.status == "completed":
            keys.update(t.best_metrics)
    return keys


# --- 0. Project prerequisites -----------------------------------------------------------------


@item("0.task_type", "Task type is clearly defined (classification / regression / detection / "
      "sequence / other).")
def _task_type(ev: Evidence) -> Verdict:
    return done(f"tunebook.yaml task.type = {ev.project.task.type}", source="spec")


@item("0.business_goal", "Business goal and success criteria are clearly stated.", judgment=True)
def _business_goal(ev: Evidence) -> Verdict:
    task = ev.project.task
    template = [k for k, v in (("goal", task.goal), ("success", task.success))
                if is_placeholder(v)]
    if template:
        return from_note(ev, "0.business_goal") or todo(
            "write the real " + " and ".join(f"task.{k}" for k in template)
            + " in tunebook.yaml", "still the tunebook init template's placeholder",
            "tunebook.yaml task." + " and task.".join(template))
    if task.goal.strip() and task.success.strip():
        return done(f"tunebook.yaml task.goal: {task.goal.strip()}",
                    f"tunebook.yaml task.success: {task.success.strip()}", source="spec")
    return from_note(ev, "0.business_goal") or todo(
        "state task.success in tunebook.yaml (e.g. 'dev accuracy >= 0.97')",
        "the goal is stated but no success criterion" if task.goal.strip() else "no goal")


@item("0.data_cleaning", "Data has basic cleaning (obvious junk / severe outliers handled).",
      judgment=True)
def _data_cleaning(ev: Evidence) -> Verdict:
    noted = from_note(ev, "0.data_cleaning")
    if noted:
        return noted
    d = ev.latest(DataReportPayload)
    if d is not None:
        problems = d.payload.problems
        if not problems:
            return done(f"data report (decision {d.id}): no problems found")
        return todo("fix what the data report lists, then re-run tunebook data report",
                    f"{len(problems)} problems: " + "; ".join(map(str, problems[:3])),
                    f"data report (decision {d.id})")
    return todo("tunebook data report (or " + note_hint("0.data_cleaning",
                                                           "deduplicated; junk rows dropped")
                + ")", "no data report or note recorded")


@item("0.pipeline", "A reusable train + eval pipeline exists (single command / script).")
def _pipeline(ev: Evidence) -> Verdict:
    ok = [t for t in ev.all_trials if t.status == "completed"]
    if ok:
        return done(f"pipeline {ev.project.pipeline}: trial {ok[0].id} of round {ok[0].round} "
                    f"completed", f"{len(ok)} completed trials in the store")
    return todo("tunebook baseline", f"pipeline {ev.project.pipeline} has not completed a trial")


@item("0.multiple_trials", "You can run multiple trials (in parallel or as a queue).")
def _multiple(ev: Evidence) -> Verdict:
    for r in ev.rounds:
        ts = [t for t in ev.trials(r) if t.status == "completed"]
        if len(ts) >= 2:
            workers = sorted({t.worker for t in ts if t.worker})
            return done(f"round {r.name}: {len(ts)} trials completed from one queue",
                        f"workers: {', '.join(workers[:4])}" if workers else "")
    return todo("tunebook round new round.yaml && tunebook round run NAME --workers 2",
                "no round has two completed trials yet")


# --- 1. Metrics & data splits -----------------------------------------------------------------


@item("1.1.metrics", "List all relevant metrics (accuracy, F1, AUC, latency, memory, ...).")
def _metrics(ev: Evidence) -> Verdict:
    keys = sorted(m.key for m in ev.project.metrics)
    return done(f"tunebook.yaml metrics: {', '.join(keys)}", source="spec")


@item("1.1.constraints", "Mark satisficing constraints (must-meet thresholds).", judgment=True)
def _constraints(ev: Evidence) -> Verdict:
    if ev.project.constraints:
        return done("tunebook.yaml constraints: " + "; ".join(ev.project.constraints),
                    source="spec")
    return from_note(ev, "1.1.constraints") or todo(
        "add constraints: to tunebook.yaml (e.g. 'dev/latency_ms <= 20'), or "
        + note_hint("1.1.constraints", "n/a: no latency or memory limit"),
        "no constraint and no note")


def _score_text(ev: Evidence) -> str:
    s = ev.project.score
    return s if isinstance(s, str) else f"{s.formula} ({s.goal})"


@item("1.1.optimizing_metric", "Choose one optimizing metric for model selection.")
def _optimizing(ev: Evidence) -> Verdict:
    return done(f"tunebook.yaml score: {_score_text(ev)}", source="spec")


@item("1.1.score", "Define a single scalar score (the optimizing metric or a simple formula).")
def _score(ev: Evidence) -> Verdict:
    kind = "a metric" if isinstance(ev.project.score, str) else "a formula"
    scored = [t for t in ev.all_trials if t.score is not None]
    return done(f"tunebook.yaml score = {_score_text(ev)} ({kind}, parsed safely)",
                f"{len(scored)} trials scored with it" if scored else "", source="spec")


@item("1.2.splits", "Split data into train, dev (validation) and test.")
def _splits(ev: Evidence) -> Verdict:
    d = ev.latest(SplitsPayload)
    if d is not None:
        counts = d.payload.counts
        return done(f"splits recorded (decision {d.id}): "
                    + ", ".join(f"{k} {v}" for k, v in counts.items()))
    splits = {k.split("/", 1)[0] for k in logged_metrics(ev) if "/" in k}
    need = {"train", "dev", "test"}
    if need <= splits:
        return done(f"{logged_by(ev)} logged metrics on splits: " + ", ".join(sorted(splits)))
    if ev.all_trials:
        return todo("tunebook data split (or log train_*, dev_* and test_* metrics)",
                    "no split on " + ", ".join(sorted(need - splits)))
    return todo("tunebook data split", "no splits recorded and no trial logged yet")


@item("1.2.deployment", "Dev & test are as close as possible to the deployment distribution.",
      judgment=True)
def _deployment(ev: Evidence) -> Verdict:
    noted = from_note(ev, "1.2.deployment")
    if noted:
        return noted
    data = ev.project.data
    split = ev.latest(SplitsPayload)
    if data is not None and data.source and data.deployment and split is not None:
        return done(f"dev and test drawn from rows whose {data.source} is in {data.deployment} "
                    f"(tunebook.yaml data; splits decision {split.id})")
    for d in reversed(ev.decisions_of(MismatchPayload)):
        pair = {d.payload.a, d.payload.b}
        if pair == {"dev", "test"}:
            auc = d.payload.auc
            return done(f"dev vs test domain classifier AUC {auc} (decision {d.id})",
                        detail="dev and test are drawn alike; that they match deployment "
                               "stays a judgment")
    return todo(note_hint("1.2.deployment", "dev and test sampled from recent production "
                                            "traffic") + "; tunebook data mismatch --a dev "
                "--b test checks they match each other", "no note recorded")


@item("1.2.train_dev", "If train differs from deployment: create train-dev and compare "
      "train vs train-dev vs dev/test.")
def _train_dev(ev: Evidence) -> Verdict:
    noted = from_note(ev, "1.2.train_dev")
    if noted:
        return noted
    logged = [k for k in logged_metrics(ev) if k.startswith("train_dev/")]
    if logged:
        return done(f"{logged_by(ev, 'train_dev/')} logged train_dev metrics: "
                    + ", ".join(sorted(logged)))
    if any(m.split == "train_dev" for m in ev.project.metrics):
        return todo("log train_dev metrics in train() (run.log(step, train_dev_accuracy=...))",
                    "a train_dev metric is declared but never logged")
    for d in reversed(ev.decisions_of(MismatchPayload)):
        if {d.payload.a, d.payload.b} == {"train", "dev"}:
            auc = d.payload.auc
            if isinstance(auc, int | float) and auc < 0.6:
                return not_applicable(f"train and dev look alike (domain classifier AUC "
                                      f"{auc:.2f}, decision {d.id})")
    return todo("tunebook data split (with a train_dev split) or "
                + note_hint("1.2.train_dev", "n/a: train is drawn like deployment"),
                "no train_dev split, no mismatch check, no note")


# --- 2. Baseline model & training config --------------------------------------------------------


@item("2.1.family", "Pick a mature model family close to the task (ResNet, ViT, BERT, ...).",
      judgment=True)
def _family(ev: Evidence) -> Verdict:
    arch = ev.project.baseline.architecture
    if arch is not None:
        return done(f"tunebook.yaml baseline.architecture.family = {arch.family}",
                    source="spec")
    return from_note(ev, "2.1.family") or todo(
        "set baseline.architecture in tunebook.yaml (tunebook advise --task task.yaml proposes "
        "one)", "no architecture recorded")


@item("2.1.size", "Start with small / base scale, not the largest model.")
def _size(ev: Evidence) -> Verdict:
    arch = ev.project.baseline.architecture
    if arch is None:
        return todo("set baseline.architecture.size (small or base)", "no architecture recorded")
    if arch.size.lower() in SMALL_SIZES:
        return done(f"tunebook.yaml baseline.architecture.size = {arch.size}", source="spec")
    return from_note(ev, "2.1.size") or todo(
        "start from a small or base size (checklist 2.1), or "
        + note_hint("2.1.size", "large on purpose: ..."), f"size {arch.size!r}")


@item("2.1.version", "Record the architecture version (for later comparison).")
def _version(ev: Evidence) -> Verdict:
    arch = ev.project.baseline.architecture
    if arch is None:
        return todo("set baseline.architecture.version in tunebook.yaml",
                    "no architecture recorded")
    recorded = [d.id for d in ev.decisions_of(BaselinePayload)
                if d.payload.architecture]
    return done(f"{arch.family} version {arch.version}",
                f"stored with baseline decision {recorded[-1]}" if recorded else "",
                source="evidence" if recorded else "spec")


@item("2.2.optimizer", "Use a well-established optimizer (SGD + momentum / Nesterov, AdamW, "
      "Adam, Adafactor).")
def _optimizer(ev: Evidence) -> Verdict:
    u = ev.usage
    if u is not None and u.optimizer is not None:  # what train() built, not what the config says
        name: Any = u.optimizer.name
        where = f"trial {u.trial_id} built {u.optimizer.hparams.get('class', name)}"
    else:
        raw = _config(ev).get("optimizer")
        name = raw.get("name") if isinstance(raw, dict) else raw
        where = f"{config_where(ev)}: optimizer = {name}"
    if name is None:
        return todo("name the optimizer in baseline.config (optimizer: adamw)",
                    "baseline.config has no optimizer key")
    if str(name).lower() in ESTABLISHED:
        return done(where)
    return from_note(ev, "2.2.optimizer") or todo(
        "switch to AdamW or SGD + momentum, or " + note_hint("2.2.optimizer", "why ..."),
        f"optimizer {name!r} is not among the established ones")


@item("2.2.defaults", "Start with community/default hyperparameters (except lr).")
def _defaults(ev: Evidence) -> Verdict:
    u = ev.usage
    if u is not None and u.optimizer is not None:  # the values the optimizer really had
        h = u.optimizer.hparams
        raw_betas = h.get("betas")
        betas: list[Any] = raw_betas if isinstance(raw_betas, list) else [None, None]
        block: dict[str, Any] = {"beta1": betas[0], "beta2": betas[1], "eps": h.get("eps"),
                                 "momentum": h.get("momentum") if h.get("momentum") else None}
        where = f"trial {u.trial_id}'s recorded {u.optimizer.name}"
    else:
        cfg = _config(ev)
        raw = cfg.get("optimizer")
        block = raw if isinstance(raw, dict) else cfg
        where = config_where(ev)
    off = {k: block[k] for k, v in DEFAULTS.items()
           if isinstance(block.get(k), int | float) and abs(float(block[k]) - v) > 1e-12}
    if not off:
        set_ = [k for k in DEFAULTS if block.get(k) is not None]
        return done(f"{where}: optimizer hyperparameters other than lr at their defaults"
                    + (f" ({', '.join(set_)})" if set_ else " (not overridden)"))
    return from_note(ev, "2.2.defaults") or todo(
        "reset " + ", ".join(off) + " to the defaults for the first baseline",
        "changed from the defaults: " + ", ".join(f"{k}={v}" for k, v in off.items()))


@item("2.2.logged", "Log all optimizer hyperparameters (lr, betas, eps, weight decay, ...).")
def _logged(ev: Evidence) -> Verdict:
    t = ev.baseline_trial or next((t for t in ev.all_trials if t.status == "completed"), None)
    if t is None:
        return todo("tunebook baseline", "no trial recorded yet")
    opt = train_usage(t).optimizer
    if opt is None:
        return todo("record them: tk.make_optimizer(params, config, run) or run.watch(optimizer) "
                    "in train()", "no optimizer hyperparameters recorded (the config lists only "
                    "what was set, not the defaults the optimizer used)", f"trial {t.id}")
    how = "tk.make_optimizer" if opt.source == "kit" else "run.watch"
    names = sorted(k for k in opt.hparams if k not in ("class", "param_groups", "ignored"))
    return done(f"trial {t.id} recorded every hyperparameter of its {opt.name} optimizer "
                f"({how}): " + ", ".join(names))


def _batch_scan(ev: Evidence) -> DecisionRecord[BatchSizePayload] | None:
    return ev.latest(BatchSizePayload)


@item("2.3.feasible_range", "Empirically find the feasible batch range (no OOM).")
def _batch_range(ev: Evidence) -> Verdict:
    d = _batch_scan(ev)
    if d is None:
        return todo("tunebook batch-size", "no batch-size scan recorded")
    feasible = d.payload.scan.get("feasible")
    return done(f"batch-size scan (decision {d.id}): feasible up to {feasible}")


@item("2.3.throughput", "Measure throughput (samples/sec) for candidate batch sizes.")
def _throughput(ev: Evidence) -> Verdict:
    d = _batch_scan(ev)
    if d is None:
        return todo("tunebook batch-size", "no throughput measured")
    points = d.payload.scan.get("points") or []
    return done(f"batch-size scan (decision {d.id}): {len(points)} sizes measured")


@item("2.3.choice", "Choose a batch size near where throughput stops scaling well.")
def _batch_choice(ev: Evidence) -> Verdict:
    d = _batch_scan(ev)
    size = _config(ev).get("batch_size")
    if d is None:
        return todo("tunebook batch-size", f"batch_size {size} not checked against a scan")
    knee = d.payload.scan.get("knee")
    if knee is None or size == knee:
        return done(f"batch_size {size}; scan knee {knee} (decision {d.id})")
    return from_note(ev, "2.3.choice") or todo(
        f"set batch_size to {knee} (re-tune lr and steps after) or "
        + note_hint("2.3.choice", "why ..."), f"batch_size {size}, knee {knee}")


@item("2.3.retune", "Changing batch size later requires re-tuning lr, regularization and "
      "training steps.")
def _retune(ev: Evidence) -> Verdict:
    varied = []
    for r in ev.search_rounds:
        params = r.spec.params
        p = params.get("batch_size")
        if p is not None and p.role in ("target", "nuisance"):
            lr = params.get("lr")
            varied.append((r.name, lr is not None and lr.role == "nuisance"))
    if not varied:
        return not_applicable("batch_size has not been changed by any round")
    bad = [n for n, ok in varied if not ok]
    if bad:
        return todo("tune lr as a nuisance hyperparameter in the rounds that vary batch_size",
                    "rounds varying batch_size with a fixed lr: " + ", ".join(bad))
    return done("rounds varying batch_size tune lr with it: " + ", ".join(n for n, _ in varied))


@item("2.4.schedule", "Choose a simple lr schedule (constant / linear decay / cosine decay).")
def _schedule(ev: Evidence) -> Verdict:
    t = ev.baseline_trial or next((t for t in ev.all_trials if t.status == "completed"), None)
    if t is None:
        return todo("tunebook baseline", "no trial recorded yet")
    u = train_usage(t)
    if u.lr is not None and u.lr.changes:
        peak = u.lr.peak or 0.0
        if u.lr.constant:
            return done(f"trial {t.id}: lr constant at {peak:.4g} over {u.lr.steps} optimizer "
                        "steps (recorded each step)")
        if u.schedule is not None and u.schedule.name in SIMPLE_SCHEDULES:
            return done(f"trial {t.id}: {u.schedule.name} schedule (tk.make_schedule), peak "
                        f"{u.schedule.lr:.4g}, warmup {u.schedule.warmup_steps} steps")
        where = ", ".join(f"{v:.3g} from step {s}" for s, v in u.lr.changes[:4])
        more = " ..." if len(u.lr.changes) > 4 else ""
        return from_note(ev, "2.4.schedule") or todo(
            "use constant, linear or cosine decay (tk.make_schedule), or "
            + note_hint("2.4.schedule", "step decay on purpose: ..."),
            "the lr changes in steps, not a constant / linear / cosine schedule",
            f"trial {t.id}'s lr (recorded each step): {where}{more}")
    if u.schedule is not None:
        if u.schedule.name in SIMPLE_SCHEDULES:
            return done(f"trial {t.id}: {u.schedule.name} schedule (tk.make_schedule), peak "
                        f"{u.schedule.lr:.4g}, warmup {u.schedule.warmup_steps} steps")
        return todo("start from constant, linear or cosine decay",
                    f"schedule {u.schedule.name!r}", f"trial {t.id} (tk.make_schedule)")
    return todo("record the lr train() really uses: run.watch(optimizer) or "
                "tk.make_schedule(config, run)",
                "no lr recorded per step, so the schedule is unknown (a config without a "
                "schedule key says nothing about a scheduler inside train())", f"trial {t.id}")


@item("2.4.max_steps", "Set an initial max_train_steps (from experience or small test runs).")
def _max_steps(ev: Evidence) -> Verdict:
    steps = _config(ev).get("max_train_steps")
    d = ev.latest(StepsPayload)
    if steps is None:
        return todo("set baseline.config.max_train_steps (tunebook steps estimates one)",
                    "no max_train_steps in the baseline config")
    return done(f"{config_where(ev)}: max_train_steps = {steps}",
                f"estimated by a probe (decision {d.id}): {d.summary}" if d else "")


def _verdict(ev: Evidence) -> tuple[dict[str, Any] | None, int | None]:
    d = ev.latest(BaselinePayload)
    return (None, None) if d is None else (d.payload.verdict, d.id)


@item("2.4.better_than_chance", "Baseline: the dev metric is clearly better than random.")
def _chance(ev: Evidence) -> Verdict:
    v, did = _verdict(ev)
    if v is None:
        return todo("tunebook baseline", "no baseline run recorded")
    ch = v.get("chance") or {}
    if ch.get("better"):
        floor = max(x for x in (ch.get("majority"), ch.get("uniform"), 0.0) if x is not None)
        return done(f"baseline trial {v.get('trial_id')}: dev {ch.get('model'):.4g} vs chance "
                    f"{floor:.4g} + margin {ch.get('margin'):.3g} (decision {did})")
    return todo("fix the pipeline until the baseline beats chance, then tunebook baseline",
                "; ".join(v.get("problems") or ["chance level unknown"]),
                f"baseline decision {did}")


@item("2.4.stable", "Baseline: training is stable (no frequent NaNs / divergence).")
def _stable(ev: Evidence) -> Verdict:
    v, did = _verdict(ev)
    if v is None:
        return todo("tunebook baseline", "no baseline run recorded")
    if v.get("stable"):
        first, last = v.get("loss_first"), v.get("loss_last")
        fall = f": loss {first:.4g} -> {last:.4g}" if first is not None and last is not None else ""
        return done(f"baseline trial {v.get('trial_id')} stable{fall} (decision {did})")
    return todo("tunebook stability ROUND (warmup, clipping, lower lr)",
                "; ".join(v.get("problems") or ["unstable"]), f"baseline decision {did}")
