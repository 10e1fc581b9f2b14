"""The digits demo's train.py on the kit, and the kit's commands on the real CNN."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kit_support import one_thread  # noqa: F401  (the fixture, used by name)

pytest.importorskip("torch")

from tunebook.cli import app  # noqa: E402
from tunebook.cli.output import run_app  # noqa: E402
from tunebook.core.spec import load_project  # noqa: E402
from tunebook.demo import prepare, write_example  # noqa: E402
from tunebook.experiments.baseline import read_predictions, run_baseline  # noqa: E402
from tunebook.store import open_store  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The digits project with its splits, shortened to 100 steps for the test."""
    d = tmp_path_factory.mktemp("digits")
    write_example(d)
    prepare(d)
    spec = yaml.safe_load((d / "tunebook.yaml").read_text())
    spec["baseline"]["config"]["max_train_steps"] = 100
    (d / "tunebook.yaml").write_text(yaml.safe_dump(spec))
    return d


def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, cwd: Path,
        *args: str) -> tuple[int, Any]:
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["tunebook", *args])
    capsys.readouterr()
    code = run_app(app)
    out = capsys.readouterr().out
    return code, json.loads(out) if "--json" in args else out


@pytest.mark.slow
def test_demo_training_records_what_the_checklist_asks(digits: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # The inline executor gives torch cores / workers threads; one keeps a shared machine sane.
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    store = open_store(None, digits)
    verdict = run_baseline(store, load_project(digits / "tunebook.yaml"), digits,
                           show_progress=False)
    assert verdict.ok, verdict.problems
    trial = store.trial(verdict.trial_id)
    meta = trial.meta
    assert meta["optimizer"]["name"] == "adamw" and meta["optimizer"]["betas"] == [0.9, 0.999]
    assert meta["init_seed"] == trial.seed and meta["shuffle_seeds"] == [trial.seed * 1000 + 1]
    assert meta["schedule"]["name"] == "constant"
    assert meta["best_checkpoint"]["step"] == trial.best_step
    dev = meta["dev_metrics"]
    assert dev["step"] == trial.best_step and dev["accuracy"] == pytest.approx(trial.score)
    assert 0.5 < dev["f1_macro"] <= 1 and 0.5 < dev["auc"] <= 1
    assert 0 <= dev["calibration_error"] < 0.5 and len(dev["f1_per_class"]) == 10
    assert meta["inference"]["latency_ms"] > 0 and meta["inference"]["batch_size"] == 1
    curve = store.curve(trial.id)
    assert all("train/grad_norm" in curve[s] and "train/lr" in curve[s] for s in range(1, 101))
    assert {"dev/accuracy", "dev/loss", "train/accuracy", "train_dev/accuracy"} <= set(curve[50])
    assert "test/accuracy" in curve[trial.best_step or 0]
    ckpts = store.artifacts(trial.id, "checkpoint")
    assert 1 <= len(ckpts) <= 2 and max(a.step or 0 for a in ckpts) == 100
    rows = read_predictions(store, trial, digits)
    assert rows is not None and len(rows) > 200
    assert list(rows[0]) == ["id", "label", "prediction", "confidence"]


def test_batch_size_scan_on_the_real_cnn(digits: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    code, data = cli(capsys, monkeypatch, digits, "batch-size", "--max", "32",
                     "--min-seconds", "0", "--json")
    assert code == 0, data
    scan = data["scan"]
    assert [p["batch_size"] for p in scan["points"]] == [1, 2, 4, 8, 16, 32]
    assert scan["feasible"] == [1, 32] and scan["knee"] in (1, 2, 4, 8, 16, 32)
    assert "re-opens the learning rate" in scan["note"] and data["entry"] == "train:make_step"
    assert Path(data["plot"]).exists() and Path(data["plot"]).stat().st_size > 1000
    decisions = open_store(None, digits).decisions(kind="batch_size")
    assert decisions and decisions[-1].payload.scan["knee"] == scan["knee"]
    code, out = cli(capsys, monkeypatch, digits, "batch-size", "--max", "2",
                    "--min-seconds", "0")
    assert code == 0 and "knee" in out and "re-opens" in out.replace("\n", " ")


def test_profile_input_on_the_real_cnn(digits: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    code, data = cli(capsys, monkeypatch, digits, "profile-input", "--steps", "10", "--json")
    assert code == 0 and data["batch_size"] == 64 and data["profile"]["steps"] == 10
    code, out = cli(capsys, monkeypatch, digits, "profile-input", "--steps", "5")
    assert code == 0 and "step time is spent waiting for data" in out.replace("\n", " ")


@pytest.mark.parametrize(("args", "needle"), [
    (["batch-size", "--step", "train:nope"], "Define make_step"),
    (["batch-size", "--step", "nocolon"], "module:function"),
    (["batch-size", "--memory-cap", "lots"], "--memory-cap"),
    (["batch-size", "--step", "train:train"], "--step"),
    (["profile-input", "--batch-size", "0"], "--batch-size"),
])
def test_bad_kit_arguments_are_clear_errors(digits: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch, args: list[str],
                                            needle: str) -> None:
    code, data = cli(capsys, monkeypatch, digits, *args, "--json")
    assert code == 2 and needle in data["error"]
