"""Rules for checklist sections 3-4: the tuning loop of a round, diagnosis and decisions."""

from __future__ import annotations

from tunebook.analysis.diagnose import Diagnosis
from tunebook.analysis.findings import Finding
from tunebook.analysis.overview import RoundAnalysis
from tunebook.core.decisions import DataReportPayload, PromotionPayload
from tunebook.core.space import Param
from tunebook.core.trial import RoundRecord
from tunebook.experiments.plan import min_trials
from tunebook.runbook.checklist.items import (
    Verdict,
    done,
    from_note,
    item,
    not_applicable,
    note_hint,
    todo,
)
from tunebook.runbook.evidence import (
    Evidence,
    Missing,
    confirmed_suspects,
    label_alarm,
)

AXIS_CODES = ("boundary", "edge_best", "stability_bound", "divergence_scattered", "target_edge")
CURVE_CODES = ("overfitting", "early_saturation", "still_improving", "instability",
               "best_step_early", "best_step_late", "no_train_loss", "periodic_loss",
               "eval_glitch")


def _latest(ev: Evidence) -> RoundRecord | None:
    return ev.latest_search_round


def _params(r: RoundRecord) -> dict[str, Param]:
    return dict(r.spec.params)


def _roles(r: RoundRecord) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"target": [], "nuisance": [], "fixed": []}
    for name, p in _params(r).items():
        out[p.role].append(name)
    return out


def _range(name: str, p: Param) -> str:
    """A nuisance hyperparameter's search space as one phrase (a range, or its choices)."""
    if p.kind == "choice":
        return f"{name} in {p.choices}"
    return f"{name} [{p.low:g}, {p.high:g}] {p.scale}"


def findings_of(reading: RoundAnalysis, codes: tuple[str, ...] | None = None) -> list[Finding]:
    return [f for f in reading.findings if codes is None or f.code in codes]


def _no_round() -> Verdict:
    return todo("tunebook advise (proposes a round) then tunebook round new round.yaml",
                "no search round yet")


# --- 3.1-3.2 -----------------------------------------------------------------------------------


@item("3.1.one_question", "Specify one primary question for this round.")
def _question(ev: Evidence) -> Verdict:
    r = _latest(ev)
    if r is None:
        return _no_round()
    return done(f"round {r.name}: {r.question}",
                f"{len(ev.search_rounds)} search rounds, each with its question")


@item("3.1.one_target", "Avoid solving multiple big questions in one round.")
def _one_target(ev: Evidence) -> Verdict:
    if not ev.search_rounds:
        return _no_round()
    many = [f"{r.name} ({', '.join(_roles(r)['target'])})" for r in ev.search_rounds
            if len(_roles(r)["target"]) > 1]
    if many:
        return from_note(ev, "3.1.one_target") or todo(
            "split the round into one round per target hyperparameter, or "
            + note_hint("3.1.one_target", "the targets answer one question because ..."),
            "rounds with several target hyperparameters: " + "; ".join(many))
    return done("every search round has at most one target hyperparameter")


@item("3.2.roles", "Classify hyperparameters: target, nuisance, fixed.")
def _roles_item(ev: Evidence) -> Verdict:
    r = _latest(ev)
    if r is None:
        return _no_round()
    roles = _roles(r)
    text = "; ".join(f"{k}: {', '.join(v)}" for k, v in roles.items() if v)
    if not _params(r):
        return todo("declare params with roles in the round file", f"round {r.name} has none")
    return done(f"round {r.name}: {text}")


@item("3.2.spaces", "Define search spaces (bounds + linear/log scale) for all tuned "
      "hyperparameters.")
def _spaces(ev: Evidence) -> Verdict:
    r = _latest(ev)
    if r is None:
        return _no_round()
    tuned = {n: p for n, p in _params(r).items() if p.role == "nuisance"}
    if not tuned:
        return not_applicable(f"round {r.name} tunes no nuisance hyperparameter")
    return done(f"round {r.name}: " + "; ".join(_range(n, p) for n, p in tuned.items()))


@item("3.2.algorithm", "Choose the search algorithm (exploration: quasi-random; "
      "exploitation: Bayesian).")
def _algorithm(ev: Evidence) -> Verdict:
    r = _latest(ev)
    if r is None:
        return _no_round()
    algo = r.spec.algorithm
    use = {"quasi_random": "exploration", "random": "exploration", "bayesian": "exploitation",
           "explore_exploit": "exploration, then exploitation"}.get(algo, "custom searcher")
    return done(f"round {r.name}: {algo} ({use})")


@item("3.2.budget", "Decide the number of trials: several per target value, reasonable "
      "coverage.")
