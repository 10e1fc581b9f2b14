"""A Rich progress bar over a round's finished trials, shared by every executor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tunebook.core.trial import RoundRecord
from tunebook.rounds.lifecycle import progress
from tunebook.store import Store


class ProgressBar:
    """``with ProgressBar(store, record, enabled) as tick: ... tick()`` (a no-op when disabled)."""

    def __init__(self, store: Store, record: RoundRecord, enabled: bool) -> None:
        self.store, self.record, self.enabled = store, record, enabled
        self._progress: Any = None

    def __enter__(self) -> Callable[[], None]:
        if not self.enabled:
            return lambda: None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                  MofNCompleteColumn(), TextColumn("{task.fields[detail]}"),
                                  TimeElapsedColumn(), transient=False)
        self._progress.start()
        p = progress(self.store, self.record)
        task = self._progress.add_task(f"round {self.record.name}", total=p.total,
                                       completed=p.finished, detail="")

        def tick() -> None:
            pr = progress(self.store, self.record)
            detail = " ".join(f"{s}={n}" for s, n in sorted(pr.counts.items()))
            self._progress.update(task, total=pr.total, completed=pr.finished, detail=detail)

        return tick

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
