"""Metrics, constraints, the single scalar score, and retrospective best-step selection.

A score formula is parsed with :mod:`ast` and only arithmetic on metric names and numbers is
allowed; it is never passed to ``eval``. In a formula a metric ``dev/accuracy`` is written
``dev_accuracy`` because ``/`` is division.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from tunebook.core.errors import ScoreError, SpecError

SPLITS = ("train", "train_dev", "dev", "test")
Goal = Literal["max", "min"]

_OPS: dict[type, Callable[..., float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][\w/]*)\s*(<=|>=|<|>)\s*(\S+)\s*$")
# The store's metric column holds 200 characters; a longer name is refused where it is logged.
MAX_METRIC_KEY = 200
# Bounds on a formula: Python's parser and our evaluator recurse per operator, and a score is a
# small expression, not a program.
MAX_FORMULA_CHARS = 2000
MAX_FORMULA_NODES = 400


def checked_metric_key(name: str) -> str:
    """``metric_key(name)``, refused when the store cannot hold it (for ``run.log``)."""
    key = metric_key(name)
    if not key or len(key) > MAX_METRIC_KEY:
        raise SpecError("run.log metric name", f"1 to {MAX_METRIC_KEY} characters", name)
    return key


def metric_key(name: str) -> str:
    """``dev_accuracy`` -> ``dev/accuracy`` (longest split prefix first); keys with '/' stay."""
    if "/" in name:
        return name
    for split in sorted(SPLITS, key=len, reverse=True):
        if name.startswith(split + "_") and len(name) > len(split) + 1:
            return f"{split}/{name[len(split) + 1:]}"
    return name


def formula_name(key: str) -> str:
    return key.replace("/", "_")


@dataclass(frozen=True)
class Formula:
    """A safe arithmetic formula over metric keys."""

    text: str
    metrics: tuple[str, ...]
    _tree: ast.Expression

    def __call__(self, values: Mapping[str, float]) -> float:
        try:
            result = _evaluate(self._tree.body, values)
        except OverflowError:
            raise ScoreError(f"score formula '{self.text}' overflowed for "
                             f"{_shown(values, self.metrics)}") from None
        if isinstance(result, complex):  # (-1) ** 0.5: Python answers with a complex number
            raise ScoreError(f"score formula '{self.text}' gave the complex number {result:.4g} "
                             f"for {_shown(values, self.metrics)}") from None
        return float(result)


def _shown(values: Mapping[str, float], keys: tuple[str, ...]) -> str:
    return ", ".join(f"{k} = {values.get(k)!r}" for k in keys) or "no metrics"


def _evaluate(node: ast.AST, values: Mapping[str, float]) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.Name):
        return float(values[metric_key(node.id)])
    if isinstance(node, ast.BinOp):
        try:
            return _OPS[type(node.op)](_evaluate(node.left, values), _evaluate(node.right, values))
        except ZeroDivisionError:
            return math.nan
    if isinstance(node, ast.UnaryOp):
        return _OPS[type(node.op)](_evaluate(node.operand, values))
    raise TypeError(type(node).__name__)  # unreachable after parse_formula's checks


def parse_formula(text: str, known: set[str], where: str = "score.formula") -> Formula:
    """Parse ``text``; refuse anything but numbers, known metric names and + - * / **.

    >>> parse_formula("dev_accuracy - 0.001 * dev_latency_ms",
    ...               {"dev/accuracy", "dev/latency_ms"})({"dev/accuracy": 0.9,
    ...                                                   "dev/latency_ms": 10})
    0.89
    """
    if len(text) > MAX_FORMULA_CHARS:
        raise SpecError(where, f"a formula of at most {MAX_FORMULA_CHARS} characters",
                        f"{len(text)} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise SpecError(where, "an arithmetic formula of metric names", text, str(exc.msg)) from exc
    except (RecursionError, MemoryError):
        raise SpecError(where, "a formula nested less deeply", f"{len(text)} characters") from None
    size = sum(1 for _ in ast.walk(tree))
    if size > MAX_FORMULA_NODES:
        raise SpecError(where, f"a formula of at most {MAX_FORMULA_NODES} numbers, names and "
                        "operators", f"{size}")
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Expression | ast.Load) or type(node) in _OPS:
            continue
        if isinstance(node, ast.BinOp | ast.UnaryOp):
            if type(node.op) not in _OPS:
                raise SpecError(where, "only + - * / ** in the formula", type(node.op).__name__)
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) \
                and not isinstance(node.value, bool):
            continue
        if isinstance(node, ast.Name):
            key = metric_key(node.id)
            if key not in known:
                options = sorted(formula_name(k) for k in known)
                raise SpecError(where, f"metric names among {options}", node.id,
                                _nearest(formula_name(key), options))
            names.append(key)
            continue
        raise SpecError(where, "only numbers, metric names and + - * / **",
                        ast.unparse(node) if hasattr(ast, "unparse") else type(node).__name__,
                        "Function calls, attributes and other Python are not allowed.")
    return Formula(text, tuple(dict.fromkeys(names)), tree)


def _nearest(got: str, options: list[str]) -> str:
    import difflib

    best = difflib.get_close_matches(got, options, n=1)
    return f"Did you mean '{best[0]}'?" if best else ""


@dataclass(frozen=True)
class Constraint:
    """A satisficing threshold such as ``dev/latency_ms <= 20``."""

    metric: str
    op: str
    value: float

    def holds(self, x: float) -> bool:
        if not math.isfinite(x):
            return False
        return {"<=": x <= self.value, "<": x < self.value,
                ">=": x >= self.value, ">": x > self.value}[self.op]

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


def parse_constraint(text: str, known: set[str], where: str) -> Constraint:
    m = _CONSTRAINT.match(text)
    if not m:
        raise SpecError(where, "a constraint like 'dev/latency_ms <= 20'", text)
    key = metric_key(m.group(1))
    if key not in known:
        raise SpecError(where, f"a metric among {sorted(known)}", key, _nearest(key, sorted(known)))
    try:
        value = float(m.group(3))
    except ValueError:
        value = math.nan
    if math.isnan(value):
        raise SpecError(where, "a number after the comparison, like 'dev/latency_ms <= 20'",
                        m.group(3))
    return Constraint(key, m.group(2), value)


@dataclass(frozen=True)
class Scorer:
    """Turns the metrics logged at one step into (score, feasible)."""

    goal: Goal
    formula: Formula
    constraints: tuple[Constraint, ...] = ()

    @property
    def needs(self) -> tuple[str, ...]:
        names = self.formula.metrics + tuple(c.metric for c in self.constraints)
        return tuple(dict.fromkeys(names))

    def better(self, a: float, b: float) -> bool:
        return a > b if self.goal == "max" else a < b

    def evaluate(self, metrics: Mapping[str, float]) -> tuple[float, bool]:
        score = self.formula(metrics)
        feasible = math.isfinite(score) and all(c.holds(metrics[c.metric])
                                                for c in self.constraints)
        return score, feasible


@dataclass(frozen=True)
class BestStep:
    step: int | None
    score: float | None
    feasible: bool
    metrics: dict[str, float]


def best_step(curve: Mapping[int, Mapping[str, float]], scorer: Scorer) -> BestStep:
    """The eval step with the best score among steps that meet every constraint.

    ``curve`` maps step -> {metric: value}. Steps missing a needed metric are not eval steps.
    When no step is feasible, the best infeasible step is returned with ``feasible=False`` so the
    trial still carries a number (it is never "best" of a round).
    """
    best: tuple[int, float, bool] | None = None
    for step in sorted(curve):
        values = curve[step]
        if any(k not in values for k in scorer.needs):
            continue
        score, feasible = scorer.evaluate(values)
        if not math.isfinite(score):
            continue
        if best is None or (feasible and not best[2]) or (
            feasible == best[2] and scorer.better(score, best[1])
        ):
            best = (step, score, feasible)
    if best is None:
        return BestStep(None, None, False, {})
    return BestStep(best[0], best[1], best[2], dict(curve[best[0]]))
