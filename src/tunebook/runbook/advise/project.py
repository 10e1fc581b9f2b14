"""Runbook steps 4-9: the current bottleneck and the next round, from a project's results.

The checks run in the checklist's order of precedence, each a named rule: a baseline first; a
round finishes before it is read; stability gates everything; a search-space boundary is fixed
before a round's answer is trusted; dev/test labels before the error ladder; then the largest
gap of the error ladder picks the next question. The readings come from the analysis areas
(``tunebook analyze``, ``diagnose``, ``errors``); when one has not landed the advice says which
command would produce it instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunebook.analysis.diagnose import Diagnosis
from tunebook.analysis.overview import RoundAnalysis
from tunebook.core.decisions import BaselinePayload, PromotionPayload, StabilityPayload
from tunebook.core.trial import FINISHED, RoundRecord
from tunebook.experiments.plan import min_trials
from tunebook.runbook.advise.baseline import adam_params
from tunebook.runbook.advise.roundfile import RoundProposal, build_round, unique_name, write_round
from tunebook.runbook.advise.rules import RULES, Proposal, propose
from tunebook.runbook.evidence import Evidence, Missing, confirmed_suspects, label_alarm

CAPACITY_KEYS = ("width", "depth", "layers", "n_layers", "num_layers", "n_layer", "hidden",
                 "hidden_size", "channels", "d_model", "n_embd", "units")
DIVERGED_SHARE = 0.25
DEFAULT_BUDGET = 8


@dataclass(frozen=True)
class Bottleneck:
    """What limits the project now, the rule that says so, and the evidence."""

    kind: str      # no_baseline | pipeline | in_progress | stability | search_space | data |
    #                bias | variance | mismatch | none | unknown
    rule: str
    source: str
    why: str
    evidence: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ProjectAdvice:
    project: str
    bottleneck: Bottleneck
    baseline_update: Proposal | None
    round: RoundProposal | None
    written: str | None
    next_steps: list[str]


@dataclass
class _Plan:
    stem: str
    question: str
    params: dict[str, Any]
    rules: list[Proposal]
    algorithm: str = "quasi_random"
    budget: int | None = None


def _bn(kind: str, rule: str, why: str, *evidence: str, actions: list[str] | None = None
        ) -> Bottleneck:
    return Bottleneck(kind, rule, RULES[rule].source, why, [e for e in evidence if e],
                      actions or [])


def _config(ev: Evidence) -> dict[str, Any]:
    return dict(ev.baseline.config if ev.baseline and ev.baseline.config
                else ev.project.baseline.config)


def _nuisance(ev: Evidence, skip: set[str]) -> tuple[dict[str, Any], list[Proposal]]:
    """lr (and weight decay) as nuisance: the last round's ranges, else around the baseline."""
    cfg = _config(ev)
    last = ev.latest_search_round
    prev = dict(last.spec.params) if last else {}
    params: dict[str, Any] = {}
    why: list[str] = []
    for key, default in (("lr", None), ("weight_decay", (1e-6, 1e-2))):
        if key in skip or key not in cfg:
            continue
        p = prev.get(key)
        if p is not None and p.role == "nuisance" and p.low is not None:
            params[key] = {"role": "nuisance", "type": "float", "low": p.low,
                           "high": p.high, "scale": p.scale}
            why.append(f"{key} over round {last.name if last else ''}'s range")
        elif default is None and isinstance(cfg[key], int | float) and cfg[key] > 0:
            v = float(cfg[key])
            params[key] = {"role": "nuisance", "type": "float", "low": v / 10, "high": v * 10,
                           "scale": "log"}
            why.append(f"{key} one decade each side of the baseline's {v:g}")
        elif default is not None:
            params[key] = {"role": "nuisance", "type": "float", "low": default[0],
                           "high": default[1], "scale": "log"}
            why.append(f"{key} over {default[0]:g}..{default[1]:g}")
    return params, [propose("nuisance", sorted(params), "nuisance-range", "; ".join(why))]


def _budget(ev: Evidence, nuisance: int, targets: int, opt: str) -> tuple[int, list[Proposal]]:
    budget = max(DEFAULT_BUDGET, min_trials(nuisance))
    out = [propose("budget", budget, "trials-per-target",
                   f"{budget} per target value for {nuisance} nuisance hyperparameters "
                   "(tunebook round plan's rule)")]
    if opt.lower() in ("adam", "adamw", "nadam"):
        tuned = adam_params(budget * targets)
        out.append(propose("adam_tuning", tuned, "adam-by-budget",
                           f"{budget * targets} trials in the round: tune {', '.join(tuned)}"
                           + ("" if len(tuned) == 1 else " (add them to baseline.config if "
                              "train() reads them)")))
    return budget, out


