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
import statistics
from collections.abc import Callable, Mapping, Sequence
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


# An eval far above both neighbours is a glitch until a neighbour confirms it (the one rule for
# "is this eval the best step", used by the worker, rescoring and the curve diagnosis).
GLITCH_K = 4.0        # standard errors an isolated eval must stand above its neighbours
GLITCH_MOVES = 2.0    # ... and twice the curve's median eval-to-eval change
GLITCH_MIN_EVALS = 5  # fewer evals give no estimate of the curve's own noise
EVAL_SIZE_SUFFIX = "examples"   # a logged "<split>/examples" is the eval set's size


@dataclass(frozen=True)
class BestStep:
    step: int | None
    score: float | None
    feasible: bool
    metrics: dict[str, float]
    glitches: tuple[int, ...] = ()   # isolated eval steps passed over (never the best step)


def eval_size(curve: Mapping[int, Mapping[str, float]], key: str) -> int | None:
    """The eval set's size for metric ``key`` (``dev/accuracy`` -> a logged ``dev/examples``).

    The training function logs it once (``run.log(step, dev_examples=len(dev_set))``); the
    latest value wins. None when it was never logged.
    """
    split = metric_key(key).split("/", 1)[0]
    name = f"{split}/{EVAL_SIZE_SUFFIX}"
    sizes = [curve[s][name] for s in sorted(curve) if name in curve[s]]
    n = sizes[-1] if sizes else None
    return int(n) if n is not None and math.isfinite(n) and n >= 1 else None


def point_noise(values: Sequence[float], n_eval: int | None = None) -> float:
    """One eval's standard error: the larger of the binomial SE and the curve's own scatter.

    The binomial SE ``sqrt(p (1 - p) / n)`` applies to a share (an accuracy) measured on
    ``n_eval`` examples; the scatter is a robust estimate from second differences (blind to
    the curve's trend and bend, and to one outlier): for white noise of std s,
    ``y[i+1] - 2 y[i] + y[i-1]`` has std ``s * sqrt(6)``.

    >>> round(point_noise([0.5, 0.5, 0.5, 0.5], n_eval=100), 3)
    0.05
    """
    y = [float(v) for v in values if math.isfinite(v)]
    binom = 0.0
    if n_eval and y and all(0.0 <= v <= 1.0 for v in y):
        p = min(max(statistics.median(y), 1.0 / n_eval), 1 - 1.0 / n_eval)
        binom = math.sqrt(p * (1 - p) / n_eval)
    scatter = 0.0
    if len(y) >= 4:
        d2 = [y[i + 1] - 2 * y[i] + y[i - 1] for i in range(1, len(y) - 1)]
        med = statistics.median(d2)
        scatter = 1.4826 * statistics.median(abs(d - med) for d in d2) / math.sqrt(6)
    spread = (max(y) - min(y)) if y else 0.0
    return max(binom, scatter, 1e-9 * (1.0 + spread))


def isolated_evals(values: Sequence[float], *, higher_is_better: bool = True,
                   n_eval: int | None = None, k: float = GLITCH_K) -> list[int]:
    """Indices of evals that stand alone above the curve: glitches, not results.

    Rule (named in the docs as "a best step must be confirmed by a neighbour"): an eval is
    isolated when it beats the better of its neighbours by more than ``k`` standard errors
    (:func:`point_noise`) and GLITCH_MOVES times the median eval-to-eval change, *and* its
    second difference is ``k`` robust deviations below the
    curve's typical bend; the first and last eval are compared with the straight line through
    their two neighbours, so a curve still rising at the end is not a glitch. Needs
    GLITCH_MIN_EVALS evals.

    >>> isolated_evals([0.50, 0.60, 0.65, 0.95, 0.66, 0.67, 0.68, 0.68])
    [3]
    >>> isolated_evals([0.50, 0.60, 0.65, 0.66, 0.67, 0.68, 0.69, 0.70])
    []
    """
    sign = 1.0 if higher_is_better else -1.0
    y = [sign * float(v) for v in values]
    n = len(y)
    if n < GLITCH_MIN_EVALS or not all(math.isfinite(v) for v in y):
        return []
    out = []
    for i in range(n):
        if i == 0:
            ref, bend = max(y[1], 2 * y[1] - y[2]), y[2] - 2 * y[1] + y[0]
        elif i == n - 1:
            ref, bend = max(y[-2], 2 * y[-2] - y[-3]), y[-1] - 2 * y[-2] + y[-3]
        else:
            ref, bend = max(y[i - 1], y[i + 1]), y[i + 1] - 2 * y[i] + y[i - 1]
        if y[i] <= ref:
            continue
        # The curve's noise and typical bend without this eval (a glitch inflates both).
        rest = y[:i] + y[i + 1:]
        se = point_noise([sign * v for v in rest], n_eval)
        d2 = [rest[j + 1] - 2 * rest[j] + rest[j - 1] for j in range(1, len(rest) - 1)]
        med = statistics.median(d2)
        floor = max(1.4826 * statistics.median(abs(d - med) for d in d2), math.sqrt(6) * se)
        # In the interior a glitch is a sharp negative second difference; at an end, a bend
        # of either sign away from the line through the two neighbours.
        sharp = (med - bend) if 0 < i < n - 1 else abs(bend - med)
        # A clean kink (a noise-free peak) is no glitch: the jump must also dwarf the
        # curve's ordinary eval-to-eval change.
        moves = statistics.median(abs(rest[j + 1] - rest[j]) for j in range(len(rest) - 1))
        if y[i] - ref > max(k * se, GLITCH_MOVES * moves) and sharp > k * floor:
            out.append(i)
    return out


def best_step(curve: Mapping[int, Mapping[str, float]], scorer: Scorer) -> BestStep:
    """The eval step with the best score among steps that meet every constraint.

    ``curve`` maps step -> {metric: value}. Steps missing a needed metric are not eval steps.
    When no step is feasible, the best infeasible step is returned with ``feasible=False`` so the
    trial still carries a number (it is never "best" of a round). An isolated eval
    (:func:`isolated_evals`: far above both neighbours, unconfirmed by either) is never the best
    step; it is returned in ``glitches``.
    """
    evals: list[tuple[int, float, bool]] = []
    for step in sorted(curve):
        values = curve[step]
        if any(k not in values for k in scorer.needs):
            continue
        score, feasible = scorer.evaluate(values)
        if math.isfinite(score):
            evals.append((step, score, feasible))
    key = scorer.formula.metrics[0] if scorer.formula.metrics else ""
    glitch_idx = set(isolated_evals([e[1] for e in evals], higher_is_better=scorer.goal == "max",
                                    n_eval=eval_size(curve, key) if key else None))
    best: tuple[int, float, bool] | None = None
    for i, (step, score, feasible) in enumerate(evals):
        if i in glitch_idx:
            continue
        if best is None or (feasible and not best[2]) or (
            feasible == best[2] and scorer.better(score, best[1])
        ):
            best = (step, score, feasible)
    glitches = tuple(evals[i][0] for i in sorted(glitch_idx))
    if best is None:
        return BestStep(None, None, False, {}, glitches)
    return BestStep(best[0], best[1], best[2], dict(curve[best[0]]), glitches)
