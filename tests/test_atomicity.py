"""Killing a writer at random moments leaves the old state or the new one, never a mix."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import bare_round

KILLS = int(os.environ.get("TUNEBOOK_KILLS", "15"))  # benchmarks/soak.py runs 200

CHECKPOINT_WRITER = """
import sys
from tunebook.store.files import atomic_write
path = sys.argv[1]
blobs = [bytes([i]) * (1 << 20) for i in (1, 2)]
i = 0
print("ready", flush=True)
while True:
    atomic_write(path, blobs[i % 2])
    i += 1
"""

BATCH_WRITER = """
import sys
from tunebook.store import Store
store = Store(sys.argv[1])
rid = store.round("r").id
tid = store.trials(rid)[0].id
print("ready", flush=True)
batch = int(sys.argv[2])
while True:
    store.log_points([(tid, batch, "m", float(i)) for i in range(1000)])
    batch += 1
"""


def _kill_at_random(script: str, args: list[str], rng: random.Random) -> None:
    p = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE,
                         text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    time.sleep(rng.uniform(0.0, 0.05))
    p.kill()
    p.wait()


@pytest.mark.slow
def test_checkpoint_file_is_always_old_or_new(tmp_path: Path) -> None:
    rng = random.Random(1)
    path = tmp_path / "ckpt.pt"
    valid = {bytes([1]) * (1 << 20), bytes([2]) * (1 << 20)}
    for _ in range(KILLS):
        _kill_at_random(CHECKPOINT_WRITER, [str(path)], rng)
        if path.exists():
            assert path.read_bytes() in valid
    assert path.exists()
    stray = [p.name for p in tmp_path.iterdir() if p.name != "ckpt.pt"]
    # temp files of killed writers may remain (never read); the checkpoint itself is whole
    assert all(n.startswith(".ckpt.pt.") and n.endswith(".tmp") for n in stray)


@pytest.mark.slow
def test_store_batches_are_all_or_nothing(tmp_path: Path) -> None:
    from tunebook.store import Store

    db = tmp_path / "s.db"
    store = Store(db)
    rid = bare_round(store, "r").id
    store.add_trials(rid, [{"config": {}, "seed": 0}])
    store.close()
    rng = random.Random(2)
    for k in range(KILLS):
        _kill_at_random(BATCH_WRITER, [f"sqlite:///{db}", str(k * 10_000)], rng)
        con = sqlite3.connect(db)
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        per_batch = con.execute("SELECT step, COUNT(*) FROM curves GROUP BY step").fetchall()
        con.close()
        assert all(n == 1000 for _, n in per_batch), per_batch
