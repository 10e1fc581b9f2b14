"""A Ray instance that tunebook starts: no dashboard, node address 127.0.0.1. Ray's C++ servers
listen on the wildcard address whatever the node address says; this test records what listens
while a trial runs (ss), for docs/reliability.md, and checks that no dashboard is among them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import round_dict, write_project

from tunebook.core.spec import load_project, parse_round
from tunebook.rounds.lifecycle import create_round
from tunebook.store import Store
from tunebook.workers.execute import run_round

pytest.importorskip("ray")

TRAIN_PY = '''
import os, subprocess
from pathlib import Path

def train(config, run):
    out = Path(__file__).parent / "seen"
    out.mkdir(exist_ok=True)
    try:
        ss = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    except OSError:
        ss = ""
    (out / f"ss-{os.getpid()}").write_text(ss)
    for step in range(1, 6):
        run.log(step, train_loss=1.0 / step, dev_accuracy=0.5 + step / 100, dev_latency_ms=1.0)
'''


@pytest.mark.slow
def test_what_a_local_ray_instance_listens_on(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    pdir = write_project(tmp_path / "proj", train_py=TRAIN_PY)
    store = Store(tmp_path / "s.db")
    create_round(store, load_project(pdir / "tunebook.yaml"), parse_round(round_dict(budget=2)))
    assert run_round(store, "r1", pdir, workers=1, executor="ray",
                     show_progress=False) == {"completed": 2}
    seen = pdir / "seen"
    assert list(seen.glob("ss-*"))
    if shutil.which("ss"):
        listeners = [line for p in seen.glob("ss-*") for line in p.read_text().splitlines()
                     if any(k in line for k in ("raylet", "gcs_server", "ray::", "python"))]
        print("\n".join(listeners))  # what docs/reliability.md reports
        assert not any(":8265 " in line for line in listeners)  # no dashboard
