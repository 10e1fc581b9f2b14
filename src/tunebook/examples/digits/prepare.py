"""Make the digits splits: train, train_dev, dev and test, stratified and seeded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

SPLITS_FILE = Path(__file__).parent / "data" / "digits-splits.npz"


def make_splits(seed: int = 0, path: Path = SPLITS_FILE) -> dict[str, int]:
    digits = load_digits()  # shipped inside scikit-learn: no download
    x = (digits.images / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    ids = np.arange(len(y))
    rest, test = train_test_split(ids, test_size=0.15, stratify=y, random_state=seed)
    rest, dev = train_test_split(rest, test_size=0.15 / 0.85, stratify=y[rest], random_state=seed)
    train, train_dev = train_test_split(rest, test_size=0.1 / 0.7, stratify=y[rest],
                                        random_state=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for name, idx in {"train": train, "train_dev": train_dev, "dev": dev, "test": test}.items():
        arrays[f"{name}_x"], arrays[f"{name}_y"], arrays[f"{name}_id"] = x[idx], y[idx], idx
    np.savez(path, **arrays)
    return {name: len(idx) for name, idx in
            {"train": train, "train_dev": train_dev, "dev": dev, "test": test}.items()}


if __name__ == "__main__":
    print(make_splits())
