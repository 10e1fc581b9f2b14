from __future__ import annotations

from pathlib import Path

import pytest
from conftest import round_dict

from tunebook.core.spec import load_project, parse_round
from tunebook.rounds.lifecycle import create_round
from tunebook.store import Store
from tunebook.workers.execute import run_round

pytest.importorskip("ray")


@pytest.mark.slow
def test_ray_executor_runs_a_round_on_a_local_instance(project_dir: Path, tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    create_round(store, load_project(project_dir / "tunebook.yaml"),
                 parse_round(round_dict(budget=6)))
    counts = run_round(store, "r1", project_dir, workers=2, executor="ray", show_progress=False)
    assert counts == {"completed": 6}
    assert all((t.worker or "").startswith("ray:") for t in store.trials())
