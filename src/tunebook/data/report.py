"""The data report (checklist section 0): what is missing, constant, duplicated, leaking,
extreme or imbalanced in a table of examples and its splits.

``data_report`` is a pure function of a DataFrame, its column roles and (optionally) split codes;
``report_project`` reads a project's table and recorded splits and runs it.
"""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tunebook.core.score import SPLITS
from tunebook.data.duplicates import Duplicates, find_duplicates
from tunebook.data.issues import LabelIssues, find_label_issues
from tunebook.data.table import Columns, check_table

if TYPE_CHECKING:
    from tunebook.store import Store

OUTLIER_IQR = 3.0        # Tukey's "far out" fence: beyond 3 interquartile ranges
OUTLIER_SHARE = 0.01     # more rows than this beyond the fences is a heavy tail, not outliers
IMBALANCE_RATIO = 10.0   # most / least frequent class at which imbalance is flagged
CONTINUOUS_LABELS = 50   # more distinct numeric labels than this: a regression target


@dataclass(frozen=True)
class Outliers:
    column: str
    count: int
    low: float               # the fences
    high: float
    examples: list[Any] = field(default_factory=list)
    heavy_tail: bool = False  # too many to be outliers: the column's distribution is skewed


@dataclass(frozen=True)
class Imbalance:
    majority: str
    minority: str
    ratio: float             # majority count / minority count
    minority_share: float
    imbalanced: bool


@dataclass(frozen=True)
class DataReport:
    rows: int
    columns: int
    features: list[str]
    missing: dict[str, int]                 # column -> empty cells (only columns with some)
    constant: list[str]
    duplicate_columns: list[list[str]]
    exact: Duplicates
    near: Duplicates
    group_leaks: int                         # groups found in more than one split
    labels: dict[str, dict[str, int]]        # split (or "all") -> label -> rows
    imbalance: Imbalance | None
    outliers: list[Outliers]
    label_issues: LabelIssues
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def data_report(df: pd.DataFrame, cols: Columns, codes: np.ndarray | None = None,
                seed: int = 0, label_issues: bool = True) -> DataReport:
    """Run every check on a table; ``codes`` gives each row's split index into SPLITS.

    Example: ``rep = data_report(df, Columns("id", "label")); rep.problems``
    """
    check_table(df, cols)
    feats = cols.feature_columns(df)
    x = df[feats]
    ids = df[cols.id].to_numpy()
    y = df[cols.label].to_numpy()
    missing = {str(c): int(n) for c, n in df.isna().sum().items() if n}
    constant = [str(c) for c in feats if _constant(df[c])]
    dup_cols = _duplicate_columns(x[[c for c in feats if str(c) not in constant]])
    exact, near = find_duplicates(x, ids, y, codes)
    group_leaks = 0
    if cols.group is not None and codes is not None:
        group_leaks = int((pd.Series(codes).groupby(df[cols.group].to_numpy()).nunique() > 1)
                          .sum())
    continuous = pd.api.types.is_float_dtype(df[cols.label]) and \
        df[cols.label].nunique() > CONTINUOUS_LABELS
    labels = {} if continuous else _label_table(y, codes)
    imbalance = None if continuous else _imbalance(y)
    outliers = _outliers(x, ids)
    issues = find_label_issues(x, y, ids, seed) if label_issues and not continuous else \
        LabelIssues("skipped", "regression label" if continuous else "not asked for")
    rep = DataReport(len(df), df.shape[1], [str(f) for f in feats], missing, constant, dup_cols,
                     exact, near, group_leaks, labels, imbalance, outliers, issues, [])
    return DataReport(**{**rep.__dict__, "problems": _problems(rep)})


def _constant(s: pd.Series) -> bool:
    """One value (or none) apart from empty cells; O(n), unlike counting unique values."""
    v = s.dropna()
    return len(v) == 0 or bool((v == v.iloc[0]).all())


def _duplicate_columns(x: pd.DataFrame) -> list[list[str]]:
    hashes: dict[int, list[str]] = {}
    for c in x.columns:
        h = int(pd.util.hash_pandas_object(x[c], index=False).to_numpy().sum(dtype=np.uint64))
        hashes.setdefault(h, []).append(str(c))
    out = []
    for names in hashes.values():
        # confirm the hash match with a real comparison
        if len(names) > 1 and all(x[names[0]].equals(x[n]) for n in names[1:]):
            out.append(names)
    return out


def _label_table(y: np.ndarray, codes: np.ndarray | None) -> dict[str, dict[str, int]]:
    lab, values = pd.factorize(y, sort=True)
    names = ("all",) if codes is None else SPLITS + ("none",)
    part = np.zeros(len(y), dtype=np.int64) if codes is None else \
        np.where(codes >= 0, codes, len(SPLITS)).astype(np.int64)
    tab = np.bincount(part * len(values) + lab, minlength=len(names) * len(values))
    tab = tab.reshape(len(names), len(values))
    return {names[i]: {str(v): int(n) for v, n in zip(values, tab[i], strict=True) if n}
            for i in range(len(names)) if tab[i].sum()}


