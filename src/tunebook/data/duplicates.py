"""Exact and near duplicate examples, and duplicates that cross splits (leakage).

Exact duplicates hash every feature of a row (pandas' vectorised row hash). Near duplicates are
found two ways: rows equal once numbers are rounded to a small fraction of their column's
(robust) spread and text is lower-cased and trimmed (scales to millions of rows), and, on tables
small enough with 8+ independent numeric columns (images, embeddings), nearest neighbours in
standardised feature space closer than 0.13 x the median neighbour distance (the rule cleanlab's
Datalab uses for its near-duplicate issue).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tunebook.core.score import SPLITS

KNN_MAX_ROWS = 20_000
NEAR_TOL = 1e-3           # rounding step, in standard deviations of the column
KNN_THRESHOLD = 0.13      # Datalab's default: closer than 0.13 x the median NN distance
KNN_MIN_DIMS = 8          # below this, random neighbours fall under the threshold too often


@dataclass(frozen=True)
class Duplicates:
    kind: str                        # "exact" | "near"
    groups: int                      # sets of rows that duplicate each other
    rows: int                        # rows in those sets beyond the first of each
    conflicting_labels: int          # sets whose rows carry different labels
    across_splits: int               # sets that span more than one split (leakage)
    examples: list[list[Any]] = field(default_factory=list)       # ids, a few sets
    leak_examples: list[dict[str, Any]] = field(default_factory=list)
    method: str = ""


def row_hash(df: pd.DataFrame) -> np.ndarray:
    return pd.util.hash_pandas_object(df, index=False).to_numpy()


def _spread(x: np.ndarray) -> np.ndarray:
    """Per column a robust scale (IQR / 1.349, else the standard deviation), so one extreme
    value does not squash a column to nothing."""
    q1, q3 = np.nanquantile(x, [0.25, 0.75], axis=0)
    iqr = (q3 - q1) / 1.349
    return np.where(iqr > 0, iqr, np.nanstd(x, axis=0))


def _spread1(v: np.ndarray) -> float:
    """_spread of one column, without numpy's slow per-column path for nanquantile."""
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return 0.0
    q1, q3 = np.quantile(v, [0.25, 0.75])
    return float((q3 - q1) / 1.349) if q3 > q1 else float(v.std())


def _rounded_hash(df: pd.DataFrame) -> np.ndarray:
    """A row hash of the table with numbers rounded and text normalised (no copy of the table)."""
    h = np.zeros(len(df), dtype=np.uint64)
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            v = s.to_numpy(dtype=np.float64, na_value=np.nan)
            sd = _spread1(v)
            col = pd.util.hash_array(np.round(v / (NEAR_TOL * sd)) if sd > 0 else v)
        else:
            col = pd.util.hash_array(s.astype(str).str.strip().str.lower().to_numpy())
        with np.errstate(over="ignore"):
            h = (h * np.uint64(1_000_003)) ^ col
    return h


def _summarise(kind: str, set_id: np.ndarray, ids: np.ndarray, labels: np.ndarray,
               codes: np.ndarray | None, method: str) -> Duplicates:
    """``set_id``: per row, the duplicate set it belongs to (-1 when none)."""
    member = set_id >= 0
    if not member.any():
        return Duplicates(kind, 0, 0, 0, 0, method=method)
    frame = pd.DataFrame({"s": set_id[member], "id": ids[member], "y": labels[member],
                          "c": codes[member] if codes is not None else 0})
    by = frame.groupby("s", sort=False)
    n_sets = by.ngroups
    conflicting = int((by["y"].nunique() > 1).sum())
    spans = by["c"].nunique() > 1 if codes is not None else pd.Series(dtype=bool)
    examples = [g["id"].tolist()[:5] for _, g in list(by)[:5]]
    leaks = []
    if codes is not None and spans.any():
        for s in spans[spans].index[:5]:
            g = frame[frame["s"] == s]
            leaks.append({"ids": g["id"].tolist()[:5],
                          "splits": sorted({SPLITS[int(c)] for c in g["c"] if c >= 0})})
    return Duplicates(kind, n_sets, int(member.sum()) - n_sets, conflicting,
                      int(spans.sum()) if codes is not None else 0, examples, leaks, method)


