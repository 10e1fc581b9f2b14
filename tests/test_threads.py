"""One thread rule for every command that trains: --threads, else OMP_NUM_THREADS, else
cores / concurrent trials; a trial (in-process or a command) runs with what the rule says."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml
from conftest import PROJECT, write_project

from tunebook.cli import app
from tunebook.cli.output import run_app
from tunebook.core.errors import SpecError
from tunebook.store import Store
from tunebook.workers import threads

RECORDING = '''
import os

def train(config, run):
    run.record(omp=os.environ.get("OMP_NUM_THREADS"))
    for step in range(1, 6):
        run.log(step, train_loss=1.0 / step, dev_accuracy=0.5 + 0.01 * step,
                dev_latency_ms=1.0)
'''


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "_ours", None)
    monkeypatch.setattr(threads, "_theirs", None)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)


def test_rule_explicit_then_environment_then_cores_per_trial(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert threads.per_trial(1) == 8 and threads.per_trial(3) == 2 and threads.per_trial(16) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.per_trial(4) == 3
    assert threads.per_trial(4, threads=2) == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "zero")
    with pytest.raises(SpecError, match="OMP_NUM_THREADS"):
        threads.per_trial(1)
    with pytest.raises(SpecError, match="threads"):
        threads.per_trial(1, threads=0)


def test_a_value_tunebook_set_is_not_taken_for_the_users() -> None:
    threads.set_threads(1)  # an earlier 8-worker round in this process
    assert os.environ["OMP_NUM_THREADS"] == "1"
    assert threads.per_trial(1) == 8  # the user never set it: cores / 1
    os.environ["OMP_NUM_THREADS"] = "2"  # the user sets it now
    threads.set_threads(4)
    assert threads.per_trial(1) == 2


def _baseline(tmp_path: Path, capsys: pytest.CaptureFixture[str],
              monkeypatch: pytest.MonkeyPatch, *args: str) -> str | None:
    folder = write_project(tmp_path / "p", train_py=RECORDING)
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "argv", ["tunebook", "baseline", "--json", *args])
    capsys.readouterr()
    run_app(app)
    json.loads(capsys.readouterr().out)
    store = Store(f"sqlite:///{folder / '.tunebook' / 'store.db'}")
    (trial,) = store.trials()
    return trial.meta.get("omp")


def test_baseline_takes_threads_option(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    assert _baseline(tmp_path, capsys, monkeypatch, "--threads", "3") == "3"


def test_baseline_respects_omp_num_threads(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert _baseline(tmp_path, capsys, monkeypatch) == "1"


def test_baseline_default_is_all_cores_for_one_trial(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    assert _baseline(tmp_path, capsys, monkeypatch) == "8"


def test_every_training_command_has_threads() -> None:
    from typer.main import get_command

    root = get_command(app)
    for path in (["baseline"], ["promote"], ["stability"], ["steps"], ["batch-size"],
                 ["profile-input"], ["round", "run"], ["worker"]):
        cmd = root
        for part in path:
            cmd = cmd.commands[part]  # type: ignore[attr-defined]
        assert "--threads" in {o for p in cmd.params for o in p.opts}, path


def test_command_pipeline_child_gets_the_threads(tmp_path: Path) -> None:
    from tunebook.core.spec import load_project, parse_round
    from tunebook.rounds.lifecycle import create_round
    from tunebook.workers.execute import run_round

    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "tunebook.yaml").write_text(yaml.safe_dump(dict(
        PROJECT, pipeline={"command": "python script.py"})))
    (folder / "script.py").write_text(
        "import os\nfrom tunebook.workers import client\n"
        "client.record(omp=os.environ['OMP_NUM_THREADS'])\n"
        "client.report(1, dev_accuracy=0.5, dev_latency_ms=1.0)\n")
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    create_round(store, load_project(folder / "tunebook.yaml"), parse_round(
        {"name": "r", "question": "q", "budget": 2, "algorithm": "quasi_random",
         "params": {"lr": {"role": "nuisance", "type": "float", "low": 0.1, "high": 1.0}}}))
    run_round(store, "r", folder, executor="inline", workers=4, show_progress=False)
    assert [t.meta["omp"] for t in store.trials()] == ["2", "2"]  # 8 cores / 4 workers
