"""Isolation: best over nuisance per target value, coverage warnings, and the round's answer."""

from __future__ import annotations

import math

import numpy as np
import pytest
from planted import acc_curve, planted_round

from tunebook.analysis.isolation import isolation
from tunebook.analysis.records import load_records
from tunebook.core.errors import SpecError

PARAMS = {"width": {"role": "target", "values": [8, 32]},
          "lr": {"role": "nuisance", "type": "float", "low": 1e-3, "high": 1e-1, "scale": "log"}}



def width_round(store, name, gain, *, n=8, seeds=0, noise=0.0, budgets=(8, 8),
                bad=(0, 0), rng_seed=0, lr_span=((0.0, 1.0), (0.0, 1.0))):
    """width=32 beats width=8 by ``gain`` at the best lr; ``seeds`` extra replicates of each
    config with seed noise ``noise``; ``bad`` trials that diverge per width."""
    rng = np.random.default_rng(rng_seed)
    trials = []
    for w, extra, k, n_bad, (a, b) in zip((8, 32), (0.0, gain), budgets, bad, lr_span,
                                         strict=True):
        for i in range(k):
            u = a + (b - a) * (i + 0.5) / k
            lr = 1e-3 * 100 ** u
            base = 0.9 + extra - 0.2 * (u - 0.5) ** 2
            cfg = {"width": w, "lr": lr}
            if i < n_bad:
                trials.append({"config": cfg, "group": {"width": w}, "status": "diverged",
                               "curve": {1: {"train/loss": math.nan}}})
                continue
            first = len(trials)
            trials.append({"config": cfg, "group": {"width": w},
                           "curve": acc_curve(base + rng.normal(0, noise) if noise else base)})
            for _ in range(seeds):
                trials.append({"config": cfg, "group": {"width": w}, "kind": "seed",
                               "parent": first,
                               "curve": acc_curve(base + rng.normal(0, noise))})
    planted_round(store, name, PARAMS, trials, question="Does width help?")
    return load_records(store, name)


def codes(iso):
    return [f.code for f in iso.findings]


def test_best_over_nuisance_per_value_and_the_answer_without_seeds(store):
    iso = isolation(width_round(store, "w", 0.05))
    assert [v.label for v in iso.values] == ["width=8", "width=32"]
    w8, w32 = iso.values
    assert w32.best == pytest.approx(0.95, abs=0.01) and w8.best == pytest.approx(0.9, abs=0.01)
    assert w32.spread is not None and w32.spread.n == 8 and w32.spread.high == w32.best
    assert iso.winner == "width=32" and iso.runner_up == "width=8"
    assert iso.gap == pytest.approx(0.05, abs=0.01)
    assert iso.verdict == "unknown" and iso.seed_std is None
    assert "uncertainty is unknown" in iso.answer
    assert codes(iso) == ["isolation_answer"]  # equal budgets, no failures: no warnings
    assert "several seeds" in iso.findings[0].action


def test_seeds_make_a_clear_gap_clear(store):
    iso = isolation(width_round(store, "w", 0.05, seeds=2, noise=0.003))
    assert iso.seed_configs == 16 and iso.seed_std == pytest.approx(0.003, rel=0.5)
    assert iso.verdict == "clear" and iso.z is not None and iso.z > 2
    assert iso.values[1].seeds == 3 and iso.values[1].seed_std is not None
    assert "likely a real difference" in iso.answer


def test_a_gap_within_seed_noise_is_called_a_tie(store):
    iso = isolation(width_round(store, "w", 0.002, seeds=2, noise=0.02))
    assert iso.verdict == "within_noise"
    [f] = [f for f in iso.findings if f.code == "isolation_answer"]
    assert f.severity == "warning" and "tied" in f.action


def test_unequal_budgets_warn(store):
    iso = isolation(width_round(store, "w", 0.05, budgets=(3, 8)))
    [f] = [f for f in iso.findings if f.code == "unequal_budget"]
    assert f.evidence["completed"] == {"width=8": 3, "width=32": 8}


