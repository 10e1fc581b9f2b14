"""Check a trial config's training hyperparameters without training (for validation steps)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import torch

from tunebook.core.clipping import clip_threshold
from tunebook.pytorch.optim import make_optimizer
from tunebook.pytorch.predict import eval_batch_size
from tunebook.pytorch.schedule import make_schedule


def check_config(config: Mapping[str, Any]) -> None:
    """Raise the SpecError a trial with this config would raise, before any training.

    Checks the optimizer block, the schedule (warmup shorter than training), the clipping
    threshold and the eval batch size, as ``make_optimizer``, ``make_schedule``,
    ``clip_threshold`` and ``eval_batch_size`` read them.

    >>> check_config({"optimizer": "adamw", "lr": 1e-3, "schedule": "cosine",
    ...               "warmup_steps": 10, "max_train_steps": 100, "clip": 1.0})
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ignored keys are reported when the trial runs
        make_optimizer([torch.zeros(1, requires_grad=True)], config)
    make_schedule(config)
    clip_threshold(config)
    eval_batch_size(config)
