"""Data mismatch check: can a classifier tell training examples from dev examples?

A gradient-boosted domain classifier is trained to separate rows of split A (train) from rows of
split B (dev) with stratified cross-validation; its out-of-fold ROC AUC says how distinguishable
the two are: about 0.5 means the same distribution, near 1.0 means dev looks nothing like train
(checklist 1.2 and the mismatch branch of bias/variance diagnosis). Single-feature AUCs name
the features that differ most.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunebook.core.errors import SpecError

MAX_ROWS = 20_000   # per side; a random sample bounds the cost on big tables
MILD, STRONG = 0.6, 0.75


@dataclass(frozen=True)
class MismatchResult:
    auc: float                        # out-of-fold ROC AUC of the domain classifier
    auc_std: float                    # across folds
    n_a: int
    n_b: int
    verdict: str                      # "same distribution" | "mild mismatch" | "strong mismatch"
    a: str = "train"
    b: str = "dev"
    top_features: list[dict[str, Any]] = field(default_factory=list)  # name, auc
    method: str = ""
    features_from: str = "table"


def _matrix(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    if hasattr(x, "to_numpy"):
        x = x.to_numpy(dtype=np.float64, na_value=np.nan)
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        arr = arr.reshape(len(arr), -1)
    return arr


def domain_auc(a_features: Any, b_features: Any, seed: int = 0, *,
               names: list[str] | None = None, a: str = "train", b: str = "dev",
               folds: int = 5, max_rows: int = MAX_ROWS) -> MismatchResult:
    """How well a classifier separates ``a_features`` rows from ``b_features`` rows.

    Accepts NumPy arrays, PyTorch tensors or DataFrames (rows x features, e.g. embeddings).
    Example: ``domain_auc(x_train, x_dev, seed=0).auc`` -> 0.5 when dev looks like train.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    xa, xb = _matrix(a_features, a), _matrix(b_features, b)
    if xa.shape[1] != xb.shape[1]:
        raise SpecError("features", f"the same number of columns for {a} and {b}",
                        f"{xa.shape[1]} and {xb.shape[1]}")
    for split, arr in ((a, xa), (b, xb)):
        if len(arr) < folds:
            raise SpecError(f"{split} features", f"at least {folds} rows", len(arr))
    rng = np.random.default_rng(seed)
    if len(xa) > max_rows:
        xa = xa[rng.choice(len(xa), max_rows, replace=False)]
    if len(xb) > max_rows:
        xb = xb[rng.choice(len(xb), max_rows, replace=False)]
    x = np.vstack([xa, xb])
    y = np.r_[np.zeros(len(xa)), np.ones(len(xb))]
    probs = np.zeros(len(y))
    aucs = []
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    # One OpenMP thread: on a shared machine extra threads oversubscribe the cores and run
    # several times slower (measured 10x on 2 busy cores); the row cap bounds the cost instead.
    with threadpool_limits(1):
        for tr, te in cv.split(x, y):
            clf = HistGradientBoostingClassifier(max_iter=50, random_state=seed)
            # balance the two sides so a bigger split does not dominate the fit
            w = np.where(y[tr] == 1, len(xa) / len(xb), 1.0)
            clf.fit(x[tr], y[tr], sample_weight=w)
            probs[te] = clf.predict_proba(x[te])[:, 1]
            aucs.append(roc_auc_score(y[te], probs[te]))
    auc = float(roc_auc_score(y, probs))
    per: list[dict[str, Any]] = []
    for j in range(x.shape[1]):
        col = np.nan_to_num(x[:, j], nan=np.nanmedian(x[:, j]) if np.isfinite(x[:, j]).any()
                            else 0.0)
        if np.ptp(col) > 0:
            fa = float(roc_auc_score(y, col))
            per.append({"name": names[j] if names else str(j), "auc": max(fa, 1 - fa)})
    per.sort(key=lambda d: -float(d["auc"]))
    verdict = ("strong mismatch" if auc >= STRONG else
               "mild mismatch" if auc >= MILD else "same distribution")
    return MismatchResult(auc, float(np.std(aucs)), len(xa), len(xb), verdict, a, b, per[:5],
                          f"HistGradientBoostingClassifier, {folds}-fold out-of-fold ROC AUC")


def mismatch_project(project_dir: str | Path = ".", a: str = "train", b: str = "dev",
                     embeddings: str | Path | None = None, store: Any = None,
                     record: bool = True, seed: int = 0) -> MismatchResult:
    """Domain AUC between two recorded splits of the project; recorded as a 'mismatch' decision.

    Features are the table's numeric feature columns, or ``embeddings``: a .npy file with one
    row per table row (file order), or a CSV/Parquet table keyed by the project's id column.
    """
    import pandas as pd

    from tunebook.core.spec import load_project
    from tunebook.data.membership import require_membership
    from tunebook.data.project import columns_of, data_spec, load_splits, table_path
    from tunebook.data.table import read_table

    pdir = Path(project_dir)
    spec = data_spec(load_project(pdir / "tunebook.yaml"))
    cols = columns_of(spec)
    parts = load_splits(pdir)
    for s in (a, b):
        if len(parts[s]) == 0:
            raise SpecError("split", "a split with rows", f"'{s}' is empty")
    if embeddings is None:
        feats = [c for c in cols.feature_columns(parts[a])
                 if pd.api.types.is_numeric_dtype(parts[a][c])]
        if not feats:
            raise SpecError("data.features", "numeric feature columns or --embeddings", "none")
        fa, fb, names, src = parts[a][feats], parts[b][feats], feats, "table"
    else:
        emb = Path(embeddings)
        ids_a, ids_b = parts[a][cols.id], parts[b][cols.id]
        if emb.suffix == ".npy":
            arr = np.load(emb, allow_pickle=False)
            m = require_membership(pdir)
            full = read_table(table_path(pdir, str(m.input["file"])))
            if len(arr) != len(full):
                raise SpecError("--embeddings", f"{len(full)} rows, one per table row",
                                len(arr))
            pos = pd.Series(np.arange(len(full)), index=full[cols.id])
            fa, fb = arr[pos[ids_a].to_numpy()], arr[pos[ids_b].to_numpy()]
            names = None
        else:
            table = read_table(emb).set_index(cols.id)
            lost = ids_a[~ids_a.isin(table.index)].tolist() + ids_b[~ids_b.isin(table.index)]\
                .tolist()
            if lost:
                raise SpecError("--embeddings", f"a row for every id of {a} and {b}",
                                f"{len(lost)} ids missing, e.g. {lost[:5]}")
            fa, fb = table.loc[ids_a], table.loc[ids_b]
            names = [str(c) for c in table.columns]
        src = str(embeddings)
    res = domain_auc(fa, fb, seed, names=names, a=a, b=b)
    res = MismatchResult(**{**res.__dict__, "features_from": src})
    if record:
        from dataclasses import asdict

        from tunebook.store import open_store

        st = store if store is not None else open_store(None, pdir)
        st.add_decision("mismatch", f"{a} vs {b}: domain classifier AUC {res.auc:.3f} "
                        f"({res.verdict})", asdict(res))
    return res
