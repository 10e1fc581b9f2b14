"""Benchmark: `tunebook data split` and `tunebook data report` on a large table, side by side
with scikit-learn's splitters on the same rows.

    PYTHONPATH=src python benchmarks/data_split_report.py            # 1,000,000 rows x 20 columns
    PYTHONPATH=src python benchmarks/data_split_report.py --quick    # 100,000 rows

The table has an id, a label (10 classes), a group (10 rows per group on average) and 17
numeric features, written as CSV. tunebook's times are end to end (read, hash, check, split,
write the membership file, record in the store; read, verify the hash and run every check of the
report). The peers split arrays already in memory: train_test_split three times (stratified,
no groups) and StratifiedGroupKFold (10 folds: test, dev, train_dev, and 7 folds of train).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import yaml
from pyarrow import csv


def make_table(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, rows)
    data = {"id": np.arange(rows), "label": y, "group": rng.integers(0, rows // 10, rows)}
    for j in range(17):
        data[f"f{j}"] = rng.normal(size=rows) + (y if j < 3 else 0) * 0.5
    return pd.DataFrame(data)


def write_project(pdir: Path, df: pd.DataFrame) -> None:
    (pdir / "data").mkdir(parents=True, exist_ok=True)
    csv.write_csv(pa.Table.from_pandas(df, preserve_index=False), pdir / "data" / "t.csv")
    spec = {"name": "bench", "task": {"type": "classification", "goal": "benchmark"},
            "metrics": [{"name": "accuracy", "split": "dev", "goal": "max"}],
            "score": "dev/accuracy", "pipeline": "train:train",
            "data": {"file": "data/t.csv", "id": "id", "label": "label", "group": "group"}}
    (pdir / "tunebook.yaml").write_text(yaml.safe_dump(spec))


def timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def peers(df: pd.DataFrame, seed: int = 0) -> dict[str, float]:
    from sklearn.model_selection import StratifiedGroupKFold, train_test_split

    ids, y, g = df["id"].to_numpy(), df["label"].to_numpy(), df["group"].to_numpy()

    def tts() -> None:
        rest, test = train_test_split(ids, test_size=0.1, stratify=y, random_state=seed)
        rest, dev = train_test_split(rest, test_size=1 / 9, stratify=y[rest], random_state=seed)
        train_test_split(rest, test_size=1 / 8, stratify=y[rest], random_state=seed)

    def sgkf() -> None:
        folds = StratifiedGroupKFold(10, shuffle=True, random_state=seed).split(ids, y, g)
        for _ in zip(range(3), folds, strict=False):
            pass

    return {"sklearn train_test_split x3 (stratified, no groups)": timed(tts)[0],
            "sklearn StratifiedGroupKFold (10 folds, groups)": timed(sgkf)[0]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="100,000 rows")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = ap.parse_args()
    rows = 100_000 if args.quick else args.rows

    from tunebook.data import assign, report_project, split_project

    df = make_table(rows)
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        pdir = Path(tmp)
        write_project(pdir, df)
        size_mb = (pdir / "data" / "t.csv").stat().st_size / 1e6
        results["tunebook data split (end to end, groups)"], out = timed(split_project, pdir)
        results["tunebook data report (end to end)"], rep = timed(report_project, pdir)
    ids, y, g = df["id"].to_numpy(), df["label"].to_numpy(), df["group"].to_numpy()
    results["tunebook assign (in memory, no groups)"] = timed(assign, ids, y)[0]
    results["tunebook assign (in memory, groups)"] = timed(assign, ids, y, groups=g)[0]
    results.update(peers(df))
    total = results["tunebook data split (end to end, groups)"] + \
        results["tunebook data report (end to end)"]
    print(f"{rows:,} rows x {df.shape[1]} columns ({size_mb:.0f} MB CSV)")
    for name, sec in results.items():
        print(f"  {name:58s} {sec:8.2f} s")
    print(f"  {'split + report':58s} {total:8.2f} s  (target < 30 s at 1M rows)")
    print(f"  split counts {out.counts}; report problems: {len(rep.problems)}")
    if args.out:
        args.out.write_text(json.dumps({"rows": rows, "columns": df.shape[1],
                                        "seconds": results, "split_plus_report": total},
                                       indent=2))


if __name__ == "__main__":
    main()
