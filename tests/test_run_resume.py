"""The Run and Store hooks the kit builds on: trial meta, points at a step, curve restore."""

from __future__ import annotations

from pathlib import Path

import pytest
from kit_support import make_run

from tunebook.artifacts import ArtifactRoot
from tunebook.errors import NotFoundError
from tunebook.run import Run


def test_set_meta_merges_into_the_trial(tmp_path: Path) -> None:
    store, run = make_run(tmp_path)
    run.set_meta(seeds={"init": 1, "data": 2})
    run.set_meta(optimizer={"name": "adamw", "lr": float("nan")})
    meta = store.trial(run.trial_id).meta
    assert meta["seeds"] == {"init": 1, "data": 2}
    assert meta["optimizer"] == {"name": "adamw", "lr": None}  # JSON-safe
    with pytest.raises(NotFoundError):
        store.merge_trial_meta(9999, {"x": 1})
    run.close()


def test_points_reads_one_step(tmp_path: Path) -> None:
    store, run = make_run(tmp_path)
    run.log(5, dev_accuracy=0.5, train_loss=1.0)
    run.log(6, dev_accuracy=0.6)
    run.flush()
    assert store.points(run.trial_id, 5) == {"dev/accuracy": 0.5, "train/loss": 1.0}
    assert store.points(run.trial_id, 7) == {}
    run.close()


def test_restore_curve_puts_back_the_earlier_attempt_up_to_a_step(tmp_path: Path) -> None:
    store, first = make_run(tmp_path)
    previous = {1: {"train/loss": 3.0}, 2: {"train/loss": 2.0, "dev/accuracy": 0.4},
                3: {"train/loss": 1.0}}
    run = Run(store, first.trial, first.token, eval_every=5, heartbeat=False,
              artifact_root=ArtifactRoot(tmp_path / "art"), previous_curve=previous)
    assert run.restore_curve(2) == 3
    assert store.curve(run.trial_id) == {1: {"train/loss": 3.0},
                                         2: {"train/loss": 2.0, "dev/accuracy": 0.4}}
    assert first.restore_curve(10) == 0  # a first attempt has nothing to restore
    run.close()
