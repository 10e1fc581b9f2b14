"""Small tables and project folders for the data tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml


def table(n: int = 200, classes: int = 4, seed: int = 0, **extra: Any) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    df = pd.DataFrame({"id": np.arange(n) + 1000, "label": y,
                       "a": rng.normal(size=n) + y, "b": rng.normal(size=n),
                       "c": rng.integers(0, 5, n)})
    for k, v in extra.items():
        df[k] = v
    return df


def project(tmp: Path, df: pd.DataFrame, name: str = "data/t.csv", **data: Any) -> Path:
    """A project folder whose tunebook.yaml has a data section for ``df`` written as CSV."""
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if name.endswith(".parquet"):
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    spec = {"name": "t", "task": {"type": "classification", "goal": "g"},
            "metrics": [{"name": "accuracy", "split": "dev", "goal": "max"}],
            "score": "dev/accuracy", "pipeline": "train:train",
            "data": {"file": name, **data}}
    (tmp / "tunebook.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    (tmp / "train.py").write_text("def train(config, run):\n    pass\n", encoding="utf-8")
    return tmp
