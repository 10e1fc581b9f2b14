from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PROJECT, write_project

from tunebook.core.spec import load_project
from tunebook.experiments.baseline import chance_level, current_baseline, run_baseline
from tunebook.store import Store

TRAIN_WITH_PREDICTIONS = '''
def train(config, run):
    for step in range(1, 21):
        run.log(step, train_loss=2.0 / step if config.get("learn", True) else 1.0)
        if run.should_eval(step):
            run.log(step, dev_accuracy=0.9, dev_latency_ms=1.0)
    labels = [i % 4 for i in range(200)]
    good = config.get("learn", True)
    preds = [l if good or i % 4 == 0 else 0 for i, l in enumerate(labels)]
    run.save_predictions(list(range(200)), labels, preds, [0.9] * 200, step=20)
'''


def test_chance_level_classification_and_regression() -> None:
    rows = [{"label": str(i % 2 if i < 80 else 0), "prediction": "0"} for i in range(100)]
    ch = chance_level(rows, "classification")
    assert ch.majority == pytest.approx(0.6) and ch.uniform == 0.5
    assert ch.model == pytest.approx(0.6) and not ch.better  # majority guessing is not learning
    reg = [{"label": str(x), "prediction": str(x + 0.1)} for x in range(50)]
    r = chance_level(reg, "regression")
    assert r.better and r.model is not None and r.model > 0.99
    mean = [{"label": str(x), "prediction": "24.5"} for x in range(50)]
    assert not chance_level(mean, "regression").better


def test_baseline_verdict_is_recorded(tmp_path: Path) -> None:
    d = write_project(tmp_path / "p", {**PROJECT, "baseline": {"config": {"learn": True}}},
                      TRAIN_WITH_PREDICTIONS)
    store = Store(tmp_path / "s.db")
    v = run_baseline(store, load_project(d / "tunebook.yaml"), d, show_progress=False)
    assert v.ok, v.problems
    assert v.chance is not None and v.chance.model == 1.0 and v.chance.majority == 0.25
    assert v.loss_first is not None and v.loss_last is not None and v.loss_last < v.loss_first
    payload = current_baseline(store)
    assert payload is not None and payload.trial_id == v.trial_id


def test_baseline_that_does_not_learn_is_flagged(tmp_path: Path) -> None:
    d = write_project(tmp_path / "p", {**PROJECT, "baseline": {"config": {"learn": False}}},
                      TRAIN_WITH_PREDICTIONS)
    store = Store(tmp_path / "s.db")
    v = run_baseline(store, load_project(d / "tunebook.yaml"), d, show_progress=False)
    # A flat loss is a pipeline problem (no learning), not instability (issue 13: one rule).
    assert not v.ok and v.stable
    assert any("did not fall" in p for p in v.problems)
    assert any("chance" in p for p in v.problems)
