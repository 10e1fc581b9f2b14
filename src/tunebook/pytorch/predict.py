"""Evaluation in batches, per-example predictions for error analysis, and inference cost.

Metrics over the predictions (accuracy, F1, AUC, calibration, per-group gaps) are torch-free and
live in :mod:`tunebook.core.metrics`; this module turns a model and inputs into those predictions.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from tunebook.core.errors import SpecError
from tunebook.core.metrics import ClassificationMetrics, classification_metrics, group_gap
from tunebook.pytorch.fields import integer
from tunebook.pytorch.memory import memory_kind, peak_mb, reset_peak

if TYPE_CHECKING:
    from tunebook.core.handle import RunHandle
    from tunebook.pytorch.checkpoint import Checkpoints

# Evaluation holds no activations for backward, so it fits batches well above the training one.
DEFAULT_EVAL_MULTIPLE = 4


def eval_batch_size(config: Mapping[str, Any]) -> int:
    """``config['eval_batch_size']``, else 4x ``batch_size``; never below the train batch size.

    >>> eval_batch_size({"batch_size": 64})
    256
    """
    train = integer(config, "batch_size", 1, low=1) or 1
    size = integer(config, "eval_batch_size", train * DEFAULT_EVAL_MULTIPLE, low=1)
    assert size is not None
    if size < train:
        raise SpecError("config.eval_batch_size", f"an integer >= batch_size ({train})", size,
                        "Evaluation needs no activations for backward; a smaller eval batch "
                        "only makes evaluation slower (checklist 6.2).")
    return size


@torch.no_grad()
def predict(model: torch.nn.Module, inputs: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``model(inputs)`` computed in batches in eval mode (train mode restored after).

    >>> predict(torch.nn.Linear(3, 2), torch.ones(10, 3), batch_size=4).shape
    torch.Size([10, 2])
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise SpecError("batch_size", "an integer >= 1", batch_size)
    was_training = model.training
    model.eval()
    try:
        device = _device(model)
        outs = [model(inputs[i:i + batch_size].to(device, non_blocking=True))
                for i in range(0, len(inputs), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(outs) if outs else torch.empty(0)


def save_predictions(run: RunHandle, ids: Sequence[Any] | np.ndarray | torch.Tensor,
                     labels: Sequence[Any] | np.ndarray | torch.Tensor,
                     logits: torch.Tensor, *, step: int, split: str = "dev",
                     **columns: Sequence[Any]) -> ClassificationMetrics:
    """Store each example's id, label, predicted class and its probability (confidence), and
    record the metrics computed from them (accuracy, F1, AUC, calibration) with the trial.

    Extra columns are stored alongside; a ``group`` column adds the per-group accuracy gap
    (the fairness view). Error analysis samples from the stored file. Returns the metrics.
    """
    probs = torch.softmax(logits.detach().float().cpu(), dim=1)
    confidence, prediction = probs.max(1)
    label_list = labels.tolist() if hasattr(labels, "tolist") else list(labels)
    id_list = ids.tolist() if hasattr(ids, "tolist") else list(ids)
    conf = [round(float(c), 6) for c in confidence]
    art = run.save_predictions(id_list, label_list, prediction.tolist(), conf, step=step,
                               split=split, **columns)
    metrics = classification_metrics(label_list, prediction.tolist(), conf,
                                     probabilities=probs.numpy())
    record: dict[str, Any] = {"step": step, "artifact_id": art, **asdict(metrics)}
    if "group" in columns:
        record["group_gap"] = asdict(group_gap(label_list, prediction.tolist(),
                                               list(columns["group"])))
    run.record(**{f"{split}_metrics": record})
    return metrics


def save_best_predictions(run: RunHandle, checkpoints: Checkpoints, model: torch.nn.Module,
                          inputs: torch.Tensor, ids: Sequence[Any] | np.ndarray | torch.Tensor,
                          labels: Sequence[Any] | np.ndarray | torch.Tensor, *,
                          batch_size: int, split: str = "dev",
                          **columns: Sequence[Any]) -> tuple[int, ClassificationMetrics]:
    """Reload the best checkpoint into ``model``, predict ``inputs`` and save the predictions at
    that step: error analysis then reads the model the trial's score describes, not the last
    one. Returns the best step and the metrics.

    At the end of ``train(config, run)``::

        best_step, _ = tk.save_best_predictions(run, ckpts, model, dev_x, dev_ids, dev_y,
                                                batch_size=eval_batch)
    """
    step = checkpoints.load_best(model)
    logits = predict(model, inputs, batch_size)
    return step, save_predictions(run, ids, labels, logits, step=step, split=split, **columns)


@dataclass(frozen=True)
class InferenceCost:
    latency_ms: float          # per example, median over repeats
    batch_size: int
    repeats: int
    peak_memory_mb: float | None
    memory_kind: str           # "cuda_max_allocated" | "cpu_peak_rss" (whole process)
    device: str


@torch.no_grad()
def measure_inference(model: torch.nn.Module, example: torch.Tensor, run: RunHandle | None = None,
                      *, batch_size: int = 1, repeats: int = 30,
                      warmup: int = 3) -> InferenceCost:
    """Latency per example and peak memory of the trained model on batches of ``example``;
    recorded with the trial as ``inference`` when ``run`` is given.

    ``example`` is one batch of inputs; its first ``batch_size`` rows are used (repeated if
    needed).

    >>> measure_inference(torch.nn.Linear(3, 2), torch.ones(1, 3)).batch_size
    1
    """
    if repeats < 1 or warmup < 0 or batch_size < 1:
        raise SpecError("measure_inference", "repeats >= 1, warmup >= 0, batch_size >= 1",
                        {"repeats": repeats, "warmup": warmup, "batch_size": batch_size})
    device = _device(model)
    reps = -(-batch_size // len(example))
    batch = example.repeat(reps, *([1] * (example.dim() - 1)))[:batch_size].to(device)
    was_training = model.training
    model.eval()
    try:
        for _ in range(warmup):
            model(batch)
        _sync(device)
        reset_peak(device)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(batch)
            _sync(device)
            times.append(time.perf_counter() - t0)
        peak = peak_mb(device)
    finally:
        model.train(was_training)
    times.sort()
    median = times[len(times) // 2]
    cost = InferenceCost(1000 * median / batch_size, batch_size, repeats, peak,
                         memory_kind(device), str(device))
    if run is not None:
        run.record(inference=asdict(cost))
    return cost


def _device(model: torch.nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
