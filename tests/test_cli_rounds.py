"""The round commands: run --fidelity/--seeds, rescore, plan and steps, in JSON and tables."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from rounds_support import LR, rounds_project

from tunebook.cli import app
from tunebook.cli.output import run_app
from tunebook.store import Store


def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, cwd: Path,
        *args: str) -> tuple[int, Any]:
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["tunebook", *args])
    capsys.readouterr()
    code = run_app(app)
    out = capsys.readouterr().out
    return code, json.loads(out) if "--json" in args else out


@pytest.fixture
def pdir(tmp_path: Path) -> Path:
    folder = rounds_project(tmp_path / "proj")
    spec = {"name": "r1", "question": "what lr?", "budget": 6, "seed": 0,
            "algorithm": "quasi_random", "max_train_steps": 50, "params": {"lr": LR}}
    (folder / "round.yaml").write_text(yaml.safe_dump(spec))
    return folder


def test_run_with_fidelity_and_seeds_then_rescore(pdir: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    c = (capsys, monkeypatch, pdir)
    assert cli(*c, "round", "new", "round.yaml", "--json")[0] == 0
    code, data = cli(*c, "round", "run", "r1", "--executor", "inline", "--fidelity",
                     "--fraction", "0.2", "--keep", "0.34", "--seeds", "2", "--json")
    assert code == 0, data
    assert [(s["stage"], s["trials"]) for s in data["fidelity"]["stages"]] == [(1, 6), (2, 3)]
    assert data["fidelity"]["steps_spent"] == 6 * 10 + 3 * 50
    (spread,) = data["seeds"]
    assert len(spread["scores"]) == 3 and data["counts"] == {"completed": 11}
    assert data["best"]["kind"] == "stage2"
    code, data = cli(*c, "round", "rescore", "r1", "--score", "dev/loss", "--record", "--json")
    assert code == 0 and data["new"]["goal"] == "min" and data["decision_id"] is not None
    assert "stored scores unchanged" in cli(*c, "round", "rescore", "r1", "--score",
                                            "dev_accuracy - dev_loss", "--goal", "max")[1]
    out = cli(*c, "round", "run", "r1", "--executor", "inline", "--seeds", "2")[1]
    assert "stage 2 at 1 of max_train_steps" in out and "seeds of trial" in out


@pytest.mark.parametrize("args, where", [
    (["--fidelity", "--fraction", "1.5"], "--fraction"),
    (["--stages", "4"], "--stages"),
    (["--keep", "0"], "--keep"),
    (["--seeds", "0"], "--seeds"),
    (["--trial", "1"], "--trial"),
])
def test_bad_run_flags_fail_before_anything_trains(pdir: Path, args: list[str], where: str,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    c = (capsys, monkeypatch, pdir)
    cli(*c, "round", "new", "round.yaml", "--json")
    code, data = cli(*c, "round", "run", "r1", "--executor", "inline", *args, "--json")
    assert code == 2 and where in data["error"]
    store = Store(pdir / ".tunebook" / "store.db")
    assert store.counts(store.round("r1").id) == {"queued": 6}


def test_rescore_needs_something_to_rescore_by(pdir: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    c = (capsys, monkeypatch, pdir)
    cli(*c, "round", "new", "round.yaml", "--json")
    code, data = cli(*c, "round", "rescore", "r1", "--json")
    assert code == 2 and "--score" in data["error"]
    code, data = cli(*c, "round", "rescore", "r1", "--score", "dev_acc", "--json")
    assert code == 2 and "dev_accuracy" in data["error"]


def test_plan_a_round_file_and_estimate_steps(pdir: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    c = (capsys, monkeypatch, pdir)
    code, data = cli(*c, "round", "plan", "round.yaml", "--hours", "1", "--timing-steps", "20",
                     "--json")
    assert code == 0 and data["round"] == "r1" and data["min_per_target"] == 4
    assert data["step_time"]["source"].startswith("timing run") and data["fits"] is True
    code, data = cli(*c, "round", "plan", "round.yaml", "--hours", "0", "--json")
    assert code == 2 and "--hours" in data["error"]
    out = cli(*c, "round", "plan", "round.yaml", "--hours", "2")[1]
    assert "rule:" in out and "afford" in out
    code, data = cli(*c, "steps", "--probe-steps", "300", "--json")
    assert code == 0 and data["fit"]["model"] == "exponential" and data["recommended"] > 0
    assert "initial max_train_steps" in cli(*c, "steps", "--probe-steps", "200")[1]
    code, data = cli(*c, "steps", "--within", "1.5", "--json")
    assert code == 2 and "--within" in data["error"]
