"""The fastest script of the judgement corpus, run for real (benchmarks/judgements).

An epoch loop with StepLR and an unshuffled loader whose first batch is scrambled: its loss
spikes every epoch. Every command must read that as structure, not instability, and none may
contradict another. (The whole corpus, with precision and recall per finding, is
``python benchmarks/judgements/run.py``.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "judgements" / "run.py"


def test_an_unshuffled_epoch_loop_is_read_as_periodic_not_unstable() -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(RUN.parents[2] / "src"),
                                          os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, str(RUN), "--one", "epoch_steplr"],
                         capture_output=True, text=True, env=env, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["contradictions"] == []
    said = r["said"]
    assert said["periodic_loss"]["analyze"] is True
    assert said["instability"] == {"analyze": False, "baseline check": False}
    assert said["train_shorter"]["analyze"] is True and said["train_longer"]["analyze"] is False
    assert not r["readings"]["advise"].startswith("stability")