def _budget(ev: Evidence) -> Verdict:
    r = _latest(ev)
    if r is None:
        return _no_round()
    budget = r.spec.budget
    nuisance = len(_roles(r)["nuisance"])
    if budget < 2:
        return todo(f"give round {r.name} at least 2 trials per target value",
                    f"budget {budget}")
    text = f"round {r.name}: {budget} trials per target value"
    need = min_trials(nuisance)
    if budget >= need:
        return done(f"{text} (>= {need}, tunebook round plan's rule for {nuisance} nuisance "
                    "hyperparameters)")
    return done(text, detail=f"below the {need} that tunebook round plan suggests for "
                f"{nuisance} nuisance hyperparameters (a 90% chance that one trial lands in the "
                f"good corner); see tunebook round plan {r.name}")


# --- 3.3 -----------------------------------------------------------------------------------------


@item("3.3.recorded", "For each trial record the full config, train & dev curves, best dev "
      "metric and its step.")
def _recorded(ev: Evidence) -> Verdict:
    r = _latest(ev)
    if r is None:
        return _no_round()
    ts = [t for t in ev.trials(r) if t.status == "completed"]
    if not ts:
        return todo(f"tunebook round run {r.name}", "no completed trial")
    with_best = [t for t in ts if t.best_step is not None]
    curve = ev.store.curve(ts[0].id)
    metrics = sorted({k for v in curve.values() for k in v})
    return done(f"round {r.name}: {len(with_best)}/{len(ts)} completed trials with best step "
                "and score", f"trial {ts[0].id}: {len(curve)} curve steps of "
                + ", ".join(metrics[:6]))


def _analysis(ev: Evidence) -> tuple[RoundRecord, RoundAnalysis] | Verdict:
    """The latest round and its analysis, or the verdict saying what to run first."""
    r = _latest(ev)
    if r is None:
        return _no_round()
    a = ev.analysis(r)
    if isinstance(a, Missing):
        return todo(a.command, a.message)
    return r, a


@item("3.3.axis_plots", "Hyperparameter axis plots: best points at the boundary (expand the "
      "range)? many divergent points?")
def _axes(ev: Evidence) -> Verdict:
    read = _analysis(ev)
    if isinstance(read, Verdict):
        return read
    r, a = read
    found = findings_of(a, AXIS_CODES)
    # A best trial at an edge, confirmed or not, is never "no best point at a boundary".
    boundary = [f for f in found if f.code in ("boundary", "edge_best")]
    if boundary:
        return todo(boundary[0].action, "; ".join(f.message for f in boundary),
                    f"tunebook analyze {r.name}")
    return done(f"tunebook analyze {r.name}: no best point at a boundary",
                *[f.message for f in found])


@item("3.3.training_curves", "Training curves of the top trials: overfitting, early "
      "saturation, instabilities?")
def _curves(ev: Evidence) -> Verdict:
    read = _analysis(ev)
    if isinstance(read, Verdict):
        return read
    r, a = read
    found = findings_of(a, CURVE_CODES)
    return done(f"tunebook analyze {r.name}: curves of the top trials checked",
                *[f"{f.code}: {f.message}" for f in found],
                detail="" if found else "no overfitting, saturation or instability found")


def _diagnosis(ev: Evidence) -> Diagnosis | Missing:
    return ev.diagnosis(ev.baseline_trial)


@item("3.3.diagnosis", "Diagnose the error structure: high bias / high variance / data "
      "mismatch.")
def _diagnose(ev: Evidence) -> Verdict:
    d = _diagnosis(ev)
    if isinstance(d, Missing):
        return todo(d.command, d.message)
    gaps = ", ".join(f"{k} {v:.3g}" for k, v in d.gaps.items() if v is not None)
    largest = d.largest or "none (every gap within tolerance)"
    return done(f"tunebook diagnose (trial {d.trial_id}): largest gap {largest}",
                f"gaps: {gaps}" if gaps else "")


@item("3.3.error_analysis", "Error analysis: sample 100-200 dev errors, categorize them, find "
      "the largest and most actionable types.")
def _errors(ev: Evidence) -> Verdict:
    e = ev.error_analysis(ev.baseline_trial)
    if isinstance(e, Missing):
        return todo(e.command, e.message)
    top = e.categories[0] if e.categories else None
    tagged = f"; {e.n_tagged} errors tagged by hand" if e.n_tagged else ""
    return done(f"tunebook errors (trial {e.trial_id}): {min(e.sample_size, e.n_errors)} of "
                f"{e.n_errors} dev errors sampled{tagged}",
                f"largest category: {top.dimension} {top.value} ({top.share:.0%})"
                if top else "")


# --- 3.4 -----------------------------------------------------------------------------------------


