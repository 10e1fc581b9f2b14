"""GPU placement on CPU with a fake device list: each local worker gets its own
CUDA_VISIBLE_DEVICES (rotation, or packing below one GPU per trial); Ray is asked for
num_gpus; tunebook worker --gpu N."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from conftest import round_dict, write_project

from tunebook.core.errors import SpecError
from tunebook.core.spec import load_project, parse_round
from tunebook.rounds.lifecycle import create_round
from tunebook.store import Store
from tunebook.workers.execute import run_round
from tunebook.workers.gpus import assign, parse_gpus, use_gpu

RECORDING = '''
import os, time

def train(config, run):
    run.record(cuda=os.environ.get("CUDA_VISIBLE_DEVICES"))
    for step in range(1, 4):
        time.sleep(0.05)  # long enough that both workers take trials
        run.log(step, train_loss=1.0 / step, dev_accuracy=0.5, dev_latency_ms=1.0)
'''


def test_rotation_packing_and_refusals() -> None:
    assert assign(["0", "1", "2", "3"], 4) == ["0", "1", "2", "3"]
    assert assign(["0", "1", "2", "3"], 2, 2) == ["0,1", "2,3"]
    assert assign(["4", "5"], 4, 0.5) == ["4", "4", "5", "5"]
    assert assign(["4", "5"], 3, 0.5) == ["4", "4", "5"]
    with pytest.raises(SpecError, match="at most 2"):
        assign(["0", "1"], 3)  # a third worker would share a device
    with pytest.raises(SpecError, match="gpus_per_trial"):
        assign(["0", "1"], 1, 0.4)
    with pytest.raises(SpecError, match="gpus_per_trial"):
        assign(["0", "1"], 1, 1.5)
    assert parse_gpus("0,2") == ["0", "2"] and parse_gpus("3,") == ["3"]
    with pytest.raises(SpecError, match="--gpus"):
        parse_gpus("1,1")


def test_parse_gpus_counts_from_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5,7")
    assert parse_gpus("all") == ["2", "5", "7"] and parse_gpus("2") == ["2", "5"]
    with pytest.raises(SpecError, match="count"):
        parse_gpus("4")


def _round(tmp_path: Path, budget: int) -> tuple[Store, Path]:
    folder = write_project(tmp_path / "p", train_py=RECORDING)
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    create_round(store, load_project(folder / "tunebook.yaml"),
                 parse_round(round_dict(budget=budget, algorithm="quasi_random")))
    return store, folder


def test_each_process_worker_sees_only_its_device(tmp_path: Path) -> None:
    store, folder = _round(tmp_path, 6)
    counts = run_round(store, "r1", folder, workers=2, executor="processes",
                       gpus=["6", "7"], show_progress=False)
    assert counts == {"completed": 6}
    seen: dict[str, set[str]] = defaultdict(set)
    for t in store.trials():
        seen[t.worker or ""].add(t.meta["cuda"])
        assert t.meta["repro"]["cuda_visible_devices"] == t.meta["cuda"]  # provenance agrees
    assert all(len(devices) == 1 for devices in seen.values())  # one device per worker
    used = [d for devices in seen.values() for d in devices]
    assert len(used) == len(set(used)) and set(used) <= {"6", "7"}  # never shared


def test_packing_puts_two_workers_on_one_device(tmp_path: Path) -> None:
    store, folder = _round(tmp_path, 2)
    run_round(store, "r1", folder, workers=2, executor="processes", gpus=["3"],
              gpus_per_trial=0.5, show_progress=False)
    assert {t.meta["cuda"] for t in store.trials()} == {"3"}


def test_gpus_per_trial_without_gpus_is_refused(tmp_path: Path) -> None:
    store, folder = _round(tmp_path, 2)
    with pytest.raises(SpecError, match="gpus_per_trial"):
        run_round(store, "r1", folder, executor="processes", gpus_per_trial=1,
                  show_progress=False)
    with pytest.raises(SpecError, match="workers"):
        run_round(store, "r1", folder, workers=3, executor="processes", gpus=["0", "1"],
                  show_progress=False)
    assert store.counts(store.round("r1").id) == {"queued": 2}


def test_worker_gpu_option_sets_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")  # restored after the test
    use_gpu("1")
    import os

    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
    with pytest.raises(SpecError, match="--gpu"):
        use_gpu(",")


@pytest.mark.slow
def test_ray_places_each_worker_on_its_own_fake_gpu(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    ray = pytest.importorskip("ray")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    store, folder = _round(tmp_path, 4)
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1")
    try:
        run_round(store, "r1", folder, workers=2, executor="ray", gpus_per_trial=1,
                  show_progress=False)
    finally:
        ray.shutdown()
    seen: dict[str, set[str]] = defaultdict(set)
    for t in store.trials():
        seen[t.worker or ""].add(t.meta["cuda"])
    used = [d for devices in seen.values() for d in devices]
    assert all(len(d) == 1 for d in seen.values()) and len(used) == len(set(used))
