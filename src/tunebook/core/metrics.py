"""The checklist's metrics (section 1.1) computed from per-example predictions (torch-free).

Accuracy, F1 (macro and per class) and AUC come from scikit-learn; the calibration error is
the expected calibration error (ECE) of the top-label confidence, which scikit-learn does not
provide. ``group_gap`` is the fairness view: any metric per group and the gap between the best
and the worst group. ``prediction_report`` reads the rows ``Run.save_predictions`` stored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from tunebook.core.errors import SpecError

CALIBRATION_BINS = 15


@dataclass(frozen=True)
class ClassificationMetrics:
    n: int
    accuracy: float
    f1_macro: float
    f1_per_class: dict[str, float]
    auc: float | None                 # one-vs-rest macro AUC; None when it cannot be computed
    calibration_error: float | None   # ECE of the top-label confidence; None without confidence


@dataclass(frozen=True)
class GroupGap:
    metric: str
    per_group: dict[str, float]
    sizes: dict[str, int]
    best: str
    worst: str
    gap: float                        # best group's value minus the worst group's


@dataclass(frozen=True)
class PredictionReport:
    metrics: ClassificationMetrics
    groups: GroupGap | None


def classification_metrics(labels: Sequence[Any], predictions: Sequence[Any],
                           confidence: Sequence[float] | None = None,
                           probabilities: Any = None) -> ClassificationMetrics:
    """Accuracy, macro and per-class F1, AUC and calibration error of a classifier.

    ``probabilities`` (n x classes, columns in class order 0..K-1) gives the multi-class AUC;
    without it a binary AUC is derived from the top-label ``confidence``.

    >>> m = classification_metrics([0, 1, 1, 0], [0, 1, 0, 0], confidence=[.9, .8, .6, .7])
    >>> m.accuracy, round(m.f1_macro, 3), m.auc
    (0.75, 0.733, 1.0)
    """
    y = np.asarray(labels)
    p = np.asarray(predictions)
    _same_length(y, p, "predictions")
    if y.size == 0:
        raise SpecError("labels", "at least one example", 0)
    classes = np.unique(np.concatenate([y, p]))
    per_class = f1_score(y, p, labels=classes, average=None, zero_division=0)
    conf = None if confidence is None else np.asarray(confidence, dtype=float)
    if conf is not None:
        _same_length(y, conf, "confidence")
    return ClassificationMetrics(
        n=int(y.size),
        accuracy=float(accuracy_score(y, p)),
        f1_macro=float(f1_score(y, p, labels=classes, average="macro", zero_division=0)),
        f1_per_class={str(c): float(v) for c, v in zip(classes, per_class, strict=True)},
        auc=_auc(y, p, conf, probabilities, classes),
        calibration_error=None if conf is None else calibration_error(y == p, conf),
    )


def calibration_error(correct: Sequence[bool] | np.ndarray,
                      confidence: Sequence[float] | np.ndarray,
                      bins: int = CALIBRATION_BINS) -> float:
    """Expected calibration error: the example-weighted mean |accuracy - confidence| over
    equal-width confidence bins.

    >>> calibration_error([True, False], [0.9, 0.9], bins=10)
    0.4
    """
    ok = np.asarray(correct, dtype=float)
    conf = np.clip(np.asarray(confidence, dtype=float), 0.0, 1.0)
    _same_length(ok, conf, "confidence")
    which = np.minimum((conf * bins).astype(int), bins - 1)
    total = 0.0
    for b in np.unique(which):
        mask = which == b
        total += mask.sum() * abs(ok[mask].mean() - conf[mask].mean())
    return round(float(total / ok.size), 12)


_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": lambda y, p: float(accuracy_score(y, p)),
    "error": lambda y, p: 1.0 - float(accuracy_score(y, p)),
    "f1_macro": lambda y, p: float(f1_score(y, p, average="macro", zero_division=0)),
}


def group_gap(labels: Sequence[Any], predictions: Sequence[Any], groups: Sequence[Any],
              metric: str | Callable[[np.ndarray, np.ndarray], float] = "accuracy"
              ) -> GroupGap:
    """A metric per group and the gap between the best and worst group (fairness view).

    >>> g = group_gap([1, 1, 0, 0], [1, 1, 0, 1], ["a", "a", "b", "b"])
    >>> g.per_group, g.worst, g.gap
    ({'a': 1.0, 'b': 0.5}, 'b', 0.5)
    """
    if callable(metric):
        fn, name = metric, getattr(metric, "__name__", "metric")
    else:
        if metric not in _METRICS:
            raise SpecError("group metric", f"one of {sorted(_METRICS)} or a function", metric)
        fn, name = _METRICS[metric], metric
    y, p, g = np.asarray(labels), np.asarray(predictions), np.asarray(groups).astype(str)
    _same_length(y, p, "predictions")
    _same_length(y, g, "groups")
    if y.size == 0:
        raise SpecError("labels", "at least one example", 0)
    values = {str(k): float(fn(y[g == k], p[g == k])) for k in np.unique(g)}
    sizes = {k: int((g == k).sum()) for k in values}
    lower_is_better = name == "error"
    best = (min if lower_is_better else max)(values, key=values.__getitem__)
    worst = (max if lower_is_better else min)(values, key=values.__getitem__)
    return GroupGap(name, values, sizes, best, worst, abs(values[best] - values[worst]))


def prediction_report(rows: Sequence[Mapping[str, str]], group_column: str | None = None,
                      metric: str = "accuracy") -> PredictionReport:
    """Metrics (and the per-group gap) of stored prediction rows (id, label, prediction,
    confidence, extra columns), e.g. from ``tunebook.experiments.baseline.read_predictions``."""
    if not rows:
        raise SpecError("predictions", "at least one row", 0)
    if group_column is not None and group_column not in rows[0]:
        raise SpecError("group column", f"one of the stored columns {sorted(rows[0])}",
                        group_column)
    labels = [r["label"] for r in rows]
    preds = [r["prediction"] for r in rows]
    conf = [float(r["confidence"]) for r in rows] if "confidence" in rows[0] else None
    metrics = classification_metrics(labels, preds, conf)
    gap = None if group_column is None else group_gap(
        labels, preds, [r[group_column] for r in rows], metric)
    return PredictionReport(metrics, gap)


def _auc(y: np.ndarray, p: np.ndarray, conf: np.ndarray | None, probabilities: Any,
         classes: np.ndarray) -> float | None:
    if len(np.unique(y)) < 2:
        return None  # AUC needs both outcomes among the labels
    if probabilities is not None:
        probs = np.asarray(probabilities, dtype=float)
        if probs.ndim != 2 or probs.shape[0] != y.size:
            raise SpecError("probabilities", f"an array of shape ({y.size}, classes)",
                            getattr(probs, "shape", None))
        if probs.shape[1] == 2:
            return float(roc_auc_score(y, probs[:, 1]))
        return float(roc_auc_score(y, probs, multi_class="ovr", average="macro",
                                   labels=list(range(probs.shape[1]))))
    if conf is not None and len(classes) == 2:
        positive = classes[1]
        score = np.where(p == positive, conf, 1.0 - conf)
        return float(roc_auc_score(y == positive, score))
    return None


def _same_length(a: np.ndarray, b: np.ndarray, name: str) -> None:
    if len(a) != len(b):
        raise SpecError(name, f"{len(a)} values (one per label)", len(b))
