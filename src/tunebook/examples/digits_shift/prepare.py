"""Digits with a train/deployment mismatch: training scans are clean, deployment scans are not.

About 55% of the digits come from the "scanner" the training data was collected with; the rest
come from the "field", where some images are shifted by a pixel, all fainter and noisy. The `source`
column says which is which, so `tunebook data split` draws dev and test from the field only and
carves train_dev from the scanner data: the case `tunebook data mismatch` and `tunebook
diagnose` are there to find (train_dev close to train, dev well below).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# pandas, scikit-learn and tunebook.data are imported inside the functions: train.py imports
# this module for SPLITS_FILE, and each training worker should not pay for them.
HERE = Path(__file__).parent
TABLE = HERE / "data" / "digits-shift.csv"
SPLITS_FILE = HERE / "data" / "digits-shift-splits.npz"
PIXELS = [f"p{i}" for i in range(64)]
FIELD_SHARE = 0.45


SHIFTED, CONTRAST, NOISE = 0.3, 0.9, 1.0


def field_scans(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shift some 8x8 images by a pixel, lower the contrast, add sensor noise (0-16 scale).

    Strong enough that a CNN trained on lab scans loses about 15 points of accuracy in the field
    while train_dev stays close to train (the mismatch, not variance, dominates).
    """
    out = images.copy()
    for i in range(len(out)):
        if rng.random() < SHIFTED:
            dy, dx = rng.integers(-1, 2, size=2)
            out[i] = np.roll(np.roll(out[i], dy, axis=0), dx, axis=1)
    out = CONTRAST * out + rng.normal(0.0, NOISE, size=out.shape)
    return np.clip(np.rint(out), 0, 16)


def write_table(path: Path = TABLE, seed: int = 0) -> None:
    """The table: id, label, source (scanner | field), p0..p63; kept once written."""
    if path.exists():
        return
    import pandas as pd
    from sklearn.datasets import load_digits

    digits = load_digits()  # shipped inside scikit-learn: no download
    rng = np.random.default_rng(seed)
    images = digits.images.copy()
    field = rng.random(len(images)) < FIELD_SHARE
    images[field] = field_scans(images[field], rng)
    table = pd.DataFrame(images.reshape(len(images), 64).astype(np.int64), columns=PIXELS)
    table.insert(0, "source", np.where(field, "field", "scanner"))
    table.insert(0, "label", digits.target.astype(np.int64))
    table.insert(0, "id", np.arange(len(table)))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    table.to_csv(tmp, index=False)
    tmp.replace(path)


def make_splits(seed: int | None = None, path: Path = SPLITS_FILE) -> dict[str, int]:
    """Split by source (as `tunebook data split`) and write the arrays train.py reads."""
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
