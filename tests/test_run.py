from __future__ import annotations

import io
import pickle
import time
from pathlib import Path

import pytest
from conftest import bare_round

from tunebook.core.errors import LeaseLost, SpecError, TrialDiverged
from tunebook.store import Store
from tunebook.store.files import ArtifactRoot
from tunebook.workers.run import Run


def _run(tmp_path: Path, lease_s: float = 30.0) -> tuple[Store, Run]:
    store = Store(tmp_path / "s.db")
    rid = bare_round(store, "r").id
    store.add_trials(rid, [{"config": {"max_train_steps": 30, "lr": 0.1}, "seed": 7}])
    got = store.claim(rid, "w", lease_s)
    assert got is not None
    return store, Run(store, got[0], got[1], eval_every=10,
                      artifact_root=ArtifactRoot(tmp_path / "art"), lease_s=lease_s)


def test_log_maps_split_names_and_batches(tmp_path: Path) -> None:
    store, run = _run(tmp_path)
    assert run.config["lr"] == 0.1 and run.seed == 7 and run.max_train_steps == 30
    run.log(1, train_loss=1.0, train_dev_accuracy=0.5, lr=0.1)
    assert store.curve(run.trial_id) == {}  # batched, not written per call
    run.close()
    assert store.curve(run.trial_id) == {1: {"train/loss": 1.0, "train_dev/accuracy": 0.5,
                                             "lr": 0.1}}
    assert [s for s in range(31) if run.should_eval(s)] == [10, 20, 30]
    with pytest.raises(SpecError):
        run.log(-1, x=1.0)


def test_non_finite_raises_diverged_and_keeps_points(tmp_path: Path) -> None:
    store, run = _run(tmp_path)
    run.log(1, train_loss=1.0)
    with pytest.raises(TrialDiverged, match="train/loss = inf at step 2"):
        run.log(2, train_loss=float("inf"))
    assert sorted(store.curve(run.trial_id)) == [1, 2]
    run.close()


def test_lost_lease_stops_the_attempt(tmp_path: Path) -> None:
    store, run = _run(tmp_path, lease_s=0.2)
    store.reap()  # not expired yet: nothing happens
    run._stop.set()  # silence the heartbeat, as a frozen worker would be
    time.sleep(0.4)
    assert store.reap() == [run.trial_id]
    store.claim(run.trial.round_id, "w2", 30)  # another worker owns it now
    assert not run.renew()
    with pytest.raises(LeaseLost):
        run.log(3, train_loss=1.0)


def test_checkpoint_round_trip_and_refuses_pickles(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    store, run = _run(tmp_path)
    run.save_checkpoint(10, {"w": torch.ones(3), "step": 10})
    run.save_checkpoint(20, {"w": torch.zeros(3), "step": 20})
    step, state = run.load_checkpoint() or (None, None)
    assert step == 20 and torch.equal(state["w"], torch.zeros(3))
    assert run.load_checkpoint(10)[1]["step"] == 10  # type: ignore[index]

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("pwned",))

    buf = io.BytesIO()
    torch.save({"x": Evil()}, buf)
    run.save_bytes("checkpoint", "evil.pt", buf.getvalue(), step=30)
    with pytest.raises(pickle.UnpicklingError):
        run.load_checkpoint(30)
    run.close()


def test_predictions_length_checked(tmp_path: Path) -> None:
    _, run = _run(tmp_path)
    with pytest.raises(SpecError, match="label"):
        run.save_predictions([1, 2], [0], [0, 1])
    run.close()


def test_record_merges_facts_into_meta(tmp_path: Path) -> None:
    store, run = _run(tmp_path)
    run.record(init_seed=3, optimizer={"lr": 0.1, "eps": 1e-8})
    run.record(shuffle_seed=4)
    meta = store.trial(run.trial_id).meta
    assert meta["init_seed"] == 3 and meta["shuffle_seed"] == 4 and meta["optimizer"]["eps"] == 1e-8
    run.close()
