"""Shared fixtures: a tiny pure-Python project (no torch) and stores over every backend."""

from __future__ import annotations

import importlib.util
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tunebook.core.spec import parse_project, parse_round
from tunebook.core.trial import RoundRecord
from tunebook.store import Store

TRAIN_PY = '''
import math, time

def train(config, run):
    mode = config.get("mode", "ok")
    steps = int(config.get("max_train_steps", 20))
    lr = float(config.get("lr", 0.1))
    for step in range(1, steps + 1):
        if mode == "fail" and step == 3:
            raise RuntimeError("planted failure at step 3")
        loss = 1.0 / (1.0 + lr * step)
        if mode == "diverge" and step == 5:
            loss = float("nan")
        run.log(step, train_loss=loss)
        if run.should_eval(step):
            # dev accuracy peaks at lr = 0.01 (log scale) and improves with steps
            acc = 0.9 - 0.05 * (math.log10(lr) + 2) ** 2 + 0.001 * step
            run.log(step, dev_accuracy=acc, dev_latency_ms=float(config.get("latency", 1.0)))
        time.sleep(float(config.get("sleep", 0.0)))
'''

PROJECT: dict[str, Any] = {
    "name": "tiny",
    "task": {"type": "classification", "goal": "test the plumbing", "success": "acc >= 0.9"},
    "metrics": [
        {"name": "accuracy", "split": "dev", "goal": "max"},
        {"name": "latency_ms", "split": "dev", "goal": "min"},
        {"name": "loss", "split": "train", "goal": "min"},
    ],
    "constraints": ["dev/latency_ms <= 10"],
    "score": "dev/accuracy",
    "pipeline": "train:train",
    "eval_every": 5,
    "baseline": {"config": {"lr": 0.01, "max_train_steps": 20}},
}


def load_script(relative: str, name: str) -> Any:
    """A script of the repository (``benchmarks/fidelity.py``) imported as module ``name``.

    It is registered in ``sys.modules`` before it runs: its dataclasses look their module up
    while they are being defined.
    """
    path = Path(__file__).resolve().parents[1] / relative
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def bare_round(store: Store, name: str = "r") -> RoundRecord:
    """A round with no hyperparameters, for tests that queue trials by hand."""
    return store.create_round(parse_round({"name": name, "question": "q?", "budget": 1}),
                              parse_project(PROJECT))


def write_project(folder: Path, project: dict[str, Any] | None = None,
                  train_py: str = TRAIN_PY) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tunebook.yaml").write_text(yaml.safe_dump(project or PROJECT))
    (folder / "train.py").write_text(textwrap.dedent(train_py))
    return folder


def round_dict(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "r1", "question": "what lr?", "budget": 4, "seed": 0,
        "params": {"lr": {"role": "nuisance", "type": "float", "low": 1e-4, "high": 1.0,
                          "scale": "log"}},
    }
    base.update(over)
    return base


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    return write_project(tmp_path / "proj")


def _backends() -> list[str]:
    out = ["sqlite"]
    if os.environ.get("TUNEBOOK_TEST_POSTGRES"):
        out.append("postgresql")
    return out


@pytest.fixture(params=_backends())
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store URL on each backend (PostgreSQL when TUNEBOOK_TEST_POSTGRES is set)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    admin_url = os.environ["TUNEBOOK_TEST_POSTGRES"]
    name = f"tb_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url.replace("postgresql://", "postgresql+psycopg://", 1),
                          isolation_level="AUTOCOMMIT", poolclass=NullPool)  # survives restarts
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.close()
