"""Rules for checklist sections 5-7: training length, stability, engineering, the agent runbook."""

from __future__ import annotations

from tunebook.core.clipping import CLIP_KEY
from tunebook.core.decisions import (
    BaselinePayload,
    InputProfilePayload,
    StabilityPayload,
    StepsPayload,
)
from tunebook.runbook.checklist.items import (
    ITEMS,
    Verdict,
    done,
    from_note,
    item,
    not_applicable,
    note_hint,
    todo,
)
from tunebook.runbook.evidence import Evidence
from tunebook.store import redact

# --- 5. Training length & stability -------------------------------------------------------------


def _fidelity_rounds(ev: Evidence) -> list[str]:
    return [r.name for r in ev.search_rounds if r.spec.fidelity]


@item("5.1.regime", "Decide the regime: compute-bound or not compute-bound.", judgment=True)
def _regime(ev: Evidence) -> Verdict:
    noted = from_note(ev, "5.1.regime")
    if noted:
        return noted
    staged = _fidelity_rounds(ev)
    if staged:
        return done("compute-bound: short-then-long rounds " + ", ".join(staged))
    d = ev.latest(StepsPayload)
    if d is not None:
        return done(f"not compute-bound: max_train_steps from a constant-lr probe (decision "
                    f"{d.id})")
    return todo(note_hint("5.1.regime", "not compute-bound: a trial takes minutes"),
                "no regime recorded")


@item("5.1.steps", "Estimate max_train_steps (constant-lr probe), or plan short-then-long "
      "rounds when compute-bound.")
def _steps(ev: Evidence) -> Verdict:
    d = ev.latest(StepsPayload)
    if d is not None:
        return done(f"decision {d.id}: {d.summary}")
    staged = _fidelity_rounds(ev)
    if staged:
        return done("short-then-long rounds: " + ", ".join(staged))
    return todo("tunebook steps (or a round with fidelity: for short-then-long runs)",
                "max_train_steps not checked by a probe")


@item("5.2.check", "Check for instability: slightly larger lr -> NaNs? gradient-norm spikes? "
      "early loss blow-up?")
def _stability(ev: Evidence) -> Verdict:
    d = ev.latest(StabilityPayload)
    if d is not None:
        return done(f"decision {d.id}: {d.summary}")
    r = ev.latest_search_round
    return todo(f"tunebook stability {r.name if r else 'ROUND'}", "no stability check recorded")


@item("5.2.mitigation", "Mitigate in order: lr warmup, gradient clipping, architecture "
      "hygiene, lower peak lr.")
def _mitigation(ev: Evidence) -> Verdict:
    d = ev.latest(StabilityPayload)
    if d is None:
        r = ev.latest_search_round
        return todo(f"tunebook stability {r.name if r else 'ROUND'}",
                    "no stability check recorded")
    if not d.payload.probe_unstable:
        return not_applicable(f"the lr probe stayed stable (decision {d.id})")
    cfg = ev.baseline.config if ev.baseline else {}
    # A key train() never reads mitigates nothing, whatever its value.
    used = [k for k in ("warmup_steps", CLIP_KEY) if cfg.get(k) and not ev.ignored(k)]
    if used:
        return done("baseline config mitigates: " + ", ".join(f"{k}={cfg[k]}" for k in used),
                    f"stability decision {d.id}")
    warm, clip = d.payload.recommended_warmup, d.payload.clip_threshold
    steps: list[str] = []
    if ev.ignored("warmup_steps") or d.payload.warmup_ignored:
        steps.append("add a schedule with warmup to train() first (tk.make_schedule reads "
                     "warmup_steps), then tunebook stability again")
    elif warm is not None:
        steps.append(f"add warmup_steps={warm} to the config")
    if clip is not None:
        steps.append(f"add {CLIP_KEY}={clip:.4g} to the config" + (
            " (and read it in train(): tk.clip_gradients)" if ev.ignored(CLIP_KEY) else ""))
    if not steps:
        steps.append("no warmup kept training stable: lower the peak lr")
    return todo("; ".join(steps) + ", then promote it",
                "the lr probe was unstable and the baseline has no warmup or clipping that "
                "train() applies", f"stability decision {d.id}")


# --- 6. Engineering & reproducibility -----------------------------------------------------------


@item("6.1.input_bound", "Use a profiler to check whether training is I/O-bound.")
def _input(ev: Evidence) -> Verdict:
    d = ev.latest(InputProfilePayload)
    if d is not None:
        return done(f"decision {d.id}: {d.summary}")
    return from_note(ev, "6.1.input_bound") or todo("tunebook profile-input",
                                                    "no input-pipeline profile recorded")


