"""The Run and Store hooks the kit builds on: trial meta and the points of one step."""

from __future__ import annotations

from pathlib import Path

import pytest
from kit_support import make_run

from tunebook.errors import NotFoundError


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
