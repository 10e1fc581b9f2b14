"""Input-pipeline profile: a slowed loader is flagged, an in-memory one is not."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from kit_support import one_thread  # noqa: F401  (the fixture, used by name)

torch = pytest.importorskip("torch")

from tunebook.core.errors import SpecError  # noqa: E402
from tunebook.pytorch import profile_input, timed_batches  # noqa: E402

X = torch.randn(4096, 64)
pytestmark = pytest.mark.usefixtures("one_thread")


def _compute(batch: torch.Tensor) -> None:
    w = torch.ones(64, 64)
    for _ in range(20):  # a few milliseconds of real work per step
        batch = torch.tanh(batch @ w / 64)


def slow_loader(size: int = 64, delay_s: float = 0.03) -> Iterator[torch.Tensor]:
    """A deliberately slowed loader: decoding from a slow disk, one batch at a time."""
    i = 0
    while True:
        time.sleep(delay_s)
        yield X[i:i + size]
        i = (i + size) % (len(X) - size)


def memory_loader(size: int = 64) -> Iterator[torch.Tensor]:
    batches = [X[i:i + size] for i in range(0, len(X), size)]
    while True:
        yield from batches


def test_a_slowed_loader_is_flagged_input_bound() -> None:
    profile = profile_input(slow_loader(), _compute, steps=15, warmup=2)
    assert profile.input_bound and profile.steps == 15
    assert profile.wait_share > 0.5  # 30 ms asleep per batch against a few ms of compute
    assert "input-bound" in profile.message and profile.suggestions


def test_an_in_memory_loader_is_not_flagged() -> None:
    profile = profile_input(memory_loader(), _compute, steps=30, warmup=2)
    assert not profile.input_bound and profile.wait_share < 0.1
    assert profile.suggestions == () and "compute-bound" in profile.message


def test_timed_batches_wraps_an_existing_loop() -> None:
    timed = timed_batches((X[i:i + 8] for i in range(0, 80, 8)), skip=1)
    seen = 0
    for batch in timed:
        _compute(batch)
        seen += 1
    profile = timed.profile()
    assert seen == 10 and profile.steps == 9 and profile.compute_s > 0


def test_bad_profile_arguments() -> None:
    with pytest.raises(SpecError, match="profile steps"):
        profile_input(memory_loader(), _compute, steps=0)
    with pytest.raises(SpecError, match="batches"):
        profile_input(iter([X[:2]]), _compute, steps=5, warmup=1)
