"""Hugging Face: ``TunebookCallback``, a ``transformers.TrainerCallback``.

In a script run as a command pipeline, two changed lines::

    from tunebook.integrations.hf import TunebookCallback
    trainer = Trainer(model=model, args=args, ..., callbacks=[TunebookCallback()])

Inside ``train(config, run)``: ``TunebookCallback(run)``. ``eval_*`` names become tunebook's
``dev/*`` (``eval_accuracy`` -> ``dev/accuracy``), bare training names ``train/*`` (``loss`` ->
``train/loss``); ``rename`` maps any other. A non-finite value ends the trial as diverged and a
pruned trial stops, from inside ``trainer.train()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunebook.core.errors import MissingExtraError
from tunebook.integrations.sink import Sink
from tunebook.workers.run import Run

try:
    from transformers import TrainerCallback
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise MissingExtraError("transformers", "hf") from exc


class TunebookCallback(TrainerCallback):  # type: ignore[misc]
    """Report every ``Trainer`` log (training and evaluation) to the trial, from rank zero."""

    def __init__(self, run: Run | None = None, rename: Mapping[str, str] | None = None) -> None:
        self.sink = Sink(run, rename)

    def on_log(self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None,
               **kwargs: Any) -> None:
        if logs and state.is_world_process_zero:
            self.sink.log(int(state.global_step), logs)
