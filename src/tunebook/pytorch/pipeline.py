"""Is training waiting on its input pipeline? Time the wait for each batch against the step.

Wrap the batch iterator of an existing loop with :func:`timed_batches` (no other change), or
hand ``profile_input`` a batch iterator and a step function. The time to get the next batch is
waiting; the time from handing a batch out to asking for the next one is computing. With a GPU
pass ``sync=True`` so asynchronous kernels are counted as compute, not as the next wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

import torch

from tunebook.core.errors import SpecError
from tunebook.core.throughput import INPUT_BOUND_SHARE, InputProfile, judge_input


class timed_batches:  # lower case: used like a function, ``for b in timed_batches(loader)``
    """An iterator over ``batches`` that measures waiting vs computing.

    >>> tb = timed_batches([1, 2, 3])
    >>> [b for b in tb]
    [1, 2, 3]
    >>> tb.profile().steps
    3
    """

    def __init__(self, batches: Iterable[Any], *, skip: int = 0, sync: bool = False,
                 threshold: float = INPUT_BOUND_SHARE) -> None:
        self._it = iter(batches)
        self.skip = skip            # first batches not counted (worker start-up, caches)
        self.sync = sync and torch.cuda.is_available()
        self.threshold = threshold
        self.wait_s = 0.0
        self.compute_s = 0.0
        self.steps = 0
        self._seen = 0
        self._handed_out: float | None = None

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        t0 = time.perf_counter()
        if self.sync:
            torch.cuda.synchronize()
            t0 = time.perf_counter()
        counted = self._seen > self.skip
        if self._handed_out is not None and counted:
            self.compute_s += t0 - self._handed_out
            self.steps += 1
        batch = next(self._it)  # StopIteration ends the loop as usual
        t1 = time.perf_counter()
        self._seen += 1
        if self._seen > self.skip:
            self.wait_s += t1 - t0
        self._handed_out = t1
        return batch

    def profile(self) -> InputProfile:
        """The verdict over the steps seen so far (the last step counts once the loop asks
        for the next batch or ends)."""
        if self._handed_out is not None and self._seen > self.skip \
                and self.steps < self._seen - self.skip:
            self.compute_s += time.perf_counter() - self._handed_out
            self.steps += 1
            self._handed_out = None
        return judge_input(self.wait_s, self.compute_s, self.steps, self.threshold)


def profile_input(batches: Iterable[Any], step: Callable[[Any], Any], *, steps: int = 50,
                  warmup: int = 3, threshold: float = INPUT_BOUND_SHARE,
                  sync: bool = False) -> InputProfile:
    """Run ``step`` on ``steps`` batches (after ``warmup``) and judge the input pipeline.

    >>> profile_input(iter(range(100)), lambda b: sum(range(1000)), steps=20).input_bound
    False
    """
    if steps < 1 or warmup < 0:
        raise SpecError("profile steps", "steps >= 1 and warmup >= 0",
                        {"steps": steps, "warmup": warmup})
    timed = timed_batches(islice(iter(batches), warmup + steps), skip=warmup, sync=sync,
                          threshold=threshold)
    for batch in timed:
        step(batch)
    if timed.steps == 0:
        raise SpecError("batches", f"at least {warmup + 1} batches", "an empty iterator")
    return timed.profile()
