"""Write the digits as a table and split it with tunebook (the same as `tunebook data split`).

The table (data/digits.csv: id, label, p0..p63) is the data file the splits are tied to; the
splits are recorded in the project (.tunebook/), and data/digits-splits.npz holds the arrays
train.py reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# pandas, scikit-learn and tunebook.data are imported inside the functions: train.py imports
# this module for SPLITS_FILE, and each training worker should not pay for them.
HERE = Path(__file__).parent
TABLE = HERE / "data" / "digits.csv"
SPLITS_FILE = HERE / "data" / "digits-splits.npz"
PIXELS = [f"p{i}" for i in range(64)]


def write_table(path: Path = TABLE) -> None:
    """The digits as CSV; an existing file is kept, since the recorded splits hash its bytes."""
    if path.exists():
        return
    import pandas as pd
    from sklearn.datasets import load_digits

    digits = load_digits()  # shipped inside scikit-learn: no download
    table = pd.DataFrame(digits.data.astype(np.int64), columns=PIXELS)
    table.insert(0, "label", digits.target.astype(np.int64))
    table.insert(0, "id", np.arange(len(table)))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    table.to_csv(tmp, index=False)
    tmp.replace(path)


def make_splits(seed: int | None = None, path: Path = SPLITS_FILE) -> dict[str, int]:
    """Split (or reuse the recorded split) and write the arrays train.py reads."""
    from tunebook.data import load_splits, split_project

    write_table()
    outcome = split_project(HERE, seed=seed)
    arrays = {}
    for name, rows in load_splits(HERE).items():
        arrays[f"{name}_x"] = (rows[PIXELS].to_numpy(np.float32) / 16.0).reshape(-1, 8, 8)
        arrays[f"{name}_y"] = rows["label"].to_numpy(np.int64)
        arrays[f"{name}_id"] = rows["id"].to_numpy(np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return outcome.counts


if __name__ == "__main__":
    print(make_splits())
