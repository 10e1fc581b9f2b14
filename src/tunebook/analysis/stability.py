"""The stability protocol (checklist 5.2): probe a higher lr, scan warmup, propose clipping.

Three probes, run as one round of kind ``stability`` whose trials copy the chosen trial's config
and override ``lr``, ``warmup_steps`` and ``max_train_steps``:

* **lr probe**: a short run (``probe_steps``, default 500, at most the full length) at
  ``lr_factor`` (default 2) times the chosen lr. The chosen trial's own first steps are the
  reference at 1x. A probe as long as training doubles as the warmup scan's 0-step run.
* **warmup scan**: full-length runs at the probe lr with ``warmup_steps`` in a small set
  (default {0, 10, 100, 1000}), each capped at 10% of training (larger values are dropped).
  The training function must read ``config["warmup_steps"]``; a scan whose runs all come out
  identical is reported as "warmup ignored".
* **clipping**: from the chosen trial's recorded unclipped gradient norms (curve metric
  ``train/grad_norm``), :func:`tunebook.core.clipping.propose_clip_threshold` proposes the 90th
  percentile and warns when more than half the steps would be clipped.

A training-loss curve counts as unstable when the trial diverged or when the one instability
rule (:func:`tunebook.analysis.judgements.instability.read_loss`, also read by ``tunebook
analyze`` and the baseline check) finds divergence, an early blow-up, irregular spikes or a
rising loss; spikes at a regular period (an unshuffled loader's epoch) are structure and do not
count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunebook.analysis.findings import Finding
from tunebook.analysis.judgements.instability import read_loss
from tunebook.analysis.selection import fresh_round_name, trial_in_round
from tunebook.core.clipping import ClipProposal, clip_threshold, propose_clip_threshold
from tunebook.core.errors import SpecError
from tunebook.core.spec import ProjectSpec, RoundSpec
from tunebook.core.trial import TrialRecord
from tunebook.core.usage import train_usage
from tunebook.store import Store

LOSS = "train/loss"
GRAD_NORM = "train/grad_norm"
WARMUPS = (0, 10, 100, 1000)
MAX_WARMUP_SHARE = 0.10
MITIGATION_ORDER = (
    "1. LR warmup: increase the lr linearly from 0 to its target; scan the warmup steps "
    "(at most 10% of training).",
    "2. Gradient clipping: record the grad-norm distribution; start the threshold near its "
    "90th percentile and adjust.",
    "3. Architecture hygiene: residual structure, normalization, initialization.",
    "4. Last resort: lower the peak lr.",
)


@dataclass(frozen=True)
class CurveCheck:
    """The instability signals of one training-loss curve."""

    label: str
    trial_id: int | None
    status: str
    lr: float
    warmup_steps: int
    steps: int                       # training length of the run
    score: float | None
    points: int
    diverged: bool
    rising: bool
    early_blowup: bool
    spikes: list[int]                # steps of the spikes
    loss_first: float | None
    loss_last: float | None
    losses: list[list[float]] = field(default_factory=list)  # [step, loss], thinned for plots
    period: int | None = None        # spikes recurring at this period: structure, not unstable

    @property
    def unstable(self) -> bool:
        return self.diverged or self.rising or self.early_blowup or bool(self.spikes)

    def signals(self) -> list[str]:
        out = ["diverged"] if self.diverged else []
        out += ["loss rose"] if self.rising else []
        out += ["early blow-up"] if self.early_blowup else []
        out += [f"{len(self.spikes)} spikes"] if self.spikes else []
        return out


def check_curve(losses: Sequence[tuple[int, float]], *, label: str = "", status: str = "completed",
                trial_id: int | None = None, lr: float = math.nan, warmup_steps: int = 0,
                steps: int = 0, score: float | None = None) -> CurveCheck:
    """Judge one loss curve ``[(step, loss), ...]`` by the rules in the module docstring.

    >>> c = check_curve([(s, 2.0 / s) for s in range(1, 101)])
    >>> c.unstable
    False
    >>> check_curve([(s, 2.0 / s) for s in range(1, 50)] + [(50, 5.0)]).spikes
    [50]
    """
    pts = sorted((int(s), float(v)) for s, v in losses)
    diverged = status == "diverged" or any(not math.isfinite(v) for _, v in pts)
    vals = [v for _, v in pts if math.isfinite(v)]
    first = vals[0] if vals else None
    last = vals[-1] if vals else None
    reading = read_loss([s for s, _ in pts], [v for _, v in pts])
    rising, blowup = reading.rising_from is not None, reading.blowup
    spikes, period = list(reading.spikes), reading.period
    stride = max(1, len(pts) // 200)
    thin = [[float(s), v] for s, v in pts[::stride]]
    return CurveCheck(label, trial_id, status, lr, int(warmup_steps), int(steps), score,
                      len(pts), diverged, rising, blowup, spikes, first, last, thin, period)


@dataclass(frozen=True)
class StabilityReport:
    trial_id: int
    round: str | None                 # the stability round that ran the probes
    lr: float
    lr_factor: float
    probe_steps: int
    max_train_steps: int
    reference: CurveCheck             # the chosen trial, its first probe_steps
    probe: CurveCheck | None
    warmup: list[CurveCheck]
    recommended_warmup: int | None
    clip: ClipProposal | None
    mitigation_order: tuple[str, ...] = MITIGATION_ORDER
    findings: list[Finding] = field(default_factory=list)


def assess(reference: CurveCheck, probe: CurveCheck | None, warmup: Sequence[CurveCheck],
           grad_norms: Sequence[float], *, goal: str = "max", lr_factor: float = 2.0,
           current_clip: float | None = None, warmup_read: bool | None = None,
           ) -> tuple[int | None, ClipProposal | None, list[Finding]]:
    """The recommended warmup, the clipping proposal and the findings (pure).

    ``warmup_read=False``: the chosen trial recorded the config keys its ``train()`` read and
    ``warmup_steps`` was not among them, so no warmup scan ran and none is recommended.
    """
    findings: list[Finding] = []
    ev_ref = {"trial": reference.trial_id, "signals": reference.signals()}
    if reference.unstable:
        findings.append(Finding(
            "stability.reference", "problem",
            f"The chosen trial itself is unstable at lr {reference.lr:.4g}: "
            f"{', '.join(reference.signals())}.",
            "Stabilize before more tuning, in this order: " + " ".join(MITIGATION_ORDER),
            ev_ref))
    if probe is not None:
        ev = {"trial": probe.trial_id, "lr": probe.lr, "signals": probe.signals(),
              "loss_last": probe.loss_last, "reference_loss_last": reference.loss_last}
        if probe.unstable:
            findings.append(Finding(
                "stability.lr_probe", "warning",
                f"At {lr_factor:g}x the lr ({probe.lr:.4g}) training is unstable within "
                f"{probe.steps} steps: {', '.join(probe.signals())}. The chosen lr sits close "
                "to the edge of stability.",
                "Before large tuning rounds, mitigate in this order: "
                + " ".join(MITIGATION_ORDER), ev))
        else:
            findings.append(Finding(
                "stability.lr_probe", "info",
                f"At {lr_factor:g}x the lr ({probe.lr:.4g}) training stayed stable for "
                f"{probe.steps} steps: there is headroom above the chosen lr.",
                "No stability work is needed first; the lr search range may reach "
                f"{lr_factor:g}x the chosen lr.", ev))
    recommended = None
    ok = [w for w in warmup if not w.unstable and w.status == "completed" and w.score is not None]
    if ok:
        sign = 1.0 if goal == "max" else -1.0
        best = max(ok, key=lambda w: (sign * (w.score or 0.0), -w.warmup_steps))
        recommended = best.warmup_steps
    ignored = warmup_read is False or (
        len(warmup) >= 2 and len({(w.status, w.score, w.loss_last) for w in warmup}) == 1)
    if warmup_read is False:
        findings.append(Finding(
            "stability.warmup_ignored", "warning",
            f"train() never reads warmup_steps (trial {reference.trial_id} recorded the config "
            "keys it read), so a warmup scan would change nothing and none was run.",
            "Add a schedule with warmup to train() first (tk.make_schedule(config, run) "
            "reads warmup_steps), then run the protocol again; meanwhile the next mitigations "
            "are gradient clipping and a lower peak lr.", {"trial": reference.trial_id}))
    elif ignored:
        findings.append(Finding(
            "stability.warmup_ignored", "warning",
            f"Every warmup in {sorted(w.warmup_steps for w in warmup)} gave the same run: the "
            "training function seems to ignore config['warmup_steps'].",
            "Read config['warmup_steps'] in train(config, run) and ramp the lr linearly over "
            "that many steps, then run the protocol again.",
            {"warmups": sorted(w.warmup_steps for w in warmup)}))
    if warmup and not ignored:
        table = {str(w.warmup_steps): {"status": w.status, "score": w.score,
                                       "signals": w.signals()} for w in warmup}
        if recommended is None:
            findings.append(Finding(
                "stability.warmup", "warning",
                f"No warmup in {sorted(w.warmup_steps for w in warmup)} keeps training stable "
                f"at {lr_factor:g}x the lr.",
                "Warmup is not enough: go on with the mitigation order (clipping, architecture "
                "hygiene, and last, a lower peak lr).", {"scan": table}))
        else:
            findings.append(Finding(
                "stability.warmup", "info",
                f"Warmup {recommended} steps gives the best stable run at {lr_factor:g}x the lr "
                f"(score {next(w.score for w in ok if w.warmup_steps == recommended):.4g}).",
                f"Use warmup_steps = {recommended} when searching higher lrs.", {"scan": table}))
    clip = None
    finite = [float(g) for g in grad_norms if math.isfinite(float(g))]
    if finite:
        clip = propose_clip_threshold(finite, current=current_clip)
        findings.append(Finding(
            "stability.clipping", "warning" if clip.too_many_clipped else "info", clip.message,
            "Lower the lr instead of clipping harder." if clip.too_many_clipped else
            f"Set the clipping threshold to {clip.threshold:.4g} if spikes remain after warmup.",
            {"threshold": clip.threshold, "clipped_fraction": clip.clipped_fraction,
             "n": clip.n}))
    else:
        findings.append(Finding(
            "stability.no_grad_norms", "info",
            f"The chosen trial recorded no {GRAD_NORM}: no clipping threshold can be proposed.",
            "Log the unclipped global grad norm every step (run.log(step, train_grad_norm=...)) "
            "and re-run the trial.", ev_ref))
    return recommended, clip, findings


def plan_probes(config: Mapping[str, Any], *, lr_factor: float = 2.0, probe_steps: int = 500,
                warmups: Sequence[int] = WARMUPS, seed: int = 0,
                parent_id: int | None = None) -> list[dict[str, Any]]:
    """The probe trials: one short run at ``lr_factor`` x lr and the capped warmup scan.

    >>> [t["group"] for t in plan_probes({"lr": 0.1, "max_train_steps": 2000})][:2]
    [{'probe': 'lr'}, {'probe': 'warmup', 'warmup_steps': 0}]
    """
    lr, steps = _lr_and_steps(config)
    if lr_factor <= 0:
        raise SpecError("--lr-factor", "a number > 0", lr_factor)
    if probe_steps < 1:
        raise SpecError("--probe-steps", "an int >= 1", probe_steps)
    high = lr * lr_factor
    probe: dict[str, Any] = {"config": {**config, "lr": high,
                                        "max_train_steps": min(probe_steps, steps)},
                             "seed": seed, "group": {"probe": "lr"}, "kind": "probe",
                             "parent_id": parent_id}
    full = probe_steps >= steps
    if full and warmups:  # as long as training: the probe doubles as the warmup-0 run
        probe["config"]["warmup_steps"] = 0
        probe["group"]["warmup_steps"] = 0
    items = [probe]
    scan = sorted({0, *(int(w) for w in warmups)}) if warmups else []  # none: no scan at all
    for w in scan:
        if w < 0 or w > MAX_WARMUP_SHARE * steps or (full and w == 0):
            continue  # the playbook caps warmup at 10% of training
        items.append({"config": {**config, "lr": high, "warmup_steps": w, "max_train_steps": steps},
                      "seed": seed, "group": {"probe": "warmup", "warmup_steps": w},
                      "kind": "probe", "parent_id": parent_id})
    return items


def _lr_and_steps(config: Mapping[str, Any]) -> tuple[float, int]:
    lr, steps = config.get("lr"), config.get("max_train_steps")
    if not isinstance(lr, int | float) or isinstance(lr, bool) or not lr > 0:
        raise SpecError("config.lr", "a learning rate > 0 in the chosen trial's config", lr,
                        "The probes scale config['lr']; name the lr 'lr' in train(config, run).")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise SpecError("config.max_train_steps", "an int >= 1 in the chosen trial's config",
                        steps, "Set max_train_steps in the baseline config or the round.")
    return float(lr), steps


def _losses(curve: Mapping[int, Mapping[str, float]],
            until: int | None = None) -> list[tuple[int, float]]:
    return [(s, v[LOSS]) for s, v in sorted(curve.items())
            if LOSS in v and (until is None or s <= until)]


def _check(store: Store, t: TrialRecord, label: str) -> CurveCheck:
    return check_curve(_losses(store.curve(t.id)), label=label, status=t.status, trial_id=t.id,
                       lr=float(t.config.get("lr", math.nan)),
                       warmup_steps=int(t.config.get("warmup_steps", 0) or 0),
                       steps=int(t.config.get("max_train_steps", 0) or 0), score=t.score)


def stability(store: Store, project: ProjectSpec, project_dir: str | Path, round_name: str, *,
              trial_id: int | None = None, lr_factor: float = 2.0, probe_steps: int = 500,
              warmups: Sequence[int] = WARMUPS, workers: int = 2, executor: str = "processes",
              show_progress: bool = True) -> StabilityReport:
    """Run the stability probes for the round's best trial (or ``trial_id``) and judge them.

    >>> stability(store, project, ".", "width").recommended_warmup  # doctest: +SKIP
    10
    """
    from tunebook.workers.execute import run_round

    chosen = trial_in_round(store, round_name, trial_id)
    if chosen.status not in ("completed", "diverged"):
        raise SpecError(f"trial {chosen.id}", "a finished trial (completed or diverged)",
                        chosen.status, f"Run it first: tunebook round run {chosen.round}.")
    lr, steps = _lr_and_steps(chosen.config)
    usage = train_usage(chosen)
    if usage.ignores("lr"):
        raise SpecError(f"trial {chosen.id} config.lr", "a learning rate that train() reads",
                        "a key train() never read",
                        "The probes scale config['lr']; read it in train(config, run) (e.g. "
                        "tk.make_optimizer) and run the trial again.")
    warmup_read = False if usage.ignores("warmup_steps") else None
    if warmup_read is False:
        warmups = ()  # never run what the script ignores
    items = plan_probes(chosen.config, lr_factor=lr_factor, probe_steps=probe_steps,
                        warmups=warmups, seed=chosen.seed, parent_id=chosen.id)
    name = fresh_round_name(store, f"stability-{round_name}")
    spec = RoundSpec(name=name, budget=1, seed=project.seed,
                     question=f"Is trial {chosen.id} stable at {lr_factor:g}x its lr, and "
                              "which warmup helps?")
    record = store.create_round(spec, project, kind="stability")
    store.add_trials(record.id, items, kind="probe")
    run_round(store, name, project_dir, workers=workers, executor=executor,
              show_progress=show_progress)
    probe: CurveCheck | None = None
    warm: list[CurveCheck] = []
    for t in store.trials(record.id):
        if t.group.get("probe") == "lr":
            probe = _check(store, t, f"lr x{lr_factor:g}")
        if "warmup_steps" in t.group:
            warm.append(_check(store, t, f"warmup {t.group['warmup_steps']}"))
    curve = store.curve(chosen.id)
    ref = check_curve(_losses(curve, probe.steps if probe else probe_steps), label="chosen",
                      status=chosen.status, trial_id=chosen.id, lr=lr,
                      warmup_steps=int(chosen.config.get("warmup_steps", 0) or 0),
                      steps=steps, score=chosen.score)
    norms = [v[GRAD_NORM] for _, v in sorted(curve.items()) if GRAD_NORM in v]
    recommended, clip, findings = assess(
        ref, probe, warm, norms, goal=project.scorer().goal, lr_factor=lr_factor,
        current_clip=clip_threshold(chosen.config), warmup_read=warmup_read)
    report = StabilityReport(chosen.id, name, lr, lr_factor, probe_steps, steps, ref, probe,
                             warm, recommended, clip, MITIGATION_ORDER, findings)
    store.add_decision("stability", f"stability of trial {chosen.id}: "
                       + "; ".join(f.message for f in findings[:2]),
                       {"trial_id": chosen.id, "round": name,
                        "recommended_warmup": recommended,
                        "warmup_ignored": any(f.code == "stability.warmup_ignored"
                                              for f in findings),
                        "clip_threshold": clip.threshold if clip else None,
                        "probe_unstable": probe.unstable if probe else None},
                       round_id=record.id)
    return report
