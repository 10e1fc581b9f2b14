"""Training-curve diagnosis of the top trials (checklist 3.3 and 5.1-5.2).

For each trial the dev curve (the score, or a chosen metric, per eval step) and the training
loss are read for: overfitting (dev worsens after its best step), early saturation (no gain in
the second half of training), still improving at the end (the last eval beats every eval before
the last 10% of training), instability (training-loss spikes,
sudden dev drops, training loss rising), and where the best step falls (first 10% of training:
train shorter; last 25%: train longer).

Thresholds scale with each curve's own noise (a robust estimate from second differences)
and with its total improvement, so a noisy plateau is not called overfitting and a smooth,
still-rising curve is not called saturated.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunebook.analysis.findings import Finding
from tunebook.analysis.judgements.instability import read_loss
from tunebook.analysis.judgements.length import (
    LengthVerdict,
    round_length,
    round_steps,
    trial_length,
)
from tunebook.analysis.judgements.overfit import read_overfit
from tunebook.analysis.records import RoundRecords
from tunebook.core.score import GLITCH_K, Goal, eval_size, isolated_evals, point_noise

LOSS_KEY = "train/loss"
DRAW_POINTS = 400              # training-loss points kept for drawing
DROP_SHARE, DROP_NOISE = 0.2, 4.0   # a sudden dev drop: a fifth of the progress, 4 SEs


@dataclass(frozen=True)
class Series:
    steps: list[int]
    values: list[float]


@dataclass(frozen=True)
class CurveDiagnosis:
    """What one trial's curves show."""

    trial: int
    group: dict[str, Any]
    value: float | None
    total_steps: int
    best_step: int | None
    best_fraction: float | None
    dev: Series
    train_loss: Series | None          # thinned to DRAW_POINTS, spikes kept
    overfit_drop: float | None = None  # how far dev fell from its best by the end
    saturated_at: int | None = None
    still_improving: bool = False
    loss_spikes: list[int] = field(default_factory=list)
    dev_drops: list[int] = field(default_factory=list)
    loss_rising_from: int | None = None
    codes: list[str] = field(default_factory=list)
    periodic_spikes: list[int] = field(default_factory=list)   # structure, not instability
    period: int | None = None
    glitches: list[int] = field(default_factory=list)          # isolated evals, never best
    length: LengthVerdict = LengthVerdict("unknown", None, None)
    se: float = 0.0                                            # one eval's standard error
    loss_signals: list[str] = field(default_factory=list)      # the instability rule's words


@dataclass(frozen=True)
class CurveReport:
    metric: str                        # "score" or a metric key
    trials: list[CurveDiagnosis]
    findings: list[Finding]


def dev_series(curve: Mapping[int, Mapping[str, float]],
               value_of: Callable[[Mapping[str, float]], float | None]) -> Series:
    """The dev curve: ``value_of(metrics at step)`` at every step where it is defined."""
    steps, vals = [], []
    for s in sorted(curve):
        v = value_of(curve[s])
        if v is not None and math.isfinite(v):
            steps.append(int(s))
            vals.append(float(v))
    return Series(steps, vals)


