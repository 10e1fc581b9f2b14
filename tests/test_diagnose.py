"""Bias / variance / mismatch diagnosis: planted ladders, the error rule, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from decide_fixtures import make_project

from tunebook.analysis.diagnose import diagnose, diagnose_trial, error_rule
from tunebook.analysis.selection import pick_trial
from tunebook.core.errors import NotFoundError, SpecError
from tunebook.experiments.baseline import run_baseline
from tunebook.store import Store


def acc(train: float, dev: float, train_dev: float | None = None,
        test: float | None = None) -> dict[str, float]:
    m = {"train/accuracy": train, "dev/accuracy": dev}
    if train_dev is not None:
        m["train_dev/accuracy"] = train_dev
    if test is not None:
        m["test/accuracy"] = test
    return m


@pytest.mark.parametrize(("metrics", "largest"), [
    (acc(0.80, 0.78, 0.79, 0.78), "avoidable_bias"),     # train error far from 1% target
    (acc(0.99, 0.85, 0.86, 0.85), "variance"),           # train good, train_dev bad
    (acc(0.99, 0.85, 0.985, 0.85), "mismatch"),          # train_dev good, dev bad
    (acc(0.99, 0.98, 0.985, 0.90), "dev_overfit"),       # dev good, test bad
])
def test_largest_gap_is_the_planted_one(metrics: dict[str, float], largest: str) -> None:
    d = diagnose(metrics, "accuracy", "max", 0.01)
    assert d.largest == largest
    assert d.findings[0].code == f"diagnose.{largest}"
    assert d.findings[0].severity == "warning"
    assert d.findings[0].action  # the checklist's action is always said


def test_gaps_are_differences_of_errors() -> None:
    d = diagnose(acc(0.95, 0.85, 0.93, 0.84), "accuracy", "max", 0.01)
    assert d.errors["train"] == pytest.approx(0.05)
    assert d.gaps["avoidable_bias"] == pytest.approx(0.04)
    assert d.gaps["variance"] == pytest.approx(0.02)
    assert d.gaps["mismatch"] == pytest.approx(0.08)
    assert d.gaps["dev_overfit"] == pytest.approx(0.01)
    assert d.largest == "mismatch"
    assert "collect training data closer to dev/test" in d.findings[0].action


def test_min_metric_is_its_own_error_and_no_train_dev_folds_mismatch_into_variance() -> None:
    d = diagnose({"train/error": 0.02, "dev/error": 0.10}, "error", "min", 0.01)
    assert d.rule == "error"
    assert d.gaps["mismatch"] is None
    assert d.gaps["variance"] == pytest.approx(0.08)
    assert d.largest == "variance"
    assert "may include data mismatch" in d.findings[0].message


def test_no_target_leaves_bias_unmeasured_and_says_so() -> None:
    d = diagnose(acc(0.80, 0.79), "accuracy", "max", None)
    assert d.gaps["avoidable_bias"] is None
    assert any(f.code == "diagnose.no_target" for f in d.findings)


def test_tolerance_means_no_gap() -> None:
    d = diagnose(acc(0.99, 0.989, 0.99, 0.989), "accuracy", "max", 0.01, tolerance=0.005)
    assert d.largest is None
    assert d.findings[0].code == "diagnose.no_gap"


def test_mismatch_auc_is_evidence() -> None:
    d = diagnose(acc(0.99, 0.85, 0.985), "accuracy", "max", 0.01, mismatch_auc=0.93)
    assert d.largest == "mismatch"
    assert d.findings[0].evidence["mismatch_auc"] == 0.93
    assert "AUC 0.93" in d.findings[0].message


def test_missing_split_says_what_and_how() -> None:
    with pytest.raises(SpecError) as e:
        diagnose({"dev/accuracy": 0.9}, "accuracy", "max", 0.01, trial_id=7)
    msg = str(e.value)
    assert "train/accuracy" in msg and "train_accuracy=" in msg and "tunebook" in msg


def test_accuracy_outside_unit_interval_is_refused() -> None:
    with pytest.raises(SpecError, match=r"\[0, 1\]"):
        diagnose(acc(97.0, 95.0), "accuracy", "max", 0.01)


def test_error_rule_defaults_to_the_score_metric_and_checks_names(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    assert error_rule(project) == ("accuracy", "max")
    assert error_rule(project, "train_loss") == ("loss", "min")
    with pytest.raises(SpecError, match="Did you mean 'accuracy'"):
        error_rule(project, "acuracy")


def test_diagnose_the_stored_baseline_with_a_mismatch_decision(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    store = Store(tmp_path / "s.db")
    with pytest.raises(NotFoundError, match="tunebook baseline"):
        pick_trial(store)
    run_baseline(store, project, tmp_path, show_progress=False)
    store.add_decision("mismatch", "domain classifier", {
        "auc": 0.81, "auc_std": 0.01, "n_a": 100, "n_b": 100, "verdict": "strong mismatch"})
    d = diagnose_trial(store, project, pick_trial(store))
    assert d.mismatch_auc == 0.81
    assert d.errors["dev"] is not None and d.errors["train_dev"] is not None
    assert d.largest == "avoidable_bias"  # the tiny model's train error is ~5% vs 1% target
    with pytest.raises(NotFoundError, match="tunebook trials"):
        pick_trial(store, trial_id=999)
    with pytest.raises(NotFoundError, match="not in the store"):
        pick_trial(store, round_name="nope")