@item("6.2.eval_steps", "Evaluate periodically at fixed step intervals (eval batch >= train "
      "batch).")
def _eval_steps(ev: Evidence) -> Verdict:
    every = ev.project.eval_every
    t = ev.baseline_trial or next((t for t in ev.all_trials if t.status == "completed"), None)
    if t is None:
        return todo("tunebook baseline", f"eval_every = {every}, no trial yet")
    curve = ev.store.curve(t.id)
    dev = sorted(s for s, v in curve.items() if any(k.startswith("dev/") for k in v))
    off = [s for s in dev if s % every]
    if not dev:
        return todo("log dev metrics when run.should_eval(step)", f"trial {t.id} logged none")
    text = f"trial {t.id}: dev metrics at {len(dev)} steps, every {every}"
    if len(off) > 1:  # the best-checkpoint re-log at the end may fall off the grid
        return todo("evaluate when run.should_eval(step) is true", text,
                    f"off-grid steps: {off[:5]}")
    return done(f"eval_every = {every}", text)


@item("6.2.checkpoints", "Save checkpoints regularly; select the best dev checkpoint "
      "retrospectively.")
def _checkpoints(ev: Evidence) -> Verdict:
    arts = ev.store.artifacts(kind="checkpoint")
    best = [t for t in ev.all_trials if t.best_step is not None]
    if not arts:
        return todo("call run.save_checkpoint(step, state) in train()",
                    "no checkpoint artifact recorded",
                    f"{len(best)} trials have a best step" if best else "")
    return done(f"{len(arts)} checkpoints with sha256 (latest: trial {arts[-1].trial_id}, "
                f"step {arts[-1].step})", f"{len(best)} trials with a retrospective best step")


@item("6.2.curves_predictions", "Save training curves and some per-example predictions.")
def _saved(ev: Evidence) -> Verdict:
    preds = ev.store.artifacts(kind="predictions")
    curves = [t for t in ev.all_trials if t.best_metrics]
    if not curves:
        return todo("tunebook baseline", "no curve recorded")
    if not preds:
        return todo("call run.save_predictions(ids, labels, predictions, confidence)",
                    f"{len(curves)} trials have curves, none saved predictions")
    return done(f"{len(curves)} trials with curves",
                f"{len(preds)} prediction files (latest: trial {preds[-1].trial_id})")


@item("6.3.study_record", "For each study record its id, target/nuisance definitions, search "
      "space and algorithm, each trial's config and best dev metric, best checkpoint id.")
def _study(ev: Evidence) -> Verdict:
    if not ev.search_rounds:
        return todo("tunebook round new round.yaml", "no study (search round) recorded")
    r = ev.latest_search_round
    assert r is not None
    best = ev.best_trial(r)
    ckpt = [a for a in ev.store.artifacts(best.id, "checkpoint")] if best else []
    return done(f"{len(ev.search_rounds)} rounds stored with their spec (roles, spaces, "
                "algorithm) and every trial's config and best score",
                f"round {r.name}: best trial {best.id}, checkpoint artifact "
                f"{ckpt[-1].id if ckpt else 'none'}" if best else "")


@item("6.3.shared_tracking", "Use a shared tracking system, not ad-hoc notes.")
def _tracking(ev: Evidence) -> Verdict:
    url = redact(ev.store.url)
    kind = "PostgreSQL (shared by a team)" if ev.store.dialect == "postgresql" else \
        "SQLite file (one host; use postgresql:// to share)"
    return done(f"study store {url}: {kind}", f"{len(ev.rounds)} rounds, "
                f"{len(ev.all_trials)} trials, {len(ev.decisions)} decisions")


@item("6.4.seeds", "Initialization seed is controlled; shuffle seeds are separate but tracked.")
def _seed(ev: Evidence) -> Verdict:
    ts = [t for t in ev.all_trials if t.status == "completed"]
    if not ts:
        return todo("tunebook baseline", "no trial recorded")
    split = [t for t in ts if "init_seed" in t.meta and (
        "data_seed" in t.meta or "shuffle_seeds" in t.meta)]
    return done(f"trials {ts[0].id}-{ts[-1].id} store their seeds ({len(ts)} completed)",
                f"{len(split)} trials record separate init/data seeds" if split else "",
                detail="" if split else "derive the shuffle seed from run.seed (e.g. seed + 1) "
                "and record it, as the PyTorch kit does")


