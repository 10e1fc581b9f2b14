"""Axis points, the boundary check and the divergence check, on rounds with planted structure."""

from __future__ import annotations

import math

import pytest
from planted import acc_curve, planted_round, score_round

from tunebook.analysis.axes import axes
from tunebook.analysis.records import load_records


def codes(res):
    return [f.code for f in res.findings]


def test_optimum_at_top_edge_proposes_a_wider_range(store):
    # Accuracy rises with log lr up to the top of the range; wd does not matter.
    score_round(store, "edge", 32, lambda ulr, uwd: 0.5 + 0.45 * ulr)
    res = axes(load_records(store, "edge"), top=5)
    [b] = res.boundaries
    assert (b.param, b.edge) == ("lr", "high")
    assert b.proposed_low == pytest.approx(1e-4)
    assert b.proposed_high == pytest.approx(1.0)  # one decade, the cap for a log range
    assert b.p_value < 0.05 and len(b.top_trials) == 5
    [f] = [f for f in res.findings if f.code == "boundary"]
    assert "lr" in f.message and "Widen lr to [0.0001, 1]" in f.action
    assert f.evidence["trials"] == b.top_trials


def test_optimum_at_bottom_edge_of_a_linear_range_stops_at_zero(store):
    params = {"dropout": {"role": "nuisance", "type": "float", "low": 0.1, "high": 0.9}}
    trials = [{"config": {"dropout": 0.1 + 0.8 * i / 29},
               "curve": acc_curve(0.95 - 0.5 * i / 29)} for i in range(30)]
    planted_round(store, "drop", params, trials)
    [b] = axes(load_records(store, "drop"), top=5).boundaries
    assert (b.param, b.edge) == ("dropout", "low")
    assert b.proposed_low == 0.0 and b.proposed_high == pytest.approx(0.9)


