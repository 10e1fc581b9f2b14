"""Exit codes across the CLI: 0 success, 1 the work failed, 2 a usage or spec error (one line,
no traceback), for every command of the Typer app and in plain and --json output."""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from conftest import PROJECT, round_dict, write_project

from tunebook.cli import app
from tunebook.cli.output import run_app


def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, cwd: Path,
        *args: str) -> tuple[int, str, str]:
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["tunebook", *args])
    capsys.readouterr()
    code = run_app(app)
    got = capsys.readouterr()
    return code, got.out, got.err


def leaf_commands() -> Iterator[tuple[list[str], Any]]:
    def walk(cmd: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in sorted(subs.items()):
                yield from walk(sub, [*path, name])
        else:
            yield path, cmd

    yield from walk(typer.main.get_command(app), [])


COMMANDS = list(leaf_commands())


def annotation(param: Any) -> Any:
    """The Python type a parameter was declared with (typer keeps it in type_descriptor)."""
    desc = getattr(param, "type_descriptor", None)
    if desc is not None:
        return desc.annotation
    return {"integer": int, "float": float}.get(getattr(param.type, "name", ""), str)


def filler(cmd: Any) -> list[str]:
    """Valid-looking values for the command's required arguments."""
    args = []
    for p in cmd.params:
        if p.param_type_name == "argument" and p.required:
            args.append("1" if annotation(p) in (int, float) else "x")
    return args


def one_line_error(code: int, out: str, err: str, as_json: bool) -> dict[str, Any] | str:
    assert code == 2, (out, err)
    assert "Traceback" not in out + err
    if as_json:
        doc = json.loads(out)
        assert set(doc) == {"error", "type"}
        return dict(doc)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    return lines[0]


def test_every_command_is_walked() -> None:
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"round run", "trial", "baseline", "report", "data split"} <= names
    assert len(names) >= 25


@pytest.mark.parametrize("as_json", [False, True], ids=["plain", "json"])
@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_unknown_option_is_one_line_and_exit_2(path: list[str], cmd: Any, as_json: bool,
                                               tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    extra = ["--json"] if as_json else []
    code, out, err = run(capsys, monkeypatch, tmp_path, *path, *filler(cmd), "--no-such-opt",
                         *extra)
    msg = one_line_error(code, out, err, as_json)
    assert "--no-such-opt" in str(msg)


NUMERIC = [(path, cmd, p) for path, cmd in COMMANDS for p in cmd.params
           if p.param_type_name == "option" and annotation(p) in (int, float)]


@pytest.mark.parametrize(("path", "cmd", "param"), NUMERIC,
                         ids=[f"{' '.join(p)} {o.opts[0]}" for p, _, o in NUMERIC])
def test_non_numeric_value_is_one_line_and_exit_2(path: list[str], cmd: Any, param: Any,
                                                  tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run(capsys, monkeypatch, tmp_path, *path, *filler(cmd), param.opts[0],
                         "abc")
    assert param.opts[0] in str(one_line_error(code, out, err, as_json=False))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    pdir = write_project(tmp_path / "proj")
    (pdir / "round.yaml").write_text(yaml.safe_dump(round_dict(budget=2)))
    fixed = {"lr": {"role": "fixed", "value": 0.01}, "mode": {"role": "fixed", "value": "fail"}}
    (pdir / "failing.yaml").write_text(yaml.safe_dump(round_dict(name="bad", budget=2,
                                                                 params=fixed)))
    return pdir


# (arguments, expected exit code); each runs plain and with --json.
TABLE: list[tuple[list[str], int]] = [
    (["nosuch"], 2),
    (["trial", "abc"], 2),
    (["trial", "-1"], 2),
    (["trial", "99999"], 2),
    (["round", "run", "r1", "--workers", "abc"], 2),
    (["round", "run", "r1", "--workers", "0", "--executor", "inline"], 2),
    (["round", "status", "nope"], 2),
    (["round", "new", "missing.yaml"], 2),
    (["round", "run", "r1", "--executor", "inline"], 0),
    (["round", "status", "r1"], 0),
    (["round", "run", "bad", "--executor", "inline"], 1),  # every trial fails
    (["trials", "bad"], 0),  # reading failed trials is not itself a failure
]


@pytest.mark.parametrize("as_json", [False, True], ids=["plain", "json"])
def test_exit_code_table(project: Path, as_json: bool, capsys: pytest.CaptureFixture[str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    for args in (["round", "new", "round.yaml"], ["round", "new", "failing.yaml"]):
        assert run(capsys, monkeypatch, project, *args)[0] == 0
    extra = ["--json"] if as_json else []
    for args, want in TABLE:
        code, out, err = run(capsys, monkeypatch, project, *args, *extra)
        assert code == want, (args, out, err)
        assert "Traceback" not in out + err
        if as_json:
            json.loads(out)  # exactly one JSON document on stdout, whatever the outcome
        if want == 1:
            assert "2 of 2 trials of round bad failed" in err
        if want == 2:
            one_line_error(code, out, err, as_json)


@pytest.mark.parametrize("as_json", [False, True], ids=["plain", "json"])
def test_failing_baseline_exits_1(tmp_path: Path, as_json: bool,
                                  capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    proj = copy.deepcopy(PROJECT)
    proj["baseline"]["config"]["mode"] = "fail"
    pdir = write_project(tmp_path / "proj", proj)
    code, out, err = run(capsys, monkeypatch, pdir, "baseline", *(["--json"] if as_json else []))
    assert code == 1, (out, err)
    assert "baseline" in err and "Traceback" not in out + err
    if as_json:
        assert json.loads(out)["ok"] is False
