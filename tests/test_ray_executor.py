"""The Ray executor on a local instance that tunebook starts (one start per test run: each
costs seconds). The instance listens on loopback only, with no dashboard: what listens
while a trial runs (``ss -ltnp``, from inside the trial) is read and every Ray listener (GCS,
raylet, driver, workers, agents) must be on 127.0.0.1 or ::1 (docs/reliability.md)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from conftest import round_dict, write_project

from tunebook.core.spec import load_project, parse_round
from tunebook.rounds.lifecycle import create_round
from tunebook.store import Store
from tunebook.workers.execute import run_round
from tunebook.workers.limits import TrialLimits

pytest.importorskip("ray")

TRAIN_PY = '''
import os, subprocess, time
from pathlib import Path

def train(config, run):
    out = Path(__file__).parent / "seen"
    out.mkdir(exist_ok=True)
    if list(out.glob("ss-*")):  # the second trial hangs without logging: the limit ends it
        time.sleep(60)
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
    # Limits given to run_round travel with the Ray tasks, as they do to local workers.
    assert run_round(store, "r1", pdir, workers=1, executor="ray", show_progress=False,
                     limits=TrialLimits(no_progress_timeout_s=3)) == {"completed": 1,
                                                                      "failed": 1}
    assert all((t.worker or "").startswith("ray:") for t in store.trials())  # Ray ran them
    failed = [t for t in store.trials() if t.status == "failed"]
    assert "no_progress_timeout_s" in (failed[0].error or ""), failed[0].error
    seen = pdir / "seen"
    assert list(seen.glob("ss-*"))
    if not shutil.which("ss"):
        pytest.skip("no ss on this machine to read the listeners with")
    worker_pids = {p.name.removeprefix("ss-") for p in seen.glob("ss-*")}
    mine = {str(os.getpid()), *worker_pids}  # the driver (this process) and the workers
    listeners = [line for p in seen.glob("ss-*") for line in p.read_text().splitlines()
                 if any(k in line for k in ('"raylet"', '"gcs_server"', '"ray::'))
                 or any(f"pid={pid}," in line for pid in mine)]
    print("\n".join(listeners))  # what docs/reliability.md reports
    assert any("gcs_server" in line for line in listeners), listeners  # ss could see them
    assert not any(":8265 " in line for line in listeners)  # no dashboard
    local = [line.split()[3] for line in listeners]
    assert all(_loopback(address) for address in local), local


def _loopback(address: str) -> bool:
    """``127.0.0.1:41427``, ``[::ffff:127.0.0.1]:33105``, ``[::1]:80`` are; ``*:80`` is not."""
    host = re.sub(r":\d+$", "", address).strip("[]")
    return host.startswith("127.") or host in ("::1", "::ffff:127.0.0.1")
