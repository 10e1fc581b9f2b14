"""The batch-size scan: powers of two, stopping at OOM, the maximum or the memory cap."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from kit_support import one_thread  # noqa: F401  (the fixture, used by name)

torch = pytest.importorskip("torch")

from tunebook.core.errors import SpecError  # noqa: E402
from tunebook.pytorch import scan_batch_sizes  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def _endless(size: int) -> Iterator[int]:
    return itertools.repeat(size)


def test_stops_at_the_first_out_of_memory() -> None:
    seen: list[int] = []

    def step(size: int) -> None:
        seen.append(size)
        if size > 64:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    scan = scan_batch_sizes(_endless, step, start=4, max_size=4096, min_seconds=0.0,
                            min_steps=2, warmup_steps=1, memory_cap_mb=1e9)
    assert [p.batch_size for p in scan.points] == [4, 8, 16, 32, 64]
    assert scan.feasible == (4, 64) and scan.stopped == "out of memory at batch size 128"
    assert max(seen) == 128 and scan.knee in (4, 8, 16, 32, 64)


def test_cpu_allocator_failure_counts_as_out_of_memory() -> None:
    def step(size: int) -> None:
        if size >= 8:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried ...")

    scan = scan_batch_sizes(_endless, step, max_size=64, min_seconds=0.0)
    assert scan.feasible == (1, 4) and "out of memory" in scan.stopped


def test_other_errors_are_not_swallowed() -> None:
    def step(size: int) -> None:
        raise ValueError("a bug in the step")

    with pytest.raises(ValueError, match="a bug"):
        scan_batch_sizes(_endless, step, min_seconds=0.0)


def test_stops_before_the_memory_cap_on_cpu() -> None:
    held: list[torch.Tensor] = []

    def step(size: int) -> None:
        # About `size` MiB touched per step, freed after: the peak grows with the batch.
        held.append(torch.ones(size * 2 ** 18))
        held.clear()

    from tunebook.pytorch.memory import peak_mb, reset_peak

    cpu = torch.device("cpu")
    reset_peak(cpu)
    base = peak_mb(cpu) or 0.0
    scan = scan_batch_sizes(_endless, step, start=4, max_size=4096, min_seconds=0.0,
                            min_steps=2, memory_cap_mb=base + 150, device="cpu")
    assert "memory cap" in scan.stopped
    assert scan.feasible is not None and scan.feasible[1] < 4096
    assert all(p.peak_memory_mb is not None for p in scan.points)


def test_measures_throughput_and_stops_at_the_maximum() -> None:
    model = torch.nn.Linear(16, 4)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def batches(size: int) -> Iterator[torch.Tensor]:
        while True:
            yield torch.randn(size, 16)

    def step(x: torch.Tensor) -> None:
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()

    scan = scan_batch_sizes(batches, step, max_size=32, min_seconds=0.0, min_steps=3)
    assert [p.batch_size for p in scan.points] == [1, 2, 4, 8, 16, 32]
    assert all(p.examples_per_s > 0 and p.steps >= 3 for p in scan.points)
    assert scan.stopped == "reached the maximum batch size 32" and scan.device == "cpu"


@pytest.mark.parametrize(("kwargs", "where"), [
    ({"start": 0}, "start"), ({"start": 8, "max_size": 4}, "max batch size"),
    ({"memory_cap_mb": 0}, "memory cap"), ({"min_steps": 0}, "scan steps"),
])
def test_bad_scan_arguments(kwargs: dict, where: str) -> None:
    with pytest.raises(SpecError, match=where):
        scan_batch_sizes(_endless, lambda b: None, **kwargs)


def test_an_iterator_that_runs_dry_is_an_error() -> None:
    with pytest.raises(SpecError, match="endlessly"):
        scan_batch_sizes(lambda b: iter([b, b]), lambda b: None, min_seconds=0.0)