def _capacity(cfg: dict[str, Any]) -> tuple[str, int] | None:
    for key in CAPACITY_KEYS:
        v = cfg.get(key)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return key, v
    return None


def _check_state(ev: Evidence) -> Bottleneck | None:
    """Baseline, unfinished round and stability: the gates before any question."""
    if ev.latest(BaselinePayload) is None:
        return _bn("no_baseline", "baseline-first", "no baseline has been trained",
                   "no baseline decision in the store",
                   actions=["tunebook advise --task task.yaml (if the config is not chosen)",
                            "tunebook baseline"])
    v = ev.baseline_verdict or {}
    if v.get("problems") and not (ev.baseline and ev.baseline.promoted):
        kind = "stability" if not v.get("stable", True) else "pipeline"
        return _bn(kind, "baseline-first", "the baseline check failed",
                   *map(str, v["problems"]), actions=[
                       "tunebook stability baseline" if kind == "stability" else
                       "fix train() until the baseline beats chance, then tunebook baseline"])
    last = ev.latest_search_round
    if last is not None:
        ts = ev.trials(last)
        open_ = [t for t in ts if t.status not in FINISHED]
        if open_:
            return _bn("in_progress", "finish-the-round", f"round {last.name} is not finished",
                       f"{len(open_)} of {len(ts)} trials queued or running",
                       actions=[f"tunebook round run {last.name}"])
    return None


def _stability(ev: Evidence, last: RoundRecord | None) -> Bottleneck | None:
    evidence: list[str] = []
    if last is not None:
        done = [t for t in ev.trials(last) if t.status in FINISHED and t.kind == "search"]
        div = [t for t in done if t.status == "diverged"]
        if done and len(div) / len(done) >= DIVERGED_SHARE:
            evidence.append(f"round {last.name}: {len(div)} of {len(done)} trials diverged")
        a = ev.analysis(last)
        if not isinstance(a, Missing):
            # tunebook analyze's instability judgement (periodic spikes are not instability).
            evidence += [f"tunebook analyze {last.name}: {f.message}"
                         for f in a.findings if f.code == "instability"]
    d = ev.latest(StabilityPayload)
    cfg = _config(ev)
    warmed = cfg.get("warmup_steps") and not ev.ignored("warmup_steps")
    if d is not None and d.payload.probe_unstable and not warmed:
        evidence.append(f"stability decision {d.id}: the lr probe was unstable")
    if not evidence:
        return None
    return _bn("stability", "stability-gate", "training is unstable", *evidence,
               actions=_stability_actions(ev))


def _stability_actions(ev: Evidence) -> list[str]:
    ignored = ev.ignored("warmup_steps")
    if ignored:
        return [f"{ignored}, so a warmup round would change nothing: add a schedule with warmup "
                "to train() first (tk.make_schedule), then tunebook advise again",
                "meanwhile clip at the 90th percentile of the grad norm (tunebook stability)"]
    return ["scan warmup with lr as nuisance (the proposed round)",
            "then clip at the 90th percentile of the grad norm (tunebook stability)"]


def _warmup_plan(ev: Evidence) -> _Plan | None:
    if ev.ignored("warmup_steps"):
        return None  # never propose what the script ignores (the bottleneck says what to do)
    cfg = _config(ev)
    steps = int(cfg.get("max_train_steps") or 1000)
    values = sorted({0, *(max(1, round(steps * f)) for f in (0.01, 0.05, 0.1))})
    nuisance, why = _nuisance(ev, {"warmup_steps"})
    return _Plan("warmup", "Does lr warmup make training stable (and allow a higher lr)?",
                 {"warmup_steps": {"role": "target", "values": values}, **nuisance},
                 [propose("target", {"warmup_steps": values}, "stability-gate",
                          f"warmup up to 10% of {steps} steps; train() must apply "
                          "config['warmup_steps'] (the PyTorch kit's schedule does)"), *why])


def _boundary_plan(ev: Evidence, last: RoundRecord, a: RoundAnalysis) -> _Plan | None:
    props = [b for b in a.axes.boundaries
             if b.proposed_low is not None or b.proposed_high is not None]
    if not props:
        return None
    params = {k: v.model_dump(mode="json", exclude_none=True)
              for k, v in last.spec.params.items()}
    why = []
    for b in props:
        p = params.get(b.param)
        if p is None or p.get("low") is None:
            continue
        p["low"] = b.proposed_low if b.proposed_low is not None else p["low"]
        p["high"] = b.proposed_high if b.proposed_high is not None else p["high"]
        why.append(f"{b.param}: best trials {b.top_trials[:3]} at the {b.edge} edge of "
                   f"[{b.low:g}, {b.high:g}] -> [{p['low']:g}, {p['high']:g}]")
    if not why:
        return None
    return _Plan(f"{last.name}-wider", last.question, params,
                 [propose("ranges", why, "expand-boundary", "; ".join(why),
                          f"tunebook analyze {last.name}")],
                 last.spec.algorithm, last.spec.budget)