@item("3.4.seeds", "Re-train the best new config and the old baseline with several seeds.")
def _seeds(ev: Evidence) -> Verdict:
    promos = ev.decisions_of(PromotionPayload)
    if promos:
        d = promos[-1]
        n = {arm: len(v) for arm, v in d.payload.seed_trials.items()}
        return done(f"promotion check (decision {d.id}): seeds per arm {n or '?'}")
    seeded = [t for t in ev.all_trials if t.kind == "seed"]
    if seeded:
        return done(f"{len(seeded)} seed re-runs recorded (round {seeded[-1].round})")
    r = _latest(ev)
    return todo(f"tunebook promote {r.name}" if r else "tunebook promote ROUND",
                "no seed re-runs recorded")


@item("3.4.decision", "Promote the new config only if the gain beats seed variance; else keep "
      "the baseline and record it as interesting.")
def _decision(ev: Evidence) -> Verdict:
    promos = ev.decisions_of(PromotionPayload)
    r = _latest(ev)
    judged = {d.payload.round for d in promos}
    if r is not None and r.name not in judged and ev.best_trial(r) is not None:
        return todo(f"tunebook promote {r.name}",
                    f"round {r.name} has results but no promotion decision",
                    *[f"decision {d.id}: {d.summary}" for d in promos[-2:]])
    if promos:
        return done(*[f"decision {d.id}: {d.summary}" for d in promos[-3:]])
    return todo("tunebook promote ROUND", "no promotion decision recorded") if r else _no_round()


# --- 4. Diagnosis & improvement decisions --------------------------------------------------------


@item("4.1.act_on_diagnosis", "Act on the diagnosis: bias -> bigger model / train longer; "
      "variance -> data / regularization; mismatch -> closer training data.")
def _act(ev: Evidence) -> Verdict:
    d = _diagnosis(ev)
    if isinstance(d, Missing):
        return todo(d.command, d.message)
    if d.largest is None:
        return not_applicable(f"no gap stands out on trial {d.trial_id}")
    action = next((f.action for f in d.findings if f.action), "")
    later = [r for r in ev.search_rounds
             if ev.baseline_trial is not None and r.created_at > _created(ev)]
    if later:
        return done(f"tunebook diagnose (trial {d.trial_id}): largest gap {d.largest}; "
                    "rounds since the baseline: "
                    + ", ".join(r.name for r in later), detail=action)
    return todo("tunebook advise (proposes the round that addresses it)",
                f"largest gap {d.largest}: {action}")


def _created(ev: Evidence) -> float:
    t = ev.baseline_trial
    return float(t.finished_at or t.created_at or 0.0) if t else 0.0


@item("4.2.dev_test_labels", "If dev/test have significant label errors, clean them first.",
      judgment=True)
def _dev_labels(ev: Evidence) -> Verdict:
    noted = from_note(ev, "4.2.dev_test_labels")
    if noted:
        return noted
    e = ev.error_analysis(ev.baseline_trial)
    if isinstance(e, Missing):
        return todo(e.command, e.message)
    alarm = label_alarm(e)
    if alarm is not None:
        return todo(alarm.action + " Then " + note_hint("4.2.dev_test_labels",
                                                        "relabelled N dev examples"),
                    alarm.message, f"{len(confirmed_suspects(e))} likely label errors")
    why = e.labels.reason if e.labels is not None else "no label judgement"
    return not_applicable(f"label quality not a problem: {why} (tunebook errors, trial "
                          f"{e.trial_id})")


@item("4.2.label_rules", "If train has systematic label noise on important subsets: targeted "
      "relabeling or revised labeling rules.", judgment=True)
def _label_rules(ev: Evidence) -> Verdict:
    noted = from_note(ev, "4.2.label_rules")
    if noted:
        return noted
    d = ev.latest(DataReportPayload)
    if d is not None:
        issues = d.payload.report.get("label_issues")
        if not issues:
            return not_applicable(f"the data report (decision {d.id}) flags no label issues")
        return todo(note_hint("4.2.label_rules", "revised the rule for ... and relabelled"),
                    "the data report flags likely label issues in train")
    return todo("tunebook data report (flags likely label issues), or "
                + note_hint("4.2.label_rules", "n/a: labels audited"), "no evidence either way")


@item("4.3.strategy", "Pretrained model + task head, end-to-end model, or multi-stage "
      "pipeline?", judgment=True)
def _strategy(ev: Evidence) -> Verdict:
    return from_note(ev, "4.3.strategy") or todo(
        "tunebook advise --task task.yaml (proposes one by checklist 4.3), then "
        + note_hint("4.3.strategy", "end-to-end: ..."), "no choice recorded")
