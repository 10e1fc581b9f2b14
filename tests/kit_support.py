"""Helpers for the PyTorch kit's tests: a live Run inside a real round of a tiny project."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT

from tunebook.core.spec import RoundSpec, parse_project
from tunebook.rounds.lifecycle import create_round
from tunebook.store import Store
from tunebook.store.files import ArtifactRoot
from tunebook.workers.run import Run


def make_run(tmp_path: Path, config: dict[str, Any] | None = None,
             project: dict[str, Any] | None = None, name: str = "r") -> tuple[Store, Run]:
    """A claimed trial of a one-trial round (score dev/accuracy, dev/latency_ms <= 10)."""
    store = Store(tmp_path / "s.db")
    spec = parse_project({**PROJECT, "baseline": {"config": config or {}}}
                         if project is None else project)
    record = create_round(store, spec, RoundSpec(name=name, question="q", budget=1),
                          kind="baseline")
    claimed = store.claim(record.id, "w", 60)
    assert claimed is not None
    trial, token = claimed
    return store, Run(store, trial, token, eval_every=5, artifact_root=ArtifactRoot(
        tmp_path / "art"), heartbeat=False)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread: on a shared, oversubscribed machine two OpenMP threads spin-wait and a
    millisecond of compute can take a hundred times longer, which drowns timing comparisons."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
