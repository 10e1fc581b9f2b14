"""Store.points: the metrics of one step, which checkpoints are scored from."""

from __future__ import annotations

from pathlib import Path

from kit_support import make_run


def test_points_reads_one_step(tmp_path: Path) -> None:
    store, run = make_run(tmp_path)
    run.log(5, dev_accuracy=0.5, train_loss=1.0)
    run.log(6, dev_accuracy=0.6)
    run.flush()
    assert store.points(run.trial_id, 5) == {"dev/accuracy": 0.5, "train/loss": 1.0}
    assert store.points(run.trial_id, 7) == {}
    run.close()
