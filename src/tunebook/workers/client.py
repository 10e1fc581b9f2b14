"""The reporting client for a command pipeline: the few calls a script makes to talk to its worker.

::

    from tunebook import report
    report(step, dev_accuracy=acc, train_loss=loss)

The worker that started the script owns the trial (store, lease, pruning); the script only
writes one JSON line per call to the pipe named by ``$TUNEBOOK_REPORT_FD``. Outside tunebook
(no such variable) every call is a no-op, so the same script still runs by hand. This module
uses the standard library only: importing it costs the script about a millisecond.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_channel: Any = None


def active() -> bool:
    """True when this process runs as a tunebook trial."""
    return "TUNEBOOK_REPORT_FD" in os.environ


def _send(message: dict[str, Any]) -> None:
    global _channel
    if _channel is None:
        fd = os.environ.get("TUNEBOOK_REPORT_FD")
        if fd is None:
            return
        # Line-buffered: each message is one write the worker reads as soon as it is made.
        _channel = os.fdopen(int(fd), "w", buffering=1, encoding="utf-8")
    _channel.write(json.dumps(message, default=_plain) + "\n")


def report(step: int, **metrics: float) -> None:
    """Record metric values at ``step`` (``dev_accuracy`` is ``dev/accuracy``), like ``run.log``.

    A non-finite value ends the trial as diverged, and a pruned or stopped trial is ended by the
    worker: the script needs no code for either.
    """
    _send({"op": "log", "step": step, "metrics": metrics})


def record(**info: Any) -> None:
    """Facts about the trial that are not curves (seeds, defaults): ``run.record``."""
    _send({"op": "record", "info": info})


def config() -> dict[str, Any]:
    """The trial's config (also rendered into the command line)."""
    return dict(json.loads(os.environ.get("TUNEBOOK_CONFIG", "{}")))


def should_eval(step: int) -> bool:
    """True every ``eval_every`` steps of the project and at ``max_train_steps``."""
    every = int(os.environ.get("TUNEBOOK_EVAL_EVERY", "1"))
    last = os.environ.get("TUNEBOOK_MAX_TRAIN_STEPS")
    return (step > 0 and step % every == 0) or (last is not None and step == int(last))


def run_dir() -> Path:
    """A scratch folder for this attempt (the current folder outside tunebook)."""
    return Path(os.environ.get("TUNEBOOK_RUN_DIR", "."))


def save_file(kind: str, path: str | Path, step: int | None = None,
              meta: dict[str, Any] | None = None) -> None:
    """Hand a finished file to the worker, which stores it as an artifact (with its sha256)
    and then deletes it if it lies in ``run_dir()``. ``kind``: checkpoint, predictions, ..."""
    _send({"op": "file", "kind": kind, "path": str(Path(path).resolve()), "step": step,
           "meta": meta or {}})


def save_checkpoint(step: int, state: dict[str, Any], meta: dict[str, Any] | None = None) -> None:
    """Save a state dict (tensors, numbers, strings) as this trial's checkpoint at ``step``."""
    if not active():
        return
    import torch

    path = run_dir() / f"ckpt-{step:08d}.pt"
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    save_file("checkpoint", path, step, meta)


def drop_checkpoint(step: int) -> None:
    """Forget the checkpoint saved at ``step`` (a best-N callback's fallen-out one)."""
    _send({"op": "drop", "kind": "checkpoint", "step": step})


def load_checkpoint() -> tuple[int, dict[str, Any]] | None:
    """The checkpoint to resume from (its checksum verified by the worker), or None."""
    path = os.environ.get("TUNEBOOK_RESUME")
    if not path:
        return None
    import torch

    state = torch.load(path, weights_only=True, map_location="cpu")
    return int(os.environ["TUNEBOOK_RESUME_STEP"]), state


def save_predictions(ids: Sequence[Any], labels: Sequence[Any], predictions: Sequence[Any],
                     confidence: Sequence[float] | None = None, *, step: int | None = None,
                     split: str = "dev", **columns: Sequence[Any]) -> None:
    """Per-example predictions for error analysis: ``run.save_predictions``."""
    _send({"op": "predictions", "ids": list(ids), "labels": list(labels),
           "predictions": list(predictions),
           "confidence": None if confidence is None else list(confidence), "step": step,
           "split": split, "columns": {k: list(v) for k, v in columns.items()}})


def _plain(x: Any) -> Any:
    item = getattr(x, "item", None)  # numpy and torch scalars
    if callable(item):
        return item()
    tolist = getattr(x, "tolist", None)
    if callable(tolist):
        return tolist()
    raise TypeError(f"cannot report a {type(x).__name__}")
