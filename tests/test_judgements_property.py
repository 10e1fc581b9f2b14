"""No project state makes two commands disagree, and no output contradicts itself (issue 13).

Hypothesis draws rounds of one to five trials whose curves mix the shapes that broke the old
rules: rising, saturating and overfitting dev curves, a minimum at the first eval, isolated
glitches, periodic (epoch) loss spikes, irregular spikes, a rising or flat loss, eval noise.
For every drawn round:

* ``tunebook analyze`` (the curve findings) never says both "train shorter" and "train
  longer", and no trial is both overfitting and told to train longer;
* the instability that ``analyze`` reads from a training loss is the one that ``tunebook
  stability`` (check_curve) and the baseline check (loss_stability) read from it;
* the best step the worker records (core.score.best_step) is never an eval that ``analyze``
  calls a glitch.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tunebook.analysis.curves import curve_findings, diagnose
from tunebook.analysis.stability import check_curve
from tunebook.core.score import Scorer, best_step, parse_formula
from tunebook.experiments.baseline import loss_stability

ACC = "dev/accuracy"
SHORTER = {"early_saturation", "best_step_early"}
LONGER = {"still_improving", "best_step_late"}
SCORER = Scorer("max", parse_formula("dev_accuracy", {ACC}))


@st.composite
def trial_curve(draw: st.DrawFn) -> dict[int, dict[str, float]]:
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    total = draw(st.sampled_from([200, 400, 1000]))
    evals = draw(st.integers(3, 20))
    every = max(1, total // evals)
    x = np.arange(every, total + 1, every) / total
    shape = draw(st.sampled_from(["rise", "saturate", "overfit", "first_min", "flat"]))
    rate = draw(st.floats(1.0, 12.0))
    if shape == "rise":
        dev = 0.5 + 0.4 * x
    elif shape == "saturate":
        dev = 0.5 + 0.4 * (1 - np.exp(-rate * x))
    elif shape == "overfit":
        peak = draw(st.floats(0.1, 0.8))
        dev = 0.9 - 0.5 * np.abs(x - peak)
    elif shape == "first_min":
        dev = 0.85 - 0.2 * x
    else:
        dev = np.full_like(x, 0.7)
    dev = dev + rng.normal(0, draw(st.sampled_from([0.0, 0.002, 0.01, 0.03])), len(x))
    if draw(st.booleans()) and len(x) >= 5:
        dev[int(rng.integers(0, len(x)))] += draw(st.floats(0.05, 0.3))  # a glitch
    n_eval = draw(st.sampled_from([None, 100, 2000]))
    curve: dict[int, dict[str, float]] = {}
    for s, v in zip((x * total).astype(int), np.clip(dev, 0, 1), strict=True):
        curve[int(s)] = {ACC: float(v)}
        if n_eval:
            curve[int(s)]["dev/examples"] = float(n_eval)
    steps = np.arange(1, total + 1)
    loss_shape = draw(st.sampled_from(["decay", "flat", "rise", "none"]))
    if loss_shape != "none":
        loss = {"decay": 2.0 / (1 + steps / 30) + 0.05, "flat": np.full(total, 1.0),
                "rise": 0.5 + steps / total}[loss_shape]
        loss = loss * np.exp(rng.normal(0, draw(st.sampled_from([0.0, 0.05, 0.2])), total))
        if draw(st.booleans()):
            period = draw(st.integers(20, 100))
            loss = np.where(steps % period == 1, loss * 3.0, loss)           # epoch spikes
        if draw(st.booleans()):
            loss[int(rng.integers(total // 4, total))] *= 8.0                # a real spike
        for s, v in zip(steps, loss, strict=True):
            curve.setdefault(int(s), {})["train/loss"] = float(v)
    return curve


def _loss(curve: dict[int, dict[str, float]]) -> list[tuple[int, float]]:
    return [(s, m["train/loss"]) for s, m in sorted(curve.items()) if "train/loss" in m]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(trial_curve(), min_size=1, max_size=5))
def test_no_round_makes_commands_disagree(curves: list[dict[int, dict[str, float]]]) -> None:
    diags = []
    for i, curve in enumerate(curves, start=1):
        total = max(curve)
        n = next((int(m["dev/examples"]) for m in curve.values() if "dev/examples" in m), None)
        recorded = best_step(curve, SCORER)       # what the worker stores
        d = diagnose(i, curve, lambda m: m.get(ACC), "max", total_steps=total,
                     best_step=recorded.step, n_eval=n)
        diags.append(d)
        # The recorded best step is never a glitch that analyze names.
        assert recorded.step not in d.glitches
        # One trial: never overfitting and "train longer"; never shorter and longer.
        assert not ("overfitting" in d.codes and set(d.codes) & LONGER)
        assert not (set(d.codes) & SHORTER and set(d.codes) & LONGER)
        loss = _loss(curve)
        if loss:
            # analyze, stability and the baseline check read one instability rule.
            analyze_unstable = bool(d.loss_signals)
            stability_unstable = check_curve(loss).unstable
            baseline_stable, _ = loss_stability(curve)
            assert analyze_unstable == stability_unstable == (not baseline_stable)
    codes = {f.code for f in curve_findings("dev score", diags)}
    # One output never says both "train shorter" and "train longer".
    assert not (codes & SHORTER and codes & LONGER)


def test_the_generator_reaches_the_contested_shapes() -> None:
    """The property is not vacuous: drawn rounds do hold opposite per-trial verdicts."""
    steps = range(100, 1001, 100)
    rising = {s: {ACC: 0.5 + 0.4 * s / 1000} for s in steps}
    flat = {s: {ACC: 0.9 if s >= 200 else 0.6} for s in steps}
    ds = [diagnose(i, c, lambda m: m.get(ACC), "max", total_steps=1000)
          for i, c in enumerate([rising, flat], start=1)]
    assert {d.length.direction for d in ds} == {"longer", "shorter"}
    assert math.isfinite(ds[0].se)