def _imbalance(y: np.ndarray) -> Imbalance | None:
    lab, vals = pd.factorize(y, sort=True)
    cnt = np.bincount(lab, minlength=len(vals))
    if len(vals) < 2:
        return None
    hi, lo = int(np.argmax(cnt)), int(np.argmin(cnt))
    ratio = float(cnt[hi] / cnt[lo])
    return Imbalance(str(vals[hi]), str(vals[lo]), ratio, float(cnt[lo] / cnt.sum()),
                     ratio >= IMBALANCE_RATIO)


def _outliers(x: pd.DataFrame, ids: np.ndarray) -> list[Outliers]:
    out = []
    for c in x.select_dtypes("number").columns:
        if pd.api.types.is_bool_dtype(x[c]):
            continue
        v = x[c].to_numpy(dtype=np.float64, na_value=np.nan)
        finite = v[np.isfinite(v)]
        if len(finite) == 0:
            continue
        q1, q3 = np.quantile(finite, [0.25, 0.75])
        iqr = q3 - q1
        if not np.isfinite(iqr) or iqr <= 0:
            continue  # a column mostly one value: fences would flag every other value
        low, high = q1 - OUTLIER_IQR * iqr, q3 + OUTLIER_IQR * iqr
        bad = np.flatnonzero((v < low) | (v > high))
        if len(bad):
            out.append(Outliers(str(c), len(bad), float(low), float(high),
                                ids[bad[:5]].tolist(), len(bad) > OUTLIER_SHARE * len(v)))
    return out


def _problems(r: DataReport) -> list[str]:
    p = []
    for c, n in r.missing.items():
        p.append(f"column '{c}' is empty in {n} of {r.rows} rows")
    if r.constant:
        p.append(f"constant columns carry no information: {r.constant}")
    for names in r.duplicate_columns:
        p.append(f"identical columns: {names}")
    for d in (r.exact, r.near):
        if d.groups:
            p.append(f"{d.rows} {d.kind}-duplicate rows in {d.groups} sets, e.g. ids "
                     f"{d.examples[0]}" + (f"; {d.conflicting_labels} sets have conflicting "
                                           "labels" if d.conflicting_labels else ""))
        if d.across_splits:
            p.append(f"leakage: {d.across_splits} {d.kind}-duplicate sets span splits, e.g. "
                     f"{d.leak_examples[0]}")
    if r.group_leaks:
        p.append(f"leakage: {r.group_leaks} groups have rows in more than one split")
    if r.imbalance and r.imbalance.imbalanced:
        p.append(f"class imbalance: '{r.imbalance.majority}' is {r.imbalance.ratio:.1f}x as "
                 f"frequent as '{r.imbalance.minority}' (share {r.imbalance.minority_share:.2%})")
    flagged = [o for o in r.outliers if not o.heavy_tail]
    if flagged:
        p.append(f"extreme values (beyond {OUTLIER_IQR:g} interquartile ranges) in "
                 f"{len(flagged)} columns: " + "; ".join(
                     f"'{o.column}' {o.count} outside [{o.low:.4g}, {o.high:.4g}], e.g. ids "
                     f"{o.examples[:3]}" for o in flagged[:5])
                 + (f"; and {len(flagged) - 5} more columns" if len(flagged) > 5 else ""))
    li = r.label_issues
    if li.status == "ok" and li.count:
        p.append(f"{li.count} likely label errors among {li.checked_rows} rows checked "
                 f"({li.rate:.1%}), e.g. ids {li.examples[:5]}")
    return p


def report_project(project_dir: str | Path = ".", label_issues: bool = True) -> DataReport:
    """The data report of a project's table, with its recorded splits when there are some."""
    from tunebook.core.spec import load_project
    from tunebook.data.membership import check_unchanged, current_membership
    from tunebook.data.project import columns_of, data_spec, split_codes, table_path
    from tunebook.data.table import file_sha256, read_table

    pdir = Path(project_dir)
    spec = data_spec(load_project(pdir / "tunebook.yaml"))
    path = table_path(pdir, spec.file)
    df = read_table(path)
    cols = columns_of(spec)
    m = current_membership(pdir)
    codes = None
    if m is not None and m.input.get("file") is not None:
        check_unchanged(m, file_sha256(path), f"data file {spec.file}")
        codes = split_codes(m, df[cols.id])
    return data_report(df, cols, codes, seed=spec.seed, label_issues=label_issues)


def record_report(store: Store, report: DataReport) -> int:
    """Keep ``report`` as a ``data_report`` decision (the checklist reads it as evidence)."""
    return store.add_decision("data_report", f"data report: {len(report.problems)} problems",
                              {"problems": report.problems, "report": asdict(report)})


def to_html(r: DataReport) -> str:
    """The report as an HTML section (for the project report)."""
    e = html.escape
    items = "".join(f"<li>{e(p)}</li>" for p in r.problems) or "<li>no problems found</li>"
    head = "".join(f"<th>{e(s)}</th>" for s in r.labels)
    names = sorted({k for v in r.labels.values() for k in v})
    body = "".join("<tr><td>" + e(k) + "</td>" + "".join(
        f"<td>{r.labels[s].get(k, 0)}</td>" for s in r.labels) + "</tr>" for k in names)
    return (f"<section class='data-report'><h2>Data</h2><p>{r.rows} rows, {r.columns} columns"
            f"</p><ul>{items}</ul><table><tr><th>label</th>{head}</tr>{body}</table></section>")
