"""Where a framework hook sends what it sees: the trial's ``Run`` in-process, or the reporting
client in a command pipeline's script (a no-op when the script runs outside tunebook)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tunebook.workers import client
from tunebook.workers.run import Run

# Framework spellings of tunebook's splits (Lightning's "val", Hugging Face's "eval").
SPLIT_ALIASES = {"val": "dev", "valid": "dev", "validation": "dev", "eval": "dev"}
SKIP = {"epoch", "step", "global_step", "total_flos", "train_runtime", "train_samples_per_second",
        "train_steps_per_second", "eval_runtime", "eval_samples_per_second",
        "eval_steps_per_second"}


def metric_name(key: str, default_split: str = "train") -> str:
    """``val_acc`` / ``val/acc`` / ``eval_accuracy`` -> ``dev_acc``...; a bare ``loss`` gets
    ``default_split``. Names that already start with a tunebook split stay as they are."""
    for sep in ("/", "_"):
        head, found, rest = key.partition(sep)
        if found and rest:
            if head in SPLIT_ALIASES:
                return f"{SPLIT_ALIASES[head]}_{rest}"
            if head in ("train", "dev", "test") or key.startswith("train_dev"):
                return key.replace("/", "_", 1)
    return f"{default_split}_{key}"


class Sink:
    """The trial a hook reports to."""

    def __init__(self, run: Run | None, rename: Mapping[str, str] | None = None,
                 default_split: str = "train") -> None:
        self.run = run
        self.rename = dict(rename or {})
        self.default_split = default_split

    def metrics(self, raw: Mapping[str, Any]) -> dict[str, float]:
        out: dict[str, float] = {}
        for key, value in raw.items():
            if key in SKIP:
                continue
            item = getattr(value, "item", None)
            v = item() if callable(item) else value
            if isinstance(v, bool) or not isinstance(v, int | float):
                continue
            out[self.rename.get(key) or metric_name(key, self.default_split)] = float(v)
        return out

    def log(self, step: int, raw: Mapping[str, Any]) -> dict[str, float]:
        metrics = self.metrics(raw)
        if metrics:
            if self.run is not None:
                self.run.log(step, **metrics)
            else:
                client.report(step, **metrics)
        return metrics

    def record(self, **info: Any) -> None:
        if self.run is not None:
            self.run.record(**info)
        else:
            client.record(**info)

    def save_predictions(self, ids: Any, labels: Any, predictions: Any, **kw: Any) -> None:
        if self.run is not None:
            self.run.save_predictions(ids, labels, predictions, **kw)
        else:
            client.save_predictions(ids, labels, predictions, **kw)


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
