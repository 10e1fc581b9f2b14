"""Curve diagnosis: each planted shape fires its finding, and healthy curves stay quiet."""

from __future__ import annotations

import math

import numpy as np
import pytest
from planted import acc_curve, planted_round

from tunebook.analysis.curves import curve_report, diagnose
from tunebook.analysis.records import load_records
from tunebook.store import Store

T = 1000


def dev(m):
    return m.get("dev/accuracy")


def build(dev_fn, loss_fn=None, steps=T, every=50):
    curve = {}
    for s in range(1, steps + 1):
        m = {}
        m["train/loss"] = loss_fn(s) if loss_fn else 2.0 * math.exp(-s / 200) + 0.1
        if s % every == 0:
            m["dev/accuracy"] = dev_fn(s)
        curve[s] = m
    return curve


def healthy(s):
    # Peaks at 65% of training and declines by 1% of its rise by the end.
    x = s / 650
    return 0.1 + 0.8 * (1 - (1 - x) ** 2) if x <= 1 else 0.9 - 0.008 * (s - 650) / 350


def test_a_healthy_curve_is_quiet():
    d = diagnose(1, build(healthy), dev, "max", total_steps=T)
    assert d.codes == []
    assert d.best_step == 650 and d.best_fraction == pytest.approx(0.65)


def test_overfitting_fires_when_dev_worsens_after_its_best():
    d = diagnose(1, build(lambda s: 0.9 - 0.4 * abs(s - 300) / 1000), dev, "max", total_steps=T)
    assert "overfitting" in d.codes
    assert d.best_step == 300 and d.overfit_drop == pytest.approx(0.27, abs=0.005)


def test_overfitting_of_a_loss_score_reads_min_as_better():
    d = diagnose(1, build(lambda s: 0.2 + 0.4 * abs(s - 300) / 1000), dev, "min", total_steps=T)
    assert "overfitting" in d.codes and d.best_step == 300


def test_a_noisy_plateau_saturates_but_does_not_overfit():
    rng = np.random.default_rng(0)
    noise = {s: rng.normal(0, 0.004) for s in range(50, T + 1, 50)}
    d = diagnose(1, build(lambda s: min(0.9, 0.1 + 0.8 * s / 250) + noise[s]), dev, "max",
                 total_steps=T)
    assert "overfitting" not in d.codes
    assert "early_saturation" in d.codes and d.saturated_at is not None
    assert d.saturated_at <= 400
    assert "best_step_late" not in d.codes  # where the best lands on a plateau is noise


def test_still_improving_at_the_end():
    d = diagnose(1, build(lambda s: 0.9 * (1 - math.exp(-s / 600))), dev, "max", total_steps=T)
    assert "still_improving" in d.codes and d.best_step == T
    assert "best_step_late" not in d.codes and "early_saturation" not in d.codes


def test_best_step_in_the_first_tenth():
    d = diagnose(1, build(lambda s: 0.9 - 0.1 * s / T if s > 50 else 0.9, every=25), dev, "max",
                 total_steps=T)
    assert "best_step_early" in d.codes and d.best_step == 25


def test_best_step_in_the_last_quarter_without_clear_gain():
    # Rises until 80%, then flat; the last 25% gained little beyond noise of a smooth curve.
    d = diagnose(1, build(lambda s: 0.1 + 0.8 * min(s, 800) / 800), dev, "max", total_steps=T)
    assert d.best_step == 800
    assert "best_step_late" in d.codes


def test_loss_spikes_are_found_with_their_steps():
    rng = np.random.default_rng(1)
    jitter = rng.normal(0, 0.01, T + 1)

    def loss(s):
        base = 2.0 * math.exp(-s / 200) + 0.1 + abs(jitter[s])
        return base * 8 if s in (400, 401, 402, 700) else base

    d = diagnose(1, build(healthy, loss), dev, "max", total_steps=T)
    assert "instability" in d.codes
    assert d.loss_spikes == [400, 700]


def test_noisy_loss_without_spikes_is_quiet():
    rng = np.random.default_rng(2)
    jitter = rng.normal(0, 0.02, T + 1)
    d = diagnose(1, build(healthy, lambda s: 2.0 * math.exp(-s / 200) + 0.3 + jitter[s]), dev,
                 "max", total_steps=T)
    assert d.loss_spikes == [] and "instability" not in d.codes


def test_training_loss_rising_is_instability():
    d = diagnose(1, build(healthy, lambda s: 2.0 * math.exp(-s / 100) + 0.1
                          + (0.5 * (s - 600) / 400 if s > 600 else 0.0)), dev, "max",
                 total_steps=T)
    assert "instability" in d.codes
    assert d.loss_rising_from is not None and 500 <= d.loss_rising_from <= 700


def test_a_sudden_dev_drop_is_instability():
    d = diagnose(1, build(lambda s: 0.3 if s == 500 else healthy(s)), dev, "max", total_steps=T)
    assert d.dev_drops == [500] and "instability" in d.codes


def test_the_thinned_loss_keeps_the_spikes():
    d = diagnose(1, build(healthy, lambda s: 5.0 if s == 333 else 0.5), dev, "max",
                 total_steps=T)
    assert d.train_loss is not None and len(d.train_loss.steps) <= 410
    assert 333 in d.train_loss.steps


def test_round_report_merges_findings_and_names_trials_and_steps(tmp_path):
    store = Store(tmp_path / "s.db")
    params = {"lr": {"role": "nuisance", "type": "float", "low": 1e-3, "high": 1e-1}}
    overfit = {s: m | ({"dev/accuracy": 0.95 - 0.3 * abs(s - 100) / 500} if "dev/accuracy" in m
                       else {}) for s, m in acc_curve(0.9).items()}
    trials = [{"config": {"lr": 0.01 * (i + 1), "max_train_steps": 500},
               "curve": overfit if i < 2 else acc_curve(0.9 - 0.01 * i)} for i in range(6)]
    planted_round(store, "c", params, trials)
    recs = load_records(store, "c")
    ids = [t.id for t in recs.ranked()[:3]]
    rep = curve_report(recs, store.curves(ids), top=3)
    assert [d.trial for d in rep.trials] == ids
    [f] = [f for f in rep.findings if f.code == "overfitting"]
    assert [e["trial"] for e in f.evidence["trials"]] == ids[:2]
    assert f"trial {ids[0]} (best 0.95 at step 100" in f.message
    assert "regularization" in f.action
    [e] = [f for f in rep.findings if f.code == "best_step_early"] or [None]
    store.close()


def test_no_train_loss_is_said_once(tmp_path):
    store = Store(tmp_path / "s.db")
    params = {"lr": {"role": "nuisance", "type": "float", "low": 1e-3, "high": 1e-1}}
    planted_round(store, "n", params, [{"config": {"lr": 0.01}, "curve": acc_curve(0.9,
                                                                                   loss=False)}])
    recs = load_records(store, "n")
    rep = curve_report(recs, store.curves([t.id for t in recs.ranked()]))
    assert [f.code for f in rep.findings] == ["no_train_loss"]
    store.close()