def test_interior_optimum_is_quiet(store):
    score_round(store, "inner", 32, lambda ulr, uwd: 0.95 - 0.8 * (ulr - 0.5) ** 2)
    res = axes(load_records(store, "inner"), top=5)
    assert res.boundaries == [] and "boundary" not in codes(res)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_hyperparameter_that_does_not_matter_is_quiet(store, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    score_round(store, f"flat{seed}", 40, lambda ulr, uwd: 0.9 + 0.05 * rng.random(),
                seed=seed)
    assert axes(load_records(store, f"flat{seed}"), top=5).boundaries == []


def test_divergence_at_high_lr_is_a_stability_bound_not_an_edge(store):
    # Best just below lr ~ 0.01; above it every trial diverges.
    def fn(ulr, uwd):
        return None if ulr > 0.66 else 0.5 + 0.45 * ulr / 0.66

    score_round(store, "div", 40, fn)
    res = axes(load_records(store, "div"), top=5)
    [s] = res.stability
    assert (s.param, s.edge) == ("lr", "high")
    lr_at = 1e-4 * math.exp(0.66 * math.log(1e3))
    assert lr_at <= s.bound <= 0.1
    assert s.diverged_beyond == s.trials_beyond  # everything beyond the bound diverged
    [f] = [f for f in res.findings if f.code == "stability_bound"]
    assert f.severity == "problem" and "stability bound" in f.action
    assert "just inside it" in f.message
    # The top trials crowd the top of what is stable, and no wider range is proposed there.
    for b in res.boundaries:
        assert b.param != "lr" or b.proposed_high is None
    assert "divergence_scattered" not in codes(res)


def test_scattered_divergence_is_reported_without_a_bound(store):
    import numpy as np

    rng = np.random.default_rng(5)
    score_round(store, "scatter", 40,
                lambda ulr, uwd: None if rng.random() < 0.3 else 0.9)
    res = axes(load_records(store, "scatter"), top=5)
    assert res.stability == []
    assert "divergence_scattered" in codes(res)


def test_points_mark_infeasible_and_diverged(store):
    params = {"lr": {"role": "nuisance", "type": "float", "low": 0.001, "high": 0.1,
                     "scale": "log"},
              "width": {"role": "target", "values": [8, 32]}}
    ok = acc_curve(0.9)
    bad = acc_curve(0.95, dev_loss=9.0)  # breaks dev/loss <= 5 everywhere
    div = {1: {"train/loss": math.nan}}
    planted_round(store, "marks", params, [
        {"config": {"lr": 0.01, "width": 8}, "group": {"width": 8}, "curve": ok},
        {"config": {"lr": 0.02, "width": 32}, "group": {"width": 32}, "curve": bad},
        {"config": {"lr": 0.05, "width": 32}, "group": {"width": 32}, "curve": div,
         "status": "diverged"},
        {"config": {"lr": 0.05, "width": 8}, "group": {"width": 8}, "curve": ok,
         "status": "failed"},
    ])
    res = axes(load_records(store, "marks"))
    assert [(p.outcome, p.value is None) for p in res.points] == [
        ("ok", False), ("infeasible", False), ("diverged", True)]
    assert [(a.param, a.role, a.kind, a.scale) for a in res.axes] == [
        ("lr", "nuisance", "float", "log"), ("width", "target", "choice", "linear")]
    assert res.axes[1].choices == [8, 32]
    assert res.points[0].config == {"lr": 0.01, "width": 8}


def test_seeds_of_one_config_count_once_among_the_top(store):
    params = {"lr": {"role": "nuisance", "type": "float", "low": 0.001, "high": 0.1,
                     "scale": "log"}}
    trials = [{"config": {"lr": 0.001 * 100 ** (i / 9)}, "curve": acc_curve(0.5 + 0.04 * i)}
              for i in range(10)]
    trials += [{"config": trials[9]["config"], "curve": acc_curve(0.86), "kind": "seed",
                "parent": 9} for _ in range(3)]
    planted_round(store, "seeds", params, trials)
    res = axes(load_records(store, "seeds"), top=3)
    configs = [p.config["lr"] for p in res.points if p.trial in res.top]
    assert len(res.top) == 3 and len(set(configs)) == 3


def test_an_interior_optimum_near_an_edge_found_by_many_trials_is_quiet(store):
    # 200 trials; the optimum at u = 0.12 of lr's log range: the top trials cluster around it,
    # a little way in from the bottom edge.
    score_round(store, "near", 200, lambda ulr, uwd: 0.95 - 2.0 * (ulr - 0.12) ** 2)
    res = axes(load_records(store, "near"), top=5)
    assert res.boundaries == []


def test_an_int_range_widens_to_whole_numbers(store):
    params = {"layers": {"role": "nuisance", "type": "int", "low": 1, "high": 4},
              "lr": {"role": "nuisance", "type": "float", "low": 1e-3, "high": 1e-1}}
    trials = [{"config": {"layers": 1 + i % 4, "lr": 0.001 + 0.005 * i},
               "curve": acc_curve(0.6 + 0.08 * (i % 4) + 0.001 * (i % 3))} for i in range(16)]
    planted_round(store, "int", params, trials)
    [b] = axes(load_records(store, "int"), top=4).boundaries
    assert (b.param, b.edge, b.proposed_low, b.proposed_high) == ("layers", "high", 1, 6)


def test_a_best_trial_at_97_percent_of_a_log_range_is_never_no_boundary(store):
    # Before: "no best point at a boundary" although the best lr sat at 97% of its log range
    # (the other top trials were scattered, so the crowd test stayed quiet).
    import numpy as np
    from planted import log_value

    rng = np.random.default_rng(0)
    us = [0.97, 0.03, 0.1, 0.17, 0.24, 0.3, 0.36, 0.45, 0.5, 0.55, 0.62, 0.7, 0.76, 0.83, 0.88,
          0.92]
    trials = [{"config": {"lr": log_value(u, 1e-4, 1e-1), "max_train_steps": 200},
               "curve": acc_curve(0.95 if i == 0 else 0.80 + 0.04 * rng.random(),
                                  steps=200, every=50)} for i, u in enumerate(us)]
    params = {"lr": {"role": "nuisance", "type": "float", "low": 1e-4, "high": 1e-1,
                     "scale": "log"}}
    planted_round(store, "lone", params, trials)
    res = axes(load_records(store, "lone"), top=5)
    assert res.boundaries == []  # not a confirmed boundary ...
    [e] = res.edge_best          # ... but the best sits at the edge, in log space
    assert (e.param, e.edge) == ("lr", "high") and e.position == pytest.approx(0.97)
    [f] = [f for f in res.findings if f.code == "edge_best"]
    assert "97%" in f.message and "log range" in f.message and "Widen lr" in f.action
