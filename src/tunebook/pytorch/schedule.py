"""Learning-rate schedules as pure functions of the step, so they can be plotted before training.

With peak lr ``L``, warmup ``W`` steps, ``T`` total steps and floor ``m = min_lr_ratio * L``,
the lr used for update number ``s`` (1-based) is::

    warmup (s <= W):    L * s / W                       (linear from 0, reaching L at s = W)
    then p = (s - W) / (T - W), clamped to [0, 1]:
      constant:         L
      linear:           L + (m - L) * p
      cosine:           m + (L - m) * (1 + cos(pi * p)) / 2
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tunebook.core.errors import SpecError
from tunebook.pytorch.fields import choice, integer, number

if TYPE_CHECKING:
    import torch

    from tunebook.core.handle import RunHandle

SCHEDULES = ("constant", "linear", "cosine")


@dataclass(frozen=True)
class Schedule:
    """The lr at each step; ``schedule(step)`` is all a loop needs.

    >>> s = Schedule("cosine", lr=1.0, total_steps=110, warmup_steps=10)
    >>> s(5), s(10), s(60), s(110)
    (0.5, 1.0, 0.5, 0.0)
    """

    name: str
    lr: float
    total_steps: int | None = None
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0

    def __post_init__(self) -> None:
        choice(self.name, list(SCHEDULES), "schedule")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise SpecError("lr", "a number > 0", self.lr)
        if self.warmup_steps < 0:
            raise SpecError("warmup_steps", "an integer >= 0", self.warmup_steps)
        if not 0 <= self.min_lr_ratio <= 1:
            raise SpecError("min_lr_ratio", "a number in [0, 1]", self.min_lr_ratio)
        needs_total = self.name != "constant" or self.warmup_steps > 0
        if needs_total and (self.total_steps is None or self.total_steps < 1):
            raise SpecError("max_train_steps", f"an integer >= 1 (the {self.name} schedule "
                            "decays over it)", self.total_steps)
        if self.total_steps is not None and self.warmup_steps >= self.total_steps > 0:
            raise SpecError("warmup_steps", f"fewer steps than training ({self.total_steps})",
                            self.warmup_steps, "Warmup longer than training never reaches the "
                            "peak lr; the playbook keeps warmup within ~10% of training.")

    def __call__(self, step: int) -> float:
        if self.warmup_steps and step <= self.warmup_steps:
            return self.lr * max(step, 0) / self.warmup_steps
        if self.name == "constant":
            return self.lr
        assert self.total_steps is not None
        p = min(max((step - self.warmup_steps) / (self.total_steps - self.warmup_steps), 0.0),
                1.0)
        floor = self.min_lr_ratio * self.lr
        if self.name == "linear":
            return self.lr + (floor - self.lr) * p
        return floor + (self.lr - floor) * (1 + math.cos(math.pi * p)) / 2

    def values(self, steps: int | None = None) -> list[float]:
        """The lr at steps 1..``steps`` (default: the whole run), e.g. to plot it."""
        n = steps if steps is not None else (self.total_steps or 1)
        return [self(s) for s in range(1, n + 1)]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "lr": self.lr, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps, "min_lr_ratio": self.min_lr_ratio}


def make_schedule(config: Mapping[str, Any], run: RunHandle | None = None) -> Schedule:
    """The schedule the config asks for (``schedule``, ``lr``, ``warmup_steps``,
    ``max_train_steps``, ``min_lr_ratio``), recorded on ``run``.

    >>> make_schedule({"lr": 0.1, "schedule": "linear", "max_train_steps": 100})(100)
    0.0
    """
    block = config.get("optimizer")
    lr_source = block if isinstance(block, Mapping) and "lr" in block else config
    lr = number(lr_source, "lr", low=0, low_open=True)
    if lr is None:
        raise SpecError("config.lr", "a number > 0", None)
    name = choice(config.get("schedule") or "constant", list(SCHEDULES), "config.schedule")
    try:
        sched = Schedule(name, lr=lr, total_steps=integer(config, "max_train_steps", low=1),
                         warmup_steps=integer(config, "warmup_steps", 0, low=0) or 0,
                         min_lr_ratio=number(config, "min_lr_ratio", 0.0, low=0, high=1) or 0.0)
    except SpecError as exc:
        if exc.where.startswith("config."):
            raise
        raise SpecError(f"config.{exc.where}", exc.expected, exc.got, exc.hint) from None
    if run is not None:
        run.record(schedule=sched.describe())
    return sched


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> float:
    """Set every param group's lr (times its ``lr_scale``, if it has one); returns ``lr``."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
    return lr
