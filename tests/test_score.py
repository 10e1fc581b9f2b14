from __future__ import annotations

import math

import pytest

from tunebook.core.errors import SpecError
from tunebook.core.score import Scorer, best_step, metric_key, parse_constraint, parse_formula

KNOWN = {"dev/accuracy", "dev/latency_ms", "train_dev/accuracy", "train/loss"}


def test_metric_key_prefers_the_longest_split() -> None:
    assert metric_key("dev_accuracy") == "dev/accuracy"
    assert metric_key("train_dev_accuracy") == "train_dev/accuracy"
    assert metric_key("train_loss") == "train/loss"
    assert metric_key("lr") == "lr" and metric_key("dev/x") == "dev/x"


def test_formula_is_arithmetic_only() -> None:
    f = parse_formula("dev_accuracy - 0.01 * dev_latency_ms ** 2 / 2", KNOWN)
    assert f({"dev/accuracy": 0.9, "dev/latency_ms": 2.0}) == pytest.approx(0.88)
    assert f.metrics == ("dev/accuracy", "dev/latency_ms")
    for bad in ("open('x')", "dev_accuracy.real", "[1][0]", "lambda: 1", "dev_accuracy > 1",
                "'a' * 3", "True + 1"):
        with pytest.raises(SpecError):
            parse_formula(bad, KNOWN)


def test_division_by_zero_gives_nan_not_a_crash() -> None:
    f = parse_formula("dev_accuracy / dev_latency_ms", KNOWN)
    assert math.isnan(f({"dev/accuracy": 1.0, "dev/latency_ms": 0.0}))


def test_constraint_parsing() -> None:
    c = parse_constraint("dev_latency_ms <= 20", KNOWN, "constraints[0]")
    assert (c.metric, c.op, c.value) == ("dev/latency_ms", "<=", 20.0)
    assert c.holds(20) and not c.holds(20.1) and not c.holds(math.nan)


def test_best_step_skips_infeasible_and_prefers_feasible() -> None:
    scorer = Scorer("max", parse_formula("dev_accuracy", KNOWN),
                    (parse_constraint("dev/latency_ms <= 10", KNOWN, "c"),))
    curve = {
        10: {"dev/accuracy": 0.5, "dev/latency_ms": 5, "train/loss": 1.0},
        20: {"dev/accuracy": 0.9, "dev/latency_ms": 50},   # best, but infeasible
        30: {"dev/accuracy": 0.7, "dev/latency_ms": 5},
        35: {"train/loss": 0.1},                             # not an eval step
        40: {"dev/accuracy": 0.6, "dev/latency_ms": 5},
    }
    b = best_step(curve, scorer)
    assert (b.step, b.score, b.feasible) == (30, 0.7, True)
    only_bad = best_step({20: curve[20]}, scorer)
    assert (only_bad.step, only_bad.feasible) == (20, False)
    assert best_step({}, scorer).step is None


def test_best_step_for_min_goal() -> None:
    scorer = Scorer("min", parse_formula("train_loss", KNOWN))
    b = best_step({1: {"train/loss": 3.0}, 2: {"train/loss": 1.0}, 3: {"train/loss": 2.0}},
                  scorer)
    assert b.step == 2
