"""The batch-size knee and the input-bound verdict on synthetic measurements."""

from __future__ import annotations

import pytest

from tunebook.core.errors import SpecError
from tunebook.core.throughput import (
    RETUNE_NOTE,
    ThroughputPoint,
    find_knee,
    judge_input,
    summarize_scan,
)


def _points(rate: dict[int, float]) -> list[ThroughputPoint]:
    return [ThroughputPoint(b, r, b / r, 10) for b, r in rate.items()]


def test_knee_on_a_throughput_curve_that_saturates() -> None:
    sizes = [2 ** k for k in range(11)]
    # Perfect scaling up to 64 (100 ex/s per example of batch), flat after.
    flat = {b: min(100.0 * b, 6400.0) for b in sizes}
    assert find_knee(list(flat), list(flat.values())) == 64
    # A smooth saturating curve 10000 * b / (b + 32): the top measured is 9697 (b = 1024),
    # and 256 is the first size above 90% of it (8889 >= 8727).
    smooth = {b: 10000 * b / (b + 32) for b in sizes}
    best = max(smooth.values())
    knee = find_knee(list(smooth), list(smooth.values()))
    assert knee == min(b for b, r in smooth.items() if r >= 0.9 * best) == 256
    # A noisy dip after the knee does not move it.
    noisy = {**flat, 256: 6100.0, 512: 6500.0}
    assert find_knee(list(noisy), list(noisy.values())) == 64


def test_summary_reports_range_knee_and_still_scaling() -> None:
    scan = summarize_scan(_points({1: 10, 2: 20, 4: 40, 8: 41}), "out of memory at 16")
    assert scan.feasible == (1, 8) and scan.knee == 4 and not scan.still_scaling
    assert scan.note == RETUNE_NOTE and "re-opens the learning rate" in scan.note
    rising = summarize_scan(_points({1: 10, 2: 20, 4: 40}), "reached the maximum")
    assert rising.still_scaling and rising.knee == 4
    empty = summarize_scan([], "out of memory at batch size 1")
    assert empty.feasible is None and empty.knee is None


def test_bad_knee_input() -> None:
    with pytest.raises(SpecError):
        find_knee([1, 2], [1.0])
    with pytest.raises(SpecError):
        find_knee([1], [1.0], fraction=0)


def test_input_verdict() -> None:
    bound = judge_input(wait_s=2.0, compute_s=8.0, steps=10)
    assert bound.wait_share == pytest.approx(0.2) and bound.input_bound
    assert any("num_workers" in s for s in bound.suggestions)
    assert any("cache" in s for s in bound.suggestions)
    fine = judge_input(wait_s=0.05, compute_s=8.0, steps=10)
    assert not fine.input_bound and fine.suggestions == ()
    assert judge_input(2.0, 8.0, 10, threshold=0.3).input_bound is False
    with pytest.raises(SpecError, match="threshold"):
        judge_input(1, 1, 1, threshold=1.5)
