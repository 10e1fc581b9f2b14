"""The CLI end to end on the tiny project: every command answers in JSON too."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import bare_round, round_dict

from tunebook.cli import app
from tunebook.cli.output import run_app


def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, cwd: Path,
        *args: str) -> tuple[int, str]:
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["tunebook", *args])
    capsys.readouterr()
    code = run_app(app)
    return code, capsys.readouterr().out


def js(out: str) -> Any:
    return json.loads(out)


def test_round_lifecycle_in_json(project_dir: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (project_dir / "round.yaml").write_text(yaml.safe_dump(round_dict(budget=3)))
    code, out = cli(capsys, monkeypatch, project_dir, "validate", "round.yaml", "--json")
    assert code == 0 and js(out)["ok"] is True
    code, out = cli(capsys, monkeypatch, project_dir, "round", "new", "round.yaml", "--json")
    assert code == 0 and js(out)["total"] == 3 and js(out)["counts"] == {"queued": 3}
    code, out = cli(capsys, monkeypatch, project_dir, "round", "run", "r1", "--executor",
                    "inline", "--json")
    data = js(out)
    assert code == 0 and data["counts"] == {"completed": 3} and len(data["trials"]) == 3
    assert data["best"]["score"] == max(t["score"] for t in data["trials"])
    code, out = cli(capsys, monkeypatch, project_dir, "round", "status", "r1", "--json")
    assert js(out)["done"] is True and len(js(out)["best_per_target"]) == 1
    code, out = cli(capsys, monkeypatch, project_dir, "trials", "r1", "--limit", "2", "--json")
    assert [t["status"] for t in js(out)["trials"]] == ["completed", "completed"]
    tid = js(out)["trials"][0]["id"]
    code, out = cli(capsys, monkeypatch, project_dir, "trial", str(tid), "--curve", "--json")
    t = js(out)
    assert t["id"] == tid and t["best_step"] == 20 and "20" in t["curve"]
    code, out = cli(capsys, monkeypatch, project_dir, "round", "list", "--json")
    assert [r["name"] for r in js(out)] == ["r1"]
    code, out = cli(capsys, monkeypatch, project_dir, "export", "r1", "--format", "csv")
    lines = out.strip().splitlines()
    assert len(lines) == 4 and "config.lr" in lines[0] and "best.dev/accuracy" in lines[0]
    code, out = cli(capsys, monkeypatch, project_dir, "export", "r1", "--format", "json")
    assert len(js(out)["trials"]) == 3
    # human tables render too
    code, out = cli(capsys, monkeypatch, project_dir, "trials", "r1")
    assert code == 0 and "best trial" in out


def test_errors_are_one_clean_line_with_exit_2(project_dir: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = cli(capsys, monkeypatch, project_dir, "round", "status", "nope", "--json")
    assert code == 2 and "not in the store" in js(out)["error"]
    (project_dir / "bad.yaml").write_text(yaml.safe_dump(round_dict(budget=0)))
    code, out = cli(capsys, monkeypatch, project_dir, "validate", "bad.yaml", "--json")
    assert code == 2 and "budget" in js(out)["error"]
    code, out = cli(capsys, monkeypatch, project_dir, "export", "r1", "--format", "xml")
    assert code == 2
    code, out = cli(capsys, monkeypatch, project_dir, "trials", "r1", "--store",
                    "postgresql://u:pw1234@127.0.0.1:1/x", "--json")
    assert code == 2 and "unreachable" in js(out)["error"] and "pw1234" not in out


def test_init_then_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = cli(capsys, monkeypatch, tmp_path, "init", "--json")
    assert code == 0 and len(js(out)["written"]) == 4
    text = (tmp_path / "tunebook.yaml").read_text()
    assert "# " in text  # commented for a new user
    code, _ = cli(capsys, monkeypatch, tmp_path, "init", "--json")
    assert code == 2  # never overwrites without --force
    code, out = cli(capsys, monkeypatch, tmp_path, "validate", "round.yaml", "--json")
    assert code == 0, out


def test_console_script_help() -> None:
    exe = Path(sys.executable).parent / "tunebook"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "tunebook"]
    res = subprocess.run([*cmd, "--help"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0
    for word in ("demo", "init", "validate", "baseline", "round", "trials", "trial", "export"):
        assert word in res.stdout


def test_reap_command(project_dir: Path, capsys: pytest.CaptureFixture[str],
                      monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from tunebook.store import open_store

    store = open_store(None, project_dir)
    rid = bare_round(store, "r").id
    store.add_trials(rid, [{"config": {}, "seed": 0}])
    store.claim(rid, "dead-worker", 0.05)
    time.sleep(0.2)
    code, out = cli(capsys, monkeypatch, project_dir, "reap", "--json")
    assert code == 0 and js(out)["reaped"][0]["status"] == "queued"
    code, out = cli(capsys, monkeypatch, project_dir, "reap", "--max-attempts", "0", "--json")
    assert code == 2


def test_json_output_survives_a_chatty_train_function(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import TRAIN_PY, write_project

    chatty = TRAIN_PY.replace("    for step in range(1, steps + 1):",
                              "    print('hello from train')\n"
                              "    for step in range(1, steps + 1):")
    d = write_project(tmp_path / "p", train_py=chatty)
    (d / "round.yaml").write_text(yaml.safe_dump(round_dict(budget=2)))
    cli(capsys, monkeypatch, d, "round", "new", "round.yaml", "--json")
    monkeypatch.setattr(sys, "argv", ["tunebook", "round", "run", "r1", "--executor", "inline",
                                      "--json"])
    capsys.readouterr()
    assert run_app(app) == 0
    captured = capsys.readouterr()
    assert js(captured.out)["counts"] == {"completed": 2}  # stdout is pure JSON
    assert "hello from train" in captured.err