@item("6.4.multi_host", "Multi-host training: one writer, synchronized BN statistics, data "
      "sharded across devices.", judgment=True)
def _multi(ev: Evidence) -> Verdict:
    noted = from_note(ev, "6.4.multi_host")
    if noted:
        return noted
    multi = [t for t in ev.all_trials if int(t.meta.get("world_size") or 1) > 1]
    if multi:
        t = multi[-1]
        seeded = "shuffle_seeds" in t.meta and "init_seed" in t.meta
        text = (f"trial {t.id} trained on {t.meta['world_size']} ranks; rank 0 recorded the "
                "shared init seed and per-rank shuffle seeds")
        if seeded:
            return done(text, f"{len(multi)} multi-rank trials",
                        detail="BN synchronisation and sharding: tunebook.pytorch.distributed")
        return todo("use tunebook.pytorch.distributed (main_only, rank_seeds, shard, "
                    "sync_batchnorm) in train()", f"trial {t.id} ran on several ranks without "
                    "recorded per-rank seeds")
    hosts = sorted({(t.worker or "").split(":")[0] for t in ev.all_trials if t.worker})
    return not_applicable("each trial trains on one device; tunebook workers run whole trials",
                          f"worker hosts: {', '.join(hosts)}" if hosts else "")


# --- 7. The runbook for an LLM / agent ----------------------------------------------------------


def _all(ev: Evidence, ids: tuple[str, ...], what: str) -> Verdict:
    verdicts = [(i, ITEMS[i].rule(ev)) for i in ids]
    open_ = [(i, v) for i, v in verdicts if v.status == "not_done"]
    if open_:
        i, v = open_[0]
        return todo(v.next or f"see {i}", f"{what}: {i} is not done", *v.evidence[:1])
    return done(f"{what}: " + ", ".join(f"{i} {v.status.replace('_', ' ')}"
                                        for i, v in verdicts))


@item("7.1", "Parse the task description: task type and business goal.")
def _r1(ev: Evidence) -> Verdict:
    return _all(ev, ("0.task_type", "0.business_goal"), "task")


@item("7.2", "Check / propose a single scalar metric, constraints and data splits.")
def _r2(ev: Evidence) -> Verdict:
    return _all(ev, ("1.1.score", "1.1.constraints", "1.2.splits"), "metric and splits")


@item("7.3", "If no baseline: propose architecture family + size, optimizer, batch size, "
      "schedule and training steps.")
def _r3(ev: Evidence) -> Verdict:
    d = ev.latest(BaselinePayload)
    if d is None:
        return todo("tunebook advise --task task.yaml, then tunebook baseline",
                    "no baseline recorded")
    return done(f"baseline recorded (decision {d.id}); config: "
                + ", ".join(f"{k}={v}" for k, v in list(d.payload.config.items())[:6]))


@item("7.4", "Identify the current bottleneck (bias / variance / mismatch / stability / data).")
def _r4(ev: Evidence) -> Verdict:
    return _all(ev, ("3.3.diagnosis",), "bottleneck")


@item("7.5", "Define one main goal for this round.")
def _r5(ev: Evidence) -> Verdict:
    return _all(ev, ("3.1.one_question", "3.1.one_target"), "round goal")


@item("7.6", "Classify hyperparameters (target / nuisance / fixed), define search spaces and "
      "the trial budget.")
def _r6(ev: Evidence) -> Verdict:
    return _all(ev, ("3.2.roles", "3.2.spaces", "3.2.budget"), "study design")


@item("7.7", "Output concrete trial configs suitable for automated launch.")
def _r7(ev: Evidence) -> Verdict:
    r = ev.latest_search_round
    if r is None:
        return todo("tunebook advise --write round.yaml && tunebook round new round.yaml",
                    "no round queued")
    return done(f"round {r.name}: {len(ev.trials(r))} concrete configs queued in the store")


@item("7.8", "After results: boundary check, training-curve analysis, bias/variance/mismatch "
      "diagnosis, error analysis.")
def _r8(ev: Evidence) -> Verdict:
    return _all(ev, ("3.3.axis_plots", "3.3.training_curves", "3.3.diagnosis",
                     "3.3.error_analysis"), "analysis")


@item("7.9", "Decide whether to update the baseline; propose the next round's main goal.")
def _r9(ev: Evidence) -> Verdict:
    v = _all(ev, ("3.4.decision",), "baseline update")
    if v.status != "done":
        return v
    return done(*v.evidence, "next round: tunebook advise")
