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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunebook.analysis.findings import Finding
from tunebook.analysis.records import RoundRecords
from tunebook.core.score import Goal

LOSS_KEY = "train/loss"
EARLY, LATE = 0.10, 0.75       # best step in the first 10% / last 25% of training
END = 0.9                      # still improving: gains within the last 10% of training
OVERFIT_SHARE = 0.10           # dev gave back at least 10% of its improvement ...
NOISE_OVERFIT = 3.0            # ... and 3 noise levels
SPIKE_SCALE = 6.0              # a loss spike: 6 robust deviations above the recent level ...
SPIKE_SHARE = 0.5              # ... and 50% above it ...
SPIKE_PROGRESS = 0.2           # ... giving back a fifth of the loss's progress so far
RISE_SHARE = 0.2               # training loss gave back 20% of its decrease
DRAW_POINTS = 400              # training-loss points kept for drawing


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
             group: dict[str, Any] | None = None, value: float | None = None) -> CurveDiagnosis:
    """Diagnose one trial's curves (a pure function of the curve).

    ``curve`` maps step -> {metric: value}; ``value_of`` turns one step's metrics into the dev
    value (None where it is not logged); ``total_steps`` defaults to the last logged step.

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
    if best_step is None and len(y):
        best_step = int(steps[int(np.argmax(y))])
    frac = None if best_step is None else best_step / total
    loss_steps, loss = _loss(curve)
    codes: list[str] = []
    out: dict[str, Any] = {}
    if len(y) >= 3:
        noise = _noise(y)
        b = int(np.argmax(y))
        improvement = float(y[b] - y[0])
        tol = max(2 * noise, 0.005 * abs(improvement), 1e-12)
        n_after = len(y) - 1 - b
        if n_after >= 2 and improvement > 0:
            end = float(np.mean(y[-2:]))
            drop = float(y[b]) - end
            if drop > max(OVERFIT_SHARE * improvement, NOISE_OVERFIT * noise):
                out["overfit_drop"] = drop
                codes.append("overfitting")
        first = y[steps <= 0.5 * total]
        second = y[steps > 0.5 * total]
        if "overfitting" not in codes and len(first) >= 2 and len(second) >= 2 \
                and float(second.max() - first.max()) <= tol:
            out["saturated_at"] = int(steps[int(np.argmax(y >= y.max() - tol))])
            codes.append("early_saturation")
        # Still improving: the last eval beats everything before the last 10% of training.
        before = y[steps <= END * total]
        if len(before) >= 1 and steps[-1] > END * total and y[-1] >= y.max() - tol \
                and float(y[-1] - before.max()) > tol:
            out["still_improving"] = True
            codes.append("still_improving")
        out["dev_drops"] = _drops(steps, y, improvement, noise)
    if frac is not None and frac <= EARLY:
        codes.append("best_step_early")
    elif frac is not None and frac >= LATE and not {"early_saturation", "still_improving"} \
            & set(codes):
        codes.append("best_step_late")
    spikes: list[int] = []
    if len(loss) >= 20:
        spikes, rising = _loss_checks(loss_steps, loss)
        out["loss_spikes"] = spikes
        if rising is not None:
            out["loss_rising_from"] = rising
    if spikes or out.get("dev_drops") or out.get("loss_rising_from") is not None:
        codes.append("instability")
    return CurveDiagnosis(trial, dict(group or {}), value, total, best_step, frac, dev,
                          _thin(loss_steps, loss, spikes) if len(loss) else None,
                          codes=codes, **out)


# -- signal helpers ---------------------------------------------------------------------------


def _loss(curve: Mapping[int, Mapping[str, float]]) -> tuple[np.ndarray, np.ndarray]:
    pts = [(s, m[LOSS_KEY]) for s, m in sorted(curve.items())
           if LOSS_KEY in m and math.isfinite(m[LOSS_KEY])]
    if not pts:
        return np.zeros(0, dtype=int), np.zeros(0)
    a = np.asarray(pts, dtype=float)
    return a[:, 0].astype(int), a[:, 1]


def _noise(y: np.ndarray) -> float:
    """Robust per-point noise from second differences (blind to a curve's trend and bend).

    For white noise of std s, ``y[i+1] - 2 y[i] + y[i-1]`` has std ``s * sqrt(6)``; the MAD
    around the median ignores the smooth curvature and the odd spike.
    """
    d2 = np.diff(y, n=2)
    if len(d2) < 2:
        return 0.0
    return float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / math.sqrt(6))


def _drops(steps: np.ndarray, y: np.ndarray, improvement: float, noise: float) -> list[int]:
    """Eval steps where dev fell sharply and recovered at the next eval."""
    if len(y) < 5 or improvement <= 0:
        return []
    thr = max(0.2 * improvement, 4 * noise)
    mid = y[1:-1]
    hit = mid < np.minimum(y[:-2], y[2:]) - thr
    return [int(s) for s in steps[1:-1][hit]]


def _trailing_median(x: np.ndarray, w: int) -> np.ndarray:
    """Median of the ``w`` points before each point (the first point: itself)."""
    from numpy.lib.stride_tricks import sliding_window_view

    padded = np.concatenate([np.full(w, x[0]), x])
    return np.median(sliding_window_view(padded, w)[:-1], axis=1)


def _loss_checks(steps: np.ndarray, loss: np.ndarray) -> tuple[list[int], int | None]:
    n = len(loss)
    w = int(min(51, max(5, n // 20)))
    base = _trailing_median(loss, w)
    resid = loss - base
    scale = float(1.4826 * np.median(np.abs(resid - np.median(resid))))
    # Minibatch noise of a small loss is multiplicative: a batch at 5x the recent level is
    # common near convergence. A spike must also give back a fifth of the progress so far.
    start = float(np.median(loss[:max(3, min(10, n // 50))]))
    progress = np.maximum(start - base, 0.0)
    hit = (resid > np.maximum(SPIKE_SCALE * scale, SPIKE_SHARE * np.abs(base))) & (
        resid > SPIKE_PROGRESS * progress)
    hit[:w] = False  # the trailing window is still filling up
    spikes: list[int] = []
    last = -10**9
    for i in np.flatnonzero(hit):
        if i - last > w:  # consecutive spike points are one event
            spikes.append(int(steps[i]))
        last = int(i)
    # Rising: the level at the end is above the lowest level by a fifth of the total decrease.
    k = max(5, n // 10)
    start = float(np.median(loss[:k]))
    level = np.asarray([np.median(loss[max(0, i - k + 1):i + 1]) for i in range(k - 1, n, k)])
    if len(level) < 3:
        return spikes, None
    lo_i = int(np.argmin(level[:-1]))
    lowest, end = float(level[lo_i]), float(level[-1])
    decrease = start - lowest
    rising = None
    if decrease > 0 and end - lowest > max(RISE_SHARE * decrease, 4 * scale / math.sqrt(k)):
        rising = int(steps[min((lo_i + 1) * k - 1, n - 1)])
    return spikes, rising


def _thin(steps: np.ndarray, loss: np.ndarray, keep: list[int]) -> Series:
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
        diags.append(diagnose(
            t.id, curves.get(t.id, {}), value_of, recs.goal,
            total_steps=int(cfg_total) if isinstance(cfg_total, int | float) else None,
            best_step=t.best_step if use_best else None, group=t.group,
            value=recs.values.get(t.id)))
    return CurveReport(recs.value_name, diags, _findings(recs, diags))


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def _findings(recs: RoundRecords, diags: list[CurveDiagnosis]) -> list[Finding]:
    name = "dev score" if recs.value_name == "score" else recs.value_name
    n = len(diags)
    out: list[Finding] = []

    def hit(code: str) -> list[CurveDiagnosis]:
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
        suggest = _round_steps(1.25 * stop)
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
        suggest = _round_steps(2 * max(d.total_steps for d in ds))
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
        suggest = _round_steps(1.5 * max(d.total_steps for d in ds))
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
        suggest = _round_steps(max(4 * max(d.best_step or 0 for d in ds), 1))
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
            bits = []
            if d.loss_spikes:
                bits.append(f"training-loss spikes at steps {_steps(d.loss_spikes)}")
            if d.dev_drops:
                bits.append(f"sudden {name} drops at steps {_steps(d.dev_drops)}")
            if d.loss_rising_from is not None:
                bits.append(f"training loss rising from step {d.loss_rising_from}")
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


def _round_steps(x: float) -> int:
    """Round a step count up to 2 significant digits (1234 -> 1300)."""
    if x <= 0:
        return 0
    mag = 10 ** max(int(math.floor(math.log10(x))) - 1, 0)
    return int(math.ceil(x / mag) * mag)