def _gap_plan(ev: Evidence, d: Diagnosis) -> tuple[Bottleneck, _Plan | None]:
    cfg = _config(ev)
    gaps = ", ".join(f"{k} {v:.3g}" for k, v in d.gaps.items() if v is not None)
    ev_line = f"tunebook diagnose (trial {d.trial_id}): {gaps}"
    action = next((f.action for f in d.findings if f.action), "")
    if d.largest == "avoidable_bias":
        bn = _bn("bias", "largest-gap", "train error is far above the target error", ev_line,
                 actions=[action] if action else [])
        cap = _capacity(cfg)
        if cap:
            key, v = cap
            q = f"Does a larger model ({key} {v} -> {2 * v}) reduce the avoidable bias?"
            target = {key: {"role": "target", "values": [v, 2 * v]}}
        else:
            s = int(cfg.get("max_train_steps") or 1000)
            key, q = "max_train_steps", f"Does training longer ({s} -> {2 * s} steps) reduce " \
                "the avoidable bias?"
            target = {key: {"role": "target", "values": [s, 2 * s]}}
    elif d.largest == "variance":
        bn = _bn("variance", "largest-gap", "dev error is far above train error", ev_line,
                 actions=["collect more training data or add data augmentation", *(
                     [action] if action else [])])
        if isinstance(cfg.get("dropout"), int | float):
            p = float(cfg["dropout"])
            key, vals = "dropout", sorted({p, min(0.5, round(p + 0.2, 2))})
        else:
            key = "weight_decay"
            vals = sorted({float(cfg.get("weight_decay") or 0.0), 1e-4, 1e-3})
        q = f"Does stronger regularization ({key} in {vals}) reduce the variance?"
        target = {key: {"role": "target", "values": vals}}
    elif d.largest in ("mismatch", "dev_overfit"):
        kind = "mismatch" if d.largest == "mismatch" else "data"
        return _bn(kind, "largest-gap", "the largest gap is in the data, not the model",
                   ev_line, actions=[action] if action else []), None
    else:
        return _bn("none", "exploit-when-understood", "no gap of the error ladder stands out",
                   ev_line), None
    nuisance, why = _nuisance(ev, {key})
    return bn, _Plan(key.replace("_", "-"), q, {**target, **nuisance},
                     [propose("target", target[key]["values"], "largest-gap",
                              f"{d.largest}: {key} is the lever", ev_line), *why])


def _exploit_plan(ev: Evidence) -> _Plan:
    from tunebook.search import searcher_names

    nuisance, why = _nuisance(ev, set())
    algo = "bayesian" if "bayesian" in searcher_names() else "quasi_random"
    return _Plan("exploit", "Which nuisance values are best for the current baseline?",
                 nuisance, [propose("algorithm", algo, "exploit-when-understood",
                                    "the space is understood: exploit it" + (
                                        "" if algo == "bayesian" else
                                        " (bayesian search not available yet)")), *why], algo)


def _first_plan(ev: Evidence) -> _Plan:
    nuisance, why = _nuisance(ev, set())
    return _Plan("lr-range", "What is a good lr range for the baseline?", nuisance,
                 [propose("question", "lr range", "first-round", "no round has run yet and no "
                          "diagnosis is available"), *why])


def diagnose_project(ev: Evidence) -> tuple[Bottleneck, _Plan | None]:
    gate = _check_state(ev)
    if gate is not None:
        return gate, (_warmup_plan(ev) if gate.kind == "stability" else None)
    last = ev.latest_search_round
    unstable = _stability(ev, last)
    if unstable is not None:
        return unstable, _warmup_plan(ev)
    if last is not None:
        a = ev.analysis(last)
        if not isinstance(a, Missing):
            plan = _boundary_plan(ev, last, a)
            if plan is not None:
                return _bn("search_space", "expand-boundary", "the best trials of round "
                           f"{last.name} sit at the edge of a range", *plan.rules[0].evidence,
                           actions=[f"re-run the question with wider ranges ({plan.stem})"]
                           ), plan
    e = ev.error_analysis(ev.baseline_trial)
    alarm = label_alarm(e)
    if (alarm is not None and not isinstance(e, Missing)
            and "4.2.dev_test_labels" not in ev.notes):  # a person answered it
        return _bn("data", "labels-first", alarm.message,
                   f"tunebook errors (trial {e.trial_id}): {len(confirmed_suspects(e))} likely "
                   f"label errors among {e.n_examples} dev examples",
                   actions=[alarm.action, 'then tunebook note 4.2.dev_test_labels "..."']), None
    d = ev.diagnosis(ev.baseline_trial)
    if isinstance(d, Missing):
        bn = _bn("unknown", "largest-gap", d.message, actions=[d.command])
        return bn, (_first_plan(ev) if last is None else None)
    bn, plan = _gap_plan(ev, d)
    if bn.kind == "none":
        return bn, _exploit_plan(ev)
    return bn, plan


