"""The checklist's metrics computed from predictions (torch-free)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tunebook.core.errors import SpecError
from tunebook.core.metrics import (
    calibration_error,
    classification_metrics,
    group_gap,
    prediction_report,
)


def test_accuracy_and_f1_macro_and_per_class() -> None:
    m = classification_metrics([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0])
    assert m.n == 6 and m.accuracy == pytest.approx(4 / 6)
    # class 0: p=1/2 r=1/2 f=1/2; class 1: p=2/3 r=1 f=0.8; class 2: p=1 r=1/2 f=2/3
    assert m.f1_per_class == pytest.approx({"0": 0.5, "1": 0.8, "2": 2 / 3})
    assert m.f1_macro == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert m.auc is None and m.calibration_error is None  # nothing to compute them from


def test_multiclass_auc_from_probabilities_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    probs = rng.dirichlet([1, 1, 1], 200)
    probs[np.arange(200), y] += 0.5
    probs /= probs.sum(1, keepdims=True)
    m = classification_metrics(y, probs.argmax(1), probs.max(1), probabilities=probs)
    assert m.auc == pytest.approx(roc_auc_score(y, probs, multi_class="ovr"))
    assert 0 <= (m.calibration_error or 0) <= 1


def test_binary_auc_from_confidence() -> None:
    y = np.array([0, 0, 1, 1, 1, 0])
    p_pos = np.array([0.1, 0.6, 0.7, 0.4, 0.9, 0.3])
    pred = (p_pos > 0.5).astype(int)
    conf = np.where(pred == 1, p_pos, 1 - p_pos)
    m = classification_metrics(y, pred, conf)
    assert m.auc == pytest.approx(roc_auc_score(y, p_pos))


def test_calibration_error_on_known_cases() -> None:
    assert calibration_error([True] * 10, [1.0] * 10) == 0.0
    # 80% confident, 80% right: calibrated.
    assert calibration_error([True] * 8 + [False] * 2, [0.8] * 10) == pytest.approx(0.0)
    # Two bins: (0.9 conf, 50% right) and (0.3 conf, 100% right), equal weight.
    ece = calibration_error([True, False, True, True], [0.9, 0.9, 0.3, 0.3], bins=10)
    assert ece == pytest.approx(0.5 * 0.4 + 0.5 * 0.7)


def test_group_gap_is_the_fairness_view() -> None:
    g = group_gap([1, 1, 0, 0, 1, 0], [1, 1, 0, 1, 0, 1], ["a", "a", "a", "b", "b", "b"])
    assert g.per_group == {"a": 1.0, "b": 0.0} and g.sizes == {"a": 3, "b": 3}
    assert (g.best, g.worst, g.gap) == ("a", "b", 1.0)
    err = group_gap([1, 0], [1, 1], ["x", "y"], metric="error")
    assert (err.best, err.worst) == ("x", "y")
    custom = group_gap([1, 0, 1], [1, 0, 0], [0, 0, 1], metric=lambda y, p: float(len(y)))
    assert custom.per_group == {"0": 2.0, "1": 1.0}
    with pytest.raises(SpecError, match="group metric"):
        group_gap([1], [1], ["a"], metric="auc")
    with pytest.raises(SpecError, match="groups"):
        group_gap([1, 0], [1, 0], ["a"])


def test_report_from_stored_prediction_rows() -> None:
    rows = [{"id": str(i), "label": str(i % 2), "prediction": str(int(i < 3) * (i % 2)),
             "confidence": "0.8", "site": "north" if i < 3 else "south"} for i in range(6)]
    report = prediction_report(rows, group_column="site")
    assert report.metrics.accuracy == pytest.approx(4 / 6)
    assert report.groups is not None and report.groups.worst == "south"
    with pytest.raises(SpecError, match="group column"):
        prediction_report(rows, group_column="region")
    with pytest.raises(SpecError, match="confidence"):
        classification_metrics([0, 1], [0, 1], [0.5])
