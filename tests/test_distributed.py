from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")

from conftest import bare_round

from tunebook.core.errors import SpecError  # noqa: E402
from tunebook.pytorch.distributed import (  # noqa: E402
    SilentRun,
    main_only,
    rank_seeds,
    shard,
    sync_batchnorm,
)
from tunebook.store import Store  # noqa: E402
from tunebook.store.files import ArtifactRoot  # noqa: E402
from tunebook.workers.run import Run  # noqa: E402


def _run(tmp_path: Path) -> tuple[Store, Run]:
    store = Store(tmp_path / "s.db")
    rid = bare_round(store, "r").id
    store.add_trials(rid, [{"config": {"max_train_steps": 10}, "seed": 5}])
    got = store.claim(rid, "w", 30)
    assert got is not None
    return store, Run(store, got[0], got[1], eval_every=5, artifact_root=ArtifactRoot(tmp_path))


def test_only_rank_zero_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, run = _run(tmp_path)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    other = main_only(run)
    assert isinstance(other, SilentRun) and other.config == {"max_train_steps": 10}
    other.log(1, train_loss=1.0)
    other.save_predictions([1], [0], [0])
    monkeypatch.setenv("RANK", "0")
    main = main_only(run)
    assert main is run
    main.log(2, train_loss=0.5)
    run.close()
    assert store.curve(run.trial_id) == {2: {"train/loss": 0.5}}
    assert store.artifacts(run.trial_id) == []


def test_seeds_shared_init_distinct_shuffle_recorded(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    store, run = _run(tmp_path)
    monkeypatch.setenv("WORLD_SIZE", "4")
    seeds = []
    for r in (3, 1, 0):
        monkeypatch.setenv("RANK", str(r))
        seeds.append(rank_seeds(run))
    assert {s.init_seed for s in seeds} == {5}
    assert len({s.shuffle_seed for s in seeds}) == 3 and 5 not in {s.shuffle_seed for s in seeds}
    meta = store.trial(run.trial_id).meta
    assert meta["init_seed"] == 5 and len(meta["shuffle_seeds"]) == 4 and meta["world_size"] == 4
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(SpecError, match="rank"):
        rank_seeds(run)
    run.close()


def test_shards_are_disjoint_and_cover_everything() -> None:
    parts = [set(shard(103, r, 4)) for r in range(4)]
    assert set().union(*parts) == set(range(103))
    assert sum(len(p) for p in parts) == 103
    with pytest.raises(SpecError):
        shard(10, 2, 2)


def test_sync_batchnorm_without_a_process_group_is_a_no_op(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert sync_batchnorm(model) is model
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.warns(UserWarning, match="per device"):
        sync_batchnorm(model)


def test_sync_batchnorm_with_a_gloo_group(tmp_path: Path) -> None:
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0,
                            world_size=1)
    try:
        model = sync_batchnorm(torch.nn.Sequential(torch.nn.BatchNorm2d(2)))
        assert isinstance(model[0], torch.nn.SyncBatchNorm)
    finally:
        dist.destroy_process_group()


def test_checkpoints_resume_on_every_rank_and_only_rank_zero_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression: Checkpoints reached into run.store, which main_only's stand-in lacks, so
    # Checkpoints(main_only(run)).resume() raised AttributeError on every rank but 0.
    import torch

    from tunebook.core.handle import RunHandle
    from tunebook.pytorch.checkpoint import Checkpoints

    store, run = _run(tmp_path)
    monkeypatch.setenv("WORLD_SIZE", "2")
    model = torch.nn.Linear(2, 1)
    monkeypatch.setenv("RANK", "0")
    main = main_only(run)
    assert isinstance(main, RunHandle)
    Checkpoints(main, goal="max").save(5, model, score=0.5)
    monkeypatch.setenv("RANK", "1")
    other = main_only(run)
    assert isinstance(other, RunHandle) and isinstance(other, SilentRun)
    fresh = torch.nn.Linear(2, 1)
    ckpts = Checkpoints(other, goal="max")
    assert ckpts.resume(fresh) == 5  # every rank resumes from the same verified checkpoint
    assert torch.equal(fresh.weight, model.weight)
    assert ckpts.save(10, fresh, score=0.9) is None  # and only rank 0 writes
    run.close()
    assert [a.step for a in store.artifacts(run.trial_id, "checkpoint")] == [5]