def test_failures_concentrated_in_one_value_warn(store):
    iso = isolation(width_round(store, "w", 0.05, budgets=(10, 10), bad=(0, 6)))
    [f] = [f for f in iso.findings if f.code == "failures_concentrated"]
    assert f.evidence["value"] == "width=32" and f.evidence["bad"] == 6


def test_failures_spread_evenly_stay_quiet(store):
    iso = isolation(width_round(store, "w", 0.05, budgets=(10, 10), bad=(3, 3)))
    assert "failures_concentrated" not in codes(iso)
    assert "unequal_budget" not in codes(iso)


def test_narrow_nuisance_coverage_for_one_value_warns(store):
    iso = isolation(width_round(store, "w", 0.05, lr_span=((0.0, 1.0), (0.0, 0.3))))
    [f] = [f for f in iso.findings if f.code == "nuisance_coverage"]
    assert f.evidence["value"] == "width=32" and f.evidence["param"] == "lr"


def test_a_continuous_target_is_bucketed_on_its_scale(store):
    iso = isolation(width_round(store, "w", 0.05, n=8), target="lr", buckets=4)
    assert iso.bucketed and len(iso.values) == 4
    lows = [v.group["lr"][0] for v in iso.values]
    assert lows == sorted(lows) and lows[0] == pytest.approx(1e-3)
    assert iso.values[1].group["lr"][0] == pytest.approx(1e-3 * 100 ** 0.25)
    # The best lr is in the middle of the log range: one of the two middle buckets wins.
    assert iso.winner in (iso.values[1].label, iso.values[2].label)
    assert sum(v.trials for v in iso.values) == 16


def test_target_edge_is_noted_for_a_numeric_target(store):
    params = {"depth": {"role": "target", "values": [1, 2, 3]}}
    trials = [{"config": {"depth": d}, "group": {"depth": d}, "curve": acc_curve(0.8 + 0.05 * d)}
              for d in (1, 2, 3)]
    planted_round(store, "depth", params, trials)
    iso = isolation(load_records(store, "depth"))
    assert iso.winner == "depth=3"
    assert "target_edge" in codes(iso)


def test_no_target_gives_none_and_bad_target_names_the_choices(store):
    params = {"lr": {"role": "nuisance", "type": "float", "low": 1e-3, "high": 1e-1},
              "momentum": {"role": "fixed", "value": 0.9}}
    planted_round(store, "plain", params, [{"config": {"lr": 0.01, "momentum": 0.9},
                                            "curve": acc_curve(0.9)}])
    recs = load_records(store, "plain")
    assert isolation(recs) is None
    with pytest.raises(SpecError, match="--target.*lr.*fixed hyperparameter has one value"):
        isolation(recs, target="momentum")
    with pytest.raises(SpecError, match="Did you mean 'lr'"):
        isolation(recs, target="lrr")
    with pytest.raises(SpecError, match="--buckets"):
        isolation(recs, target="lr", buckets=1)


def test_extra_seeds_of_one_value_are_not_extra_budget(store):
    recs = width_round(store, "w", 0.05)
    best = recs.ranked()[0]
    rec = store.round("w")
    ids = store.add_trials(rec.id, [{"config": best.config, "group": best.group, "seed": s,
                                     "kind": "seed", "parent_id": best.id} for s in (7, 8, 9)],
                           kind="seed")
    for tid in ids:
        claimed = store.claim(rec.id, "test", 60)
        assert claimed is not None and claimed[0].id == tid
        store.finish(tid, claimed[1], "completed", best_step=best.best_step,
                     score=best.score, feasible=True, best_metrics={})
    iso = isolation(load_records(store, "w"))
    assert "unequal_budget" not in codes(iso)
    assert iso.values[1].seeds == 4 and iso.seed_configs == 1