def _sets_from_hash(h: np.ndarray) -> np.ndarray:
    codes, _ = pd.factorize(h)
    dup = pd.Series(codes).duplicated(keep=False).to_numpy()
    return np.where(dup, codes, -1)


def find_duplicates(features: pd.DataFrame, ids: np.ndarray, labels: np.ndarray,
                    codes: np.ndarray | None = None) -> tuple[Duplicates, Duplicates]:
    """Exact and near duplicate sets among rows of ``features`` (split ``codes`` optional)."""
    exact_sets = _sets_from_hash(row_hash(features))
    exact = _summarise("exact", exact_sets, ids, labels, codes, "identical feature values")
    near_sets = _sets_from_hash(_rounded_hash(features))
    method = f"equal after rounding numbers to {NEAR_TOL} of their spread"
    numeric = features.select_dtypes("number")
    if len(features) <= KNN_MAX_ROWS and numeric.shape[1] >= KNN_MIN_DIMS:
        near_sets = _merge(near_sets, _knn_sets(numeric))
        method += (f"; nearest neighbours closer than {KNN_THRESHOLD} x the median distance "
                   f"(with {KNN_MIN_DIMS}+ independent numeric columns)")
    else:
        method += (f" (neighbour search needs at most {KNN_MAX_ROWS} rows and "
                   f"{KNN_MIN_DIMS}+ numeric columns)")
    # Near means near but not identical: drop sets made only of exact copies of one row.
    sets = pd.DataFrame({"s": near_sets, "e": np.where(exact_sets >= 0, exact_sets,
                                                       -np.arange(1, len(ids) + 1))})
    distinct = sets[sets["s"] >= 0].groupby("s")["e"].nunique()
    keep = sets["s"].isin(distinct[distinct > 1].index).to_numpy()
    near = _summarise("near", np.where(keep, near_sets, -1), ids, labels, codes, method)
    return exact, near


def _knn_sets(numeric: pd.DataFrame) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from sklearn.neighbors import NearestNeighbors

    x = numeric.to_numpy(dtype=np.float64, na_value=np.nan)
    med = np.nanmedian(x, axis=0)
    x = np.where(np.isnan(x), np.where(np.isnan(med), 0.0, med), x)
    sd = _spread(x)
    x = (x - np.median(x, axis=0)) / np.where(sd > 0, sd, 1.0)
    n = len(x)
    # For points scattered at random in k dimensions, P(NN distance < t x median) ~ t^k ln 2:
    # the 0.13 rule suits embeddings and images, but flags random pairs in 2-3 dimensions.
    if n < 3 or (x.shape[1] <= 200 and np.linalg.matrix_rank(x) < KNN_MIN_DIMS):
        return np.full(n, -1)
    dist, idx = NearestNeighbors(n_neighbors=2).fit(x).kneighbors(x)
    d = dist[:, 1]
    scale = np.median(d)
    close = d <= KNN_THRESHOLD * scale if scale > 0 else d == 0
    rows = np.flatnonzero(close)
    graph = coo_matrix((np.ones(len(rows)), (rows, idx[rows, 1])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    sizes = np.bincount(comp)
    return np.where(sizes[comp] > 1, comp, -1)


def _merge(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Union of two set labellings (rows linked by either end up in one set)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(a)
    edges = []
    for lab in (a, b):
        rows = np.flatnonzero(lab >= 0)
        first = pd.Series(rows).groupby(lab[rows]).transform("first").to_numpy()
        edges.append((rows, first))
    r = np.concatenate([e[0] for e in edges])
    c = np.concatenate([e[1] for e in edges])
    _, comp = connected_components(coo_matrix((np.ones(len(r)), (r, c)), shape=(n, n)),
                                   directed=False)
    sizes = np.bincount(comp)
    return np.where(sizes[comp] > 1, comp, -1)
