"""The run protocol: what ``train(config, run)`` and the PyTorch kit may use of a trial's run.

Two things implement it: ``tunebook.workers.run.Run`` (the live handle of a trial attempt) and
``tunebook.pytorch.distributed.SilentRun`` (what ``main_only(run)`` gives ranks other than 0: it
reads like the run and writes nothing). The kit (``tunebook.pytorch``) types its ``run``
arguments with :class:`RunHandle` and never reaches past it (no ``run.store``), so every helper
works on every rank.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from tunebook.core.spec import ProjectSpec
from tunebook.core.trial import ArtifactRecord

# What happens to an artifact's file when its record is removed: deleted, kept (another record
# still points at it), or set aside under a ``.corrupt-*`` name for a person to look at.
FileAction = Literal["delete", "keep", "set_aside"]


@runtime_checkable
class RunHandle(Protocol):
    """A trial's run as user code and the kit see it."""

    @property
    def config(self) -> dict[str, Any]: ...

    @property
    def seed(self) -> int: ...

    @property
    def trial_id(self) -> int: ...

    @property
    def max_train_steps(self) -> int | None: ...

    def project(self) -> ProjectSpec | None:
        """The project this trial belongs to (None outside a tunebook project)."""
        ...

    def should_eval(self, step: int) -> bool: ...

    def log(self, step: int, **metrics: float) -> None: ...

    def record(self, **info: Any) -> None: ...

    def flush(self) -> None: ...

    def points(self, step: int) -> dict[str, float]:
        """The metrics logged at ``step`` (after ``flush``)."""
        ...

    def drop_points_after(self, step: int) -> None: ...

    def save_checkpoint(self, step: int, state: dict[str, Any],
                        meta: dict[str, Any] | None = None) -> int | None:
        """The checkpoint's artifact id, or None where nothing is written (other ranks)."""
        ...

    def load_checkpoint(self, step: int | None = None) -> tuple[int, dict[str, Any]] | None: ...

    def checkpoints(self) -> list[ArtifactRecord]:
        """This trial's checkpoint records, oldest first."""
        ...

    def read_artifact(self, artifact: ArtifactRecord) -> bytes:
        """The artifact's bytes, only if they match its recorded sha256."""
        ...

    def remove_artifact(self, artifact: ArtifactRecord, file: FileAction = "delete") -> str | None:
        """Forget the record (first), then act on the file; returns where a set-aside file went."""
        ...

    def save_predictions(self, ids: Sequence[Any], labels: Sequence[Any],
                         predictions: Sequence[Any], confidence: Sequence[float] | None = None,
                         *, step: int | None = None, split: str = "dev",
                         **columns: Sequence[Any]) -> int | None: ...
