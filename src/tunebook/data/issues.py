"""Likely label errors, found by cleanlab's confident learning when cleanlab is installed.

Out-of-fold class probabilities come from a logistic regression on the numeric features (a
cheap, well-calibrated model is enough to flag examples whose label disagrees with the rest);
``cleanlab.filter.find_label_issues`` then ranks the suspects. Without cleanlab the check is
reported as skipped with the command that enables it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

MAX_ROWS = 20_000   # a random sample this large bounds the cost on big tables
MIN_PER_CLASS = 5


@dataclass(frozen=True)
class LabelIssues:
    status: str                       # "ok" | "skipped"
    reason: str = ""
    checked_rows: int = 0
    count: int = 0
    rate: float = 0.0                 # share of checked rows flagged
    examples: list[Any] = field(default_factory=list)   # ids, most suspicious first
    method: str = ""


def find_label_issues(features: pd.DataFrame, labels: np.ndarray, ids: np.ndarray,
                      seed: int = 0) -> LabelIssues:
    """Rows whose label the features disagree with, most suspicious first."""
    try:
        from cleanlab.filter import find_label_issues as cl_find
    except ImportError:
        return LabelIssues("skipped", "needs cleanlab: pip install 'tunebook[cleanlab]'")
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    numeric = features.select_dtypes("number")
    if numeric.shape[1] == 0:
        return LabelIssues("skipped", "no numeric feature columns to learn the labels from")
    rng = np.random.default_rng(seed)
    rows = np.arange(len(labels))
    if len(rows) > MAX_ROWS:
        rows = np.sort(rng.choice(rows, MAX_ROWS, replace=False))
    y_codes, classes = pd.factorize(labels[rows])
    counts = np.bincount(y_codes)
    if len(classes) < 2 or len(classes) > 200:
        return LabelIssues("skipped", f"{len(classes)} distinct labels: not a classification "
                           "label this check can learn")
    keep = counts[y_codes] >= MIN_PER_CLASS
    rows, y_codes = rows[keep], pd.factorize(labels[rows[keep]])[0]
    if len(np.unique(y_codes)) < 2:
        return LabelIssues("skipped", f"fewer than two classes with {MIN_PER_CLASS}+ rows")
    x = numeric.to_numpy(dtype=np.float64, na_value=np.nan)[rows]
    med = np.nanmedian(x, axis=0)
    x = np.where(np.isnan(x), np.where(np.isnan(med), 0.0, med), x)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
    # One BLAS/OpenMP thread: extra threads oversubscribe a shared machine's cores.
    with threadpool_limits(1):
        probs = cross_val_predict(model, x, y_codes, cv=3, method="predict_proba")
        flagged = cl_find(labels=y_codes, pred_probs=probs, n_jobs=1,
                          return_indices_ranked_by="self_confidence")
    return LabelIssues("ok", checked_rows=len(rows), count=len(flagged),
                       rate=len(flagged) / len(rows), examples=ids[rows[flagged[:10]]].tolist(),
                       method="cleanlab.filter.find_label_issues over out-of-fold logistic "
                              "regression probabilities")