def diagnose(trial: int, curve: Mapping[int, Mapping[str, float]],
             value_of: Callable[[Mapping[str, float]], float | None], goal: Goal, *,
             total_steps: int | None = None, best_step: int | None = None,
             group: dict[str, Any] | None = None, value: float | None = None,
             n_eval: int | None = None) -> CurveDiagnosis:
    """Diagnose one trial's curves (a pure function of the curve).

    ``curve`` maps step -> {metric: value}; ``value_of`` turns one step's metrics into the dev
    value (None where it is not logged); ``total_steps`` defaults to the last logged step;
    ``n_eval`` is the eval set's size (the binomial SE of an accuracy). Each question is answered
    by its owner in :mod:`tunebook.analysis.judgements`.

    >>> curve = {s: {"dev/acc": 1 - abs(s - 200) / 1000} for s in range(100, 1001, 100)}
    >>> d = diagnose(1, curve, lambda m: m.get("dev/acc"), "max", total_steps=1000)
    >>> d.codes
    ['overfitting']
    """
    dev = dev_series(curve, value_of)
    last = max(curve) if curve else 0
    total = max(int(total_steps or 0), last, 1)
    y = np.asarray(dev.values) * (1.0 if goal == "max" else -1.0)
    steps = np.asarray(dev.steps)
    glitch_idx = isolated_evals(list(y), n_eval=n_eval)
    if best_step is None and len(y):
        masked = y.copy()
        masked[glitch_idx] = -np.inf
        best_step = int(steps[int(np.argmax(masked))])
    frac = None if best_step is None else best_step / total
    se = point_noise(dev.values, n_eval) if len(y) else 0.0
    codes: list[str] = []
    out: dict[str, Any] = {"glitches": [int(steps[i]) for i in glitch_idx], "se": se}
    over = read_overfit(dev.steps, list(y), se, glitch_idx)
    if over is not None:
        out["overfit_drop"] = over.drop
        codes.append("overfitting")
    length = trial_length(dev.steps, list(y), total, best_step, se, overfit=over is not None)
    out["length"] = length
    if length.reason is not None:
        codes.append(length.reason)
    if length.reason == "early_saturation":
        out["saturated_at"] = length.saturated_at
    if length.reason == "still_improving":
        out["still_improving"] = True
    if len(y) >= 3:
        clean = np.delete(y, glitch_idx)
        out["dev_drops"] = _drops(steps, y, float(clean.max() - clean[0]), se)
    if glitch_idx:
        codes.append("eval_glitch")
    loss_steps, loss = _loss(curve)
    reading = read_loss(loss_steps.tolist(), loss.tolist())
    out["loss_spikes"] = list(reading.spikes)
    out["periodic_spikes"] = list(reading.periodic)
    out["period"] = reading.period
    out["loss_rising_from"] = reading.rising_from
    out["loss_signals"] = reading.signals()
    if reading.unstable or out.get("dev_drops"):
        codes.append("instability")
    if reading.period is not None:
        codes.append("periodic_loss")
    return CurveDiagnosis(trial, dict(group or {}), value, total, best_step, frac, dev,
                          _thin(loss_steps, loss, reading.spikes + reading.periodic)
                          if len(loss) else None, codes=codes, **out)


# -- signal helpers ---------------------------------------------------------------------------


def _loss(curve: Mapping[int, Mapping[str, float]]) -> tuple[np.ndarray, np.ndarray]:
    pts = [(s, m[LOSS_KEY]) for s, m in sorted(curve.items()) if LOSS_KEY in m]
    if not pts:
        return np.zeros(0, dtype=int), np.zeros(0)
    a = np.asarray(pts, dtype=float)
    return a[:, 0].astype(int), a[:, 1]


def _drops(steps: np.ndarray, y: np.ndarray, improvement: float, se: float) -> list[int]:
    """Eval steps where dev fell sharply and recovered at the next eval."""
    if len(y) < 5 or improvement <= 0:
        return []
    thr = max(DROP_SHARE * improvement, DROP_NOISE * se)
    mid = y[1:-1]
    hit = mid < np.minimum(y[:-2], y[2:]) - thr
    return [int(s) for s in steps[1:-1][hit]]


def _thin(steps: np.ndarray, loss: np.ndarray, keep: Sequence[int]) -> Series:
    ok = np.isfinite(loss)
    steps, loss = steps[ok], loss[ok]
    if len(loss) <= DRAW_POINTS:
        return Series([int(s) for s in steps], [float(v) for v in loss])
    idx = set(np.linspace(0, len(loss) - 1, DRAW_POINTS).astype(int).tolist())
    keep_set = set(keep)
    idx |= {i for i, s in enumerate(steps.tolist()) if s in keep_set}
    order = sorted(idx)
    return Series([int(steps[i]) for i in order], [float(loss[i]) for i in order])


# -- the round's top trials -------------------------------------------------------------------


def value_function(recs: RoundRecords) -> Callable[[Mapping[str, float]], float | None]:
    """The dev value of one step's metrics: the score, or the chosen metric."""
    if recs.value_name != "score":
        key = recs.value_name
        return lambda m: m.get(key)
    scorer = recs.scorer
    needs = scorer.formula.metrics

    def score(m: Mapping[str, float]) -> float | None:
        if any(k not in m for k in needs):
            return None
        return scorer.formula(m)

    return score


