"""Multi-host hygiene (checklist 6.4) as plain helpers for a data-parallel loop.

- Only one process writes logs and checkpoints: ``main_only(run)`` gives rank 0 the real Run
  and every other rank a ``SilentRun`` with the same methods that writes nothing.
- The init seed is shared by all ranks (identical initial weights); the data-shuffle seed
  differs per rank, and both are recorded with the trial: ``rank_seeds(run)``.
- Batch-norm statistics are synchronised across devices where the user asks:
  ``sync_batchnorm(model)``.
- Data is sharded so that ranks do not read the same examples: ``shard(n, rank, world)``.

Ranks come from ``torch.distributed`` when a process group is initialised, else from the
``RANK`` / ``WORLD_SIZE`` environment variables that torchrun and Slurm launchers set.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tunebook.core.errors import SpecError
from tunebook.core.handle import FileAction, RunHandle
from tunebook.core.spec import ProjectSpec
from tunebook.core.trial import ArtifactRecord


def _dist() -> Any:
    try:
        import torch.distributed as dist
    except ImportError:
        return None
    return dist if dist.is_available() and dist.is_initialized() else None


def rank() -> int:
    """This process's global rank (0 without a process group or RANK)."""
    dist = _dist()
    if dist is not None:
        return int(dist.get_rank())
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    dist = _dist()
    if dist is not None:
        return int(dist.get_world_size())
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    return rank() == 0


class SilentRun:
    """The run for ranks other than 0 (a :class:`~tunebook.core.handle.RunHandle`): it reads
    through to the rank's run (config, checkpoints, logged points) and writes nothing."""

    def __init__(self, run: RunHandle) -> None:
        self._run = run

    @property
    def config(self) -> dict[str, Any]:
        return self._run.config  # type: ignore[no-any-return]  # the same tracked config

    def watch(self, optimizer: Any, *, record_hparams: bool = True) -> None:
        return None

    @property
    def seed(self) -> int:
        return self._run.seed

    @property
    def trial_id(self) -> int:
        return self._run.trial_id

    @property
    def max_train_steps(self) -> int | None:
        return self._run.max_train_steps

    def project(self) -> ProjectSpec | None:
        return self._run.project()

    def should_eval(self, step: int) -> bool:
        return self._run.should_eval(step)

    def log(self, step: int, **metrics: float) -> None:
        return None

    def record(self, **info: Any) -> None:
        return None

    def flush(self) -> None:
        return None

    def points(self, step: int) -> dict[str, float]:
        return self._run.points(step)

    def drop_points_after(self, step: int) -> None:
        return None

    def save_checkpoint(self, step: int, state: dict[str, Any],
                        meta: dict[str, Any] | None = None) -> int | None:
        return None

    def load_checkpoint(self, step: int | None = None) -> tuple[int, dict[str, Any]] | None:
        # Every rank resumes from the same verified checkpoint.
        return self._run.load_checkpoint(step)

    def checkpoints(self) -> list[ArtifactRecord]:
        return self._run.checkpoints()

    def read_artifact(self, artifact: ArtifactRecord) -> bytes:
        return self._run.read_artifact(artifact)

    def remove_artifact(self, artifact: ArtifactRecord, file: FileAction = "delete") -> str | None:
        return None

    def save_predictions(self, ids: Sequence[Any], labels: Sequence[Any],
                         predictions: Sequence[Any], confidence: Sequence[float] | None = None,
                         *, step: int | None = None, split: str = "dev",
                         **columns: Sequence[Any]) -> int | None:
        return None


def main_only(run: RunHandle) -> RunHandle:
    """The run on rank 0, a ``SilentRun`` elsewhere: only one process writes.

    At the top of ``train(config, run)``::

        run = main_only(run)
    """
    return run if is_main() else SilentRun(run)


@dataclass(frozen=True)
class RankSeeds:
    init_seed: int
    shuffle_seed: int
    rank: int
    world_size: int
    shuffle_seeds: tuple[int, ...]


def rank_seeds(run: RunHandle, base_seed: int | None = None) -> RankSeeds:
    """The shared init seed and this rank's shuffle seed; rank 0 records every rank's seeds.

    Shuffle seeds are ``base * 1000 + 1 + rank``: distinct per rank, reproducible from the
    trial's seed, and never equal to the init seed.
    """
    base = int(run.seed if base_seed is None else base_seed)
    r, w = rank(), world_size()
    if not 0 <= r < w:
        raise SpecError("RANK", f"0 <= rank < world size ({w})", r)
    shuffle = tuple(base * 1000 + 1 + k for k in range(w))
    seeds = RankSeeds(base, shuffle[r], r, w, shuffle)
    if r == 0:
        run.record(init_seed=base, shuffle_seeds=list(shuffle), world_size=w)
    return seeds


def shard(n: int, rank_: int | None = None, world: int | None = None) -> range:
    """The indices ``rank`` reads out of ``n`` examples: a strided shard, disjoint across ranks."""
    r = rank() if rank_ is None else rank_
    w = world_size() if world is None else world
    if w < 1 or not 0 <= r < w:
        raise SpecError("rank/world", "0 <= rank < world >= 1", {"rank": r, "world": w})
    return range(r, n, w)


def sync_batchnorm(model: Any) -> Any:
    """Convert BatchNorm layers to SyncBatchNorm when a process group is running."""
    import torch

    if _dist() is None:
        if world_size() > 1:
            warnings.warn("WORLD_SIZE > 1 but no process group is initialised: batch-norm "
                          "statistics stay per device", stacklevel=2)
        return model
    return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
