"""tunebook init beside existing code: writes only tunebook.yaml and round.yaml, never a
user's file; refuses (exit 2) while they exist, listing them; --force replaces only those."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tunebook.cli import app
from tunebook.cli.output import run_app

USER_TRAIN = "import argparse\n# my own training script\n"


def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, cwd: Path,
        *args: str) -> tuple[int, str, str]:
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["tunebook", *args])
    capsys.readouterr()
    code = run_app(app)
    got = capsys.readouterr()
    return code, got.out, got.err


def test_init_beside_code_writes_only_its_two_files(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "train.py").write_text(USER_TRAIN)
    (tmp_path / "model.py").write_text("X = 1\n")
    code, out, _ = cli(capsys, monkeypatch, tmp_path, "init", "--json")
    assert code == 0
    d = json.loads(out)
    assert d["mode"] == "beside-code" and d["script"] == "train.py"
    assert sorted(Path(p).name for p in d["written"]) == ["round.yaml", "tunebook.yaml"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model.py", "round.yaml", "train.py", "tunebook.yaml"]
    assert (tmp_path / "train.py").read_text() == USER_TRAIN
    assert "command: python train.py --lr {lr} --epochs {epochs}" in (
        tmp_path / "tunebook.yaml").read_text()
    code, out, _ = cli(capsys, monkeypatch, tmp_path, "validate", "round.yaml", "--json")
    assert code == 0, out


def test_init_refuses_listing_what_it_would_touch_and_force_spares_user_code(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "train.py").write_text(USER_TRAIN)
    (tmp_path / "tunebook.yaml").write_text("# mine\n")
    code, _, err = cli(capsys, monkeypatch, tmp_path, "init")
    assert code == 2
    assert "tunebook.yaml" in err and "round.yaml" in err  # what exists, what it would write
    assert (tmp_path / "tunebook.yaml").read_text() == "# mine\n"
    assert not (tmp_path / "round.yaml").exists()  # nothing half-done
    code, _, _ = cli(capsys, monkeypatch, tmp_path, "init", "--force")
    assert code == 0
    assert (tmp_path / "train.py").read_text() == USER_TRAIN
    assert "pipeline:" in (tmp_path / "tunebook.yaml").read_text()


def test_force_in_an_example_folder_keeps_an_edited_train_py(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = cli(capsys, monkeypatch, tmp_path, "init", "--json")
    assert code == 0 and json.loads(out)["mode"] == "example"
    (tmp_path / "train.py").write_text(USER_TRAIN)  # the user made the example theirs
    code, out, _ = cli(capsys, monkeypatch, tmp_path, "init", "--force", "--json")
    assert code == 0 and "train.py" not in [Path(p).name for p in json.loads(out)["written"]]
    assert (tmp_path / "train.py").read_text() == USER_TRAIN