def _baseline_update(ev: Evidence) -> Proposal | None:
    last = ev.latest_search_round
    if last is None or any(d.payload.round == last.name
                           for d in ev.decisions_of(PromotionPayload)):
        return None
    best = ev.best_trial(last)
    if best is None or best.config == _config(ev):
        return None
    return propose("baseline_update", f"tunebook promote {last.name}", "promote-by-seeds",
                   f"round {last.name}'s best trial {best.id} (score {best.score:.4g}) has not "
                   "been compared with the baseline over seeds", f"trial {best.id}")


def _honoured(ev: Evidence, plan: _Plan, bn: Bottleneck) -> tuple[_Plan | None, Bottleneck]:
    """The plan without the keys train() never reads: a nuisance one is dropped, a target one
    drops the round (it would train the same model for every value)."""
    ignored = {k: why for k in plan.params if (why := ev.ignored(k))}
    if not ignored:
        return plan, bn
    targets = [k for k in ignored if plan.params[k].get("role") == "target"]
    if targets:
        key = targets[0]
        action = (f"{ignored[key]}, so a round over {key} would change nothing: make train() "
                  f"use config['{key}'] first" + (" (tk.make_schedule reads warmup_steps)"
                                                  if key == "warmup_steps" else ""))
        return None, Bottleneck(bn.kind, bn.rule, bn.source, bn.why,
                                [*bn.evidence, ignored[key]], [action, *bn.actions])
    params = {k: v for k, v in plan.params.items() if k not in ignored}
    note = propose("dropped", sorted(ignored), "honoured-keys",
                   "; ".join(ignored.values()), *ignored.values())
    return _Plan(plan.stem, plan.question, params, [*plan.rules, note], plan.algorithm,
                 plan.budget), bn


def advise_project(ev: Evidence, write: str | Path | None = None) -> ProjectAdvice:
    """The bottleneck, a baseline-update recommendation and the next round (written if asked).

    >>> advice = advise_project(Evidence(project, ".", store), write="next.yaml")  # doctest: +SKIP
    >>> advice.bottleneck.kind, advice.round.question                      # doctest: +SKIP
    ('bias', 'Does a larger model (width 16 -> 32) reduce the avoidable bias?')
    """
    bn, plan = diagnose_project(ev)
    if plan is not None:
        plan, bn = _honoured(ev, plan, bn)
    update = _baseline_update(ev)
    proposal = None
    if plan is not None:
        cfg = _config(ev)
        targets = next((len(p["values"]) for p in plan.params.values()
                        if p.get("role") == "target"), 1)
        nuisance = sum(1 for p in plan.params.values() if p.get("role") == "nuisance")
        budget, rules = _budget(ev, nuisance, targets, str(cfg.get("optimizer", "")))
        # A promoted baseline differs from tunebook.yaml's: carry its values as fixed.
        spec_cfg = ev.project.baseline.config
        fixed = {k: {"role": "fixed", "value": v} for k, v in cfg.items()
                 if spec_cfg.get(k) != v and k not in plan.params and v is not None}
        taken = {r.name for r in ev.rounds}
        proposal = build_round(ev.project, unique_name(plan.stem, taken), plan.question,
                               {**plan.params, **fixed}, plan.budget or budget, plan.algorithm,
                               len(ev.search_rounds), [*plan.rules, *rules])
    written = write_round(proposal, write) if proposal is not None and write else None
    steps = [*([update.value] if update else []), *bn.actions]
    if proposal is not None:
        path = written or "round.yaml"
        steps += [f"tunebook round new {path}" + ("" if written else
                                                  " (write it with: tunebook advise --write "
                                                  "round.yaml)"),
                  f"tunebook round run {proposal.name}", f"tunebook analyze {proposal.name}"]
    return ProjectAdvice(ev.project.name, bn, update, proposal, written, list(dict.fromkeys(steps)))