def curve_report(recs: RoundRecords, curves: Mapping[int, Mapping[int, Mapping[str, float]]],
                 top: int = 5) -> CurveReport:
    """Diagnose the curves of the ``top`` best trials; one finding per kind of problem.

    ``curves`` is ``store.curves(ids)`` for (at least) those trials.

    >>> recs = load_records(store, "width")                       # doctest: +SKIP
    >>> ids = [t.id for t in recs.ranked()[:5]]                   # doctest: +SKIP
    >>> curve_report(recs, store.curves(ids)).findings[0].code   # doctest: +SKIP
    'still_improving'
    """
    value_of = value_function(recs)
    use_best = recs.value_name == "score"
    diags = []
    for t in recs.ranked(distinct=True)[:top]:
        cfg_total = t.config.get("max_train_steps")
        curve = curves.get(t.id, {})
        key = recs.value_name if not use_best else (recs.scorer.formula.metrics or ("",))[0]
        diags.append(diagnose(
            t.id, curve, value_of, recs.goal,
            total_steps=int(cfg_total) if isinstance(cfg_total, int | float) else None,
            best_step=t.best_step if use_best else None, group=t.group,
            value=recs.values.get(t.id), n_eval=eval_size(curve, key) if key else None))
    name = "dev score" if recs.value_name == "score" else recs.value_name
    return CurveReport(recs.value_name, diags, curve_findings(name, diags))


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def curve_findings(name: str, diags: list[CurveDiagnosis]) -> list[Finding]:
    """The round's findings from its top trials' diagnoses (best first), one per question.

    Training length speaks with one voice: only trials whose verdict goes the round's way
    (:func:`tunebook.analysis.judgements.length.round_length`) make its finding; the others are
    named in its evidence as dissent.
    """
    n = len(diags)
    out: list[Finding] = []
    direction = round_length([d.length for d in diags])
    dissent = [d.trial for d in diags if d.length.direction in ("shorter", "longer")
               and d.length.direction != direction]
    length_codes = {"early_saturation", "best_step_early", "still_improving", "best_step_late"}

    def hit(code: str) -> list[CurveDiagnosis]:
        if code in length_codes:
            return [d for d in diags if d.length.reason == code
                    and d.length.direction == direction]
        return [d for d in diags if code in d.codes]

    def head(ds: list[CurveDiagnosis], what: str) -> str:
        return f"{what} in {len(ds)} of the top {n} trials"

    def best_of(d: CurveDiagnosis) -> float | None:
        return None if d.best_step is None else dict(zip(d.dev.steps, d.dev.values,
                                                         strict=True)).get(d.best_step)

    if ds := hit("overfitting"):
        parts = [f"trial {d.trial} (best {_f(best_of(d))} at step {d.best_step}, "
                 f"{_f(d.dev.values[-1])} at step {d.dev.steps[-1]})" for d in ds]
        out.append(Finding(
            "overfitting", "warning",
            head(ds, f"The {name} worsens after its best step") + ": " + "; ".join(parts) + ".",
            "High variance (checklist 4.1): stronger regularization (weight decay, dropout, data "
            "augmentation), more training data or a smaller model; the best-step checkpoint is "
            "already the one selected (retrospective selection).",
            {"trials": [{"trial": d.trial, "best_step": d.best_step, "last_step": d.dev.steps[-1],
                         "drop": d.overfit_drop} for d in ds]}))
    if ds := hit("early_saturation"):
        stop = max(d.saturated_at or 0 for d in ds)
        suggest = round_steps(1.25 * stop)
        parts = [f"trial {d.trial} (no gain beyond noise after step {d.saturated_at} of "
                 f"{d.total_steps})"
                 for d in ds]
        out.append(Finding(
            "early_saturation", "warning",
            head(ds, f"The {name} stops improving long before the end") + ": "
            + "; ".join(parts) + ".",
            f"Train shorter (checklist 5.1): about {suggest} steps lose nothing, and the saved "
            "compute buys more trials. If dev must still improve, the limit is elsewhere: "
            "diagnose bias and variance (checklist 4.1).",
            {"trials": [{"trial": d.trial, "saturated_at": d.saturated_at,
                         "total_steps": d.total_steps} for d in ds],
             "suggested_max_train_steps": suggest}))
    if ds := hit("still_improving"):
        suggest = round_steps(2 * max(d.total_steps for d in ds))
        parts = [f"trial {d.trial} (best {_f(best_of(d))} at step {d.best_step} of "
                 f"{d.total_steps})" for d in ds]
        out.append(Finding(
            "still_improving", "warning",
            head(ds, f"The {name} is still improving at the end of training") + ": "
            + "; ".join(parts) + ".",
            f"Train longer (checklist 5.1: best step in the last 25% -> train longer): try "
            f"max_train_steps = {suggest}; if compute-bound, tune on short runs and re-train "
            "the top configs near full length.",
            {"trials": [{"trial": d.trial, "best_step": d.best_step,
                         "total_steps": d.total_steps} for d in ds],
             "suggested_max_train_steps": suggest}))
    if ds := hit("best_step_late"):
        suggest = round_steps(1.5 * max(d.total_steps for d in ds))
        parts = [f"trial {d.trial} (step {d.best_step} of {d.total_steps})" for d in ds]
        out.append(Finding(
            "best_step_late", "info",
            head(ds, "The best step falls in the last 25% of training") + ": "
            + "; ".join(parts) + ".",
            f"Train longer (checklist 5.1): try max_train_steps = {suggest}.",
            {"trials": [{"trial": d.trial, "best_step": d.best_step,
                         "total_steps": d.total_steps} for d in ds],
             "suggested_max_train_steps": suggest}))
    if ds := hit("best_step_early"):
        suggest = round_steps(max(4 * max(d.best_step or 0 for d in ds), 1))
        parts = [f"trial {d.trial} (step {d.best_step} of {d.total_steps})" for d in ds]
        out.append(Finding(
            "best_step_early", "info",
            head(ds, "The best step falls in the first 10% of training") + ": "
            + "; ".join(parts) + ".",
            f"Train shorter (checklist 5.1): max_train_steps = {suggest} would keep the best "
            "step with room to spare; if dev worsens afterwards, regularize (checklist 4.1).",
            {"trials": [{"trial": d.trial, "best_step": d.best_step,
                         "total_steps": d.total_steps} for d in ds],
             "suggested_max_train_steps": suggest}))
    if ds := hit("instability"):
        parts = []
        for d in ds:
            bits = [f"training loss: {x}" for x in d.loss_signals]
            if d.dev_drops:
                bits.append(f"sudden {name} drops at steps {_steps(d.dev_drops)}")
            parts.append(f"trial {d.trial}: " + ", ".join(bits))
        out.append(Finding(
            "instability", "problem",
            head(ds, "Training is unstable") + ": " + "; ".join(parts) + ".",
            "Stabilize before more tuning (checklist 5.2): lr warmup (scan its length), "
            "gradient clipping near the 90th percentile of gradient norms, architecture "
            "hygiene (residuals, normalization, initialization); lower the peak lr last.",
            {"trials": [{"trial": d.trial, "loss_spikes": d.loss_spikes,
                         "dev_drops": d.dev_drops, "loss_rising_from": d.loss_rising_from}
                        for d in ds]}))
    if ds := hit("periodic_loss"):
        parts = [f"trial {d.trial} (every ~{d.period} steps: {_steps(d.periodic_spikes)})"
                 for d in ds]
        out.append(Finding(
            "periodic_loss", "info",
            head(ds, "The training loss spikes at a regular period") + ": " + "; ".join(parts)
            + ". A period is structure (the same hard batches each epoch), not instability.",
            "If the period is the epoch length, shuffle the training data each epoch "
            "(DataLoader(shuffle=True)); nothing to stabilize.",
            {"trials": [{"trial": d.trial, "period": d.period, "spikes": d.periodic_spikes}
                        for d in ds]}))
    if ds := hit("eval_glitch"):
        parts = [f"trial {d.trial} (steps {_steps(d.glitches)})" for d in ds]
        out.append(Finding(
            "eval_glitch", "warning",
            head(ds, f"An eval of the {name} stands alone far above its neighbours") + ": "
            + "; ".join(parts) + ". Rule: a best step must be confirmed by a neighbouring "
            f"eval within {GLITCH_K:g} standard errors; these were passed over.",
            "Check the eval for a bug (a batch evaluated twice, a metric averaged over the "
            "wrong count) or evaluate more often around that step.",
            {"trials": [{"trial": d.trial, "glitches": d.glitches, "se": d.se} for d in ds]}))
    if dissent and any(f.code in length_codes for f in out):
        for i, f in enumerate(out):
            if f.code in length_codes:
                out[i] = Finding(f.code, f.severity, f.message + f" (trials {dissent} point the "
                                 "other way; the majority of the top trials decides.)",
                                 f.action, {**f.evidence, "dissent": dissent})
    if diags and all(d.train_loss is None for d in diags):
        out.append(Finding(
            "no_train_loss", "info",
            f"No top trial logged {LOSS_KEY}: training-loss spikes and rises were not checked.",
            "Log the training loss every step: run.log(step, train_loss=loss).",
            {"trials": [d.trial for d in diags]}))
    return out


def _steps(steps: list[int]) -> str:
    shown = ", ".join(map(str, steps[:5]))
    return shown + (f" (+{len(steps) - 5} more)" if len(steps) > 5 else "")
