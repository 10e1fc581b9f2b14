"""The decide commands end to end on the tiny project: --json, tables, plots, bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from decide_fixtures import make_project

from tunebook.cli import app
from tunebook.cli.output import run_app
from tunebook.core.spec import RoundSpec
from tunebook.experiments.baseline import run_baseline
from tunebook.rounds.lifecycle import create_round
from tunebook.store import open_store
from tunebook.workers.execute import run_round


def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], folder: Path,
        *args: str) -> tuple[int, str]:
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "argv", ["tunebook", *args])
    code = run_app(app)
    return code, capsys.readouterr().out


@pytest.mark.slow
def test_decide_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("TUNEBOOK_STORE", raising=False)
    project = make_project(tmp_path, config={"lr": 0.01, "width": 8, "max_train_steps": 40,
                                             "predictions": True})
    store = open_store(None, tmp_path)
    run_baseline(store, project, tmp_path, show_progress=False)
    spec = RoundSpec.model_validate({"name": "width", "question": "wider?", "budget": 1,
                                     "params": {"width": {"role": "target", "values": [8, 16]}}})
    create_round(store, project, spec)
    run_round(store, "width", tmp_path, executor="inline", show_progress=False)

    code, out = cli(monkeypatch, capsys, tmp_path, "diagnose", "--json")
    assert code == 0 and json.loads(out)["largest"] == "avoidable_bias"
    code, out = cli(monkeypatch, capsys, tmp_path, "diagnose", "--round", "width", "--plot",
                    "ladder.png")
    assert code == 0 and "avoidable bias" in out and (tmp_path / "ladder.png").stat().st_size
    code, out = cli(monkeypatch, capsys, tmp_path, "diagnose", "--trial", "999", "--json")
    assert code == 2 and "tunebook trials" in json.loads(out)["error"]

    code, out = cli(monkeypatch, capsys, tmp_path, "errors", "width", "--export", "s.csv",
                    "--plot", "errors.png", "--json")
    data = json.loads(out)
    pairs = [c for c in data["categories"] if c["dimension"] == "confusion"]
    assert code == 0 and pairs[0]["value"] == "3 -> 8"
    assert (tmp_path / "s.csv").exists() and (tmp_path / "errors.png").exists()
    code, out = cli(monkeypatch, capsys, tmp_path, "errors", "width", "--tags", "s.csv")
    assert code == 0 and "likely mislabelled" in out and "3 -> 8" in out
    code, out = cli(monkeypatch, capsys, tmp_path, "errors", "widht", "--json")
    assert code == 2 and "Did you mean 'width'" in json.loads(out)["error"]

    code, out = cli(monkeypatch, capsys, tmp_path, "promote", "width", "--seeds", "3",
                    "--workers", "1", "--executor", "inline", "--plot", "seeds.png")
    assert code == 0 and "promoted" in out and (tmp_path / "seeds.png").exists()
    code, out = cli(monkeypatch, capsys, tmp_path, "promote", "width", "--seeds", "1",
                    "--json")
    assert code == 2 and "--seeds" in json.loads(out)["error"]

    code, out = cli(monkeypatch, capsys, tmp_path, "stability", "width", "--probe-steps",
                    "20", "--warmups", "0,2", "--workers", "1", "--executor", "inline",
                    "--plot", "stab.png")
    assert code == 0 and "mitigation order" in out and "LR warmup" in out
    assert (tmp_path / "stab.png").exists()
    code, out = cli(monkeypatch, capsys, tmp_path, "stability", "width", "--warmups", "a,b",
                    "--json")
    assert code == 2 and "--warmups" in json.loads(out)["error"]
