"""What people see is what the store holds: no Rich markup read from data, no terminal control
sequences, brackets kept in error messages, --json untouched; and files get the umask's mode."""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import round_dict, write_project
from hypothesis import given, settings
from hypothesis import strategies as st

from tunebook.cli import app
from tunebook.cli.output import for_humans, run_app
from tunebook.store.files import ArtifactRoot, atomic_write

NASTY = ("what [/note] lr? [bold red]RED[/] [link=http://x]click[/link] \\[/] trailing\\ "
         "\x1b]0;pwned\x07 \x1b[2J\x1b[31m \r\x08 \u202egnp.exe \x9b1m :smile:")
SHOWN = "what [/note] lr? [bold red]RED[/] [link=http://x]click[/link] \\[/] trailing\\"


def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, cwd: Path,
        *args: str) -> tuple[int, str, str]:
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["tunebook", *args])
    capsys.readouterr()
    code = run_app(app)
    got = capsys.readouterr()
    return code, got.out, got.err


@pytest.fixture
def nasty_round(tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str],
                monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """A round whose question and config hold markup and escapes, on SQLite and PostgreSQL."""
    pdir = write_project(tmp_path / "proj")
    params = {"lr": {"role": "nuisance", "type": "float", "low": 1e-3, "high": 1.0,
                     "scale": "log"},
              "tag": {"role": "fixed", "value": "[bold]x[/bold] \x1b[2J"}}
    (pdir / "round.yaml").write_text(yaml.safe_dump(round_dict(budget=2, question=NASTY,
                                                               params=params)))
    st = ["--store", store_url]
    assert run(capsys, monkeypatch, pdir, "round", "new", "round.yaml", *st)[0] == 0
    assert run(capsys, monkeypatch, pdir, "round", "run", "r1", "--executor", "inline",
               *st)[0] == 0
    yield pdir, store_url


@pytest.mark.parametrize("args", [["round", "list"], ["round", "status", "r1"], ["trials", "r1"],
                                  ["trial", "1"]])
def test_store_text_is_shown_as_written(nasty_round: tuple[Path, str], args: list[str],
                                        capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # one row per line, so the text reads whole
    pdir, url = nasty_round
    code, out, err = run(capsys, monkeypatch, pdir, *args, "--store", url)
    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out and "\x9b" not in out
    if args[0] == "round":
        assert SHOWN in out  # every bracket and backslash, nothing interpreted
    if args[0] == "trial":
        assert "[bold]x[/bold]" in out


@pytest.mark.parametrize("args", [["round", "list"], ["round", "status", "r1"], ["trials", "r1"],
                                  ["trial", "1"]])
def test_json_is_never_altered(nasty_round: tuple[Path, str], args: list[str],
                               capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    pdir, url = nasty_round
    code, out, _ = run(capsys, monkeypatch, pdir, *args, "--json", "--store", url)
    assert code == 0
    text = json.dumps(json.loads(out))
    assert "\\u001b" in text  # the escape is kept, JSON-escaped (a terminal never sees ESC)
    if args[0] == "round" or args == ["trial", "1"]:
        assert json.dumps(NASTY)[1:-1] in text or json.dumps("[bold]x[/bold] \x1b[2J")[1:-1] \
            in text


def test_error_messages_keep_their_brackets(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    pdir = write_project(tmp_path / "proj")
    (pdir / "bad.yaml").write_text(yaml.safe_dump(round_dict(name="bad name [x]!")))
    code, out, err = run(capsys, monkeypatch, pdir, "validate", "bad.yaml")
    assert code == 2 and "'^[A-Za-z0-9][A-Za-z0-9_.-]*$'" in err and "bad name [x]!" in err
    code, out, err = run(capsys, monkeypatch, pdir, "validate", "bad.yaml", "--json")
    assert code == 2 and "'^[A-Za-z0-9][A-Za-z0-9_.-]*$'" in json.loads(out)["error"]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_prints_as_itself_without_controls(text: str) -> None:
    from io import StringIO

    from rich.console import Console

    from tunebook.cli.output import _Stream

    buf = StringIO()
    stream = _Stream(stderr=False)
    stream._real = lambda: buf  # type: ignore[method-assign]
    Console(file=stream, width=10_000, color_system=None).print(  # type: ignore[arg-type]
        f"[bold]>{for_humans(text)}<[/]", highlight=False, emoji=False)
    shown = buf.getvalue().rstrip("\n")
    expected = "".join(c for c in text if c in "\t\n" or not (
        ord(c) < 32 or 0x7f <= ord(c) <= 0x9f or 0x202a <= ord(c) <= 0x202e
        or 0x2066 <= ord(c) <= 0x2069))
    assert not any(ord(c) < 32 and c not in "\t\n" for c in shown)
    # Rich expands tabs and strips trailing spaces per line: compare all but the whitespace.
    assert "".join(shown.split()) == "".join(f">{expected}<".split())


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_written_files_follow_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        atomic_write(tmp_path / "report.html", b"x")
        full, _ = ArtifactRoot(tmp_path / "artifacts").write("t1/ckpt-10.pt", b"weights")
    finally:
        os.umask(old)
    for path in (tmp_path / "report.html", full):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_a_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "splits.json"
    target.write_bytes(b"old")
    target.chmod(0o640)
    atomic_write(target, b"new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640 and target.read_bytes() == b"new"
