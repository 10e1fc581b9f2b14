"""Bad input and a bad store: one line naming the problem, exit code 2, the store untouched.

Each case goes through the real CLI (``run_app``), so a traceback anywhere fails the test.
"""

from __future__ import annotations

import copy
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import PROJECT, round_dict, write_project

from tunebook.cli import app
from tunebook.cli.output import run_app
from tunebook.store import Store


def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, cwd: Path,
        *args: str) -> tuple[int, str]:
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["tunebook", *args])
    capsys.readouterr()
    code = run_app(app)
    got = capsys.readouterr()
    return code, got.out + got.err


def _one_line_error(code: int, out: str, *words: str) -> None:
    assert code == 2, out
    assert "Traceback" not in out
    text = " ".join(out.split())  # Rich wraps long lines for the terminal
    assert text.startswith("error:"), out
    for w in words:
        assert w.lower() in text.lower(), (w, out)


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    return write_project(tmp_path / "proj")


def _state(pdir: Path) -> list[Any]:
    """What the store holds: rounds and trials, for 'the store is untouched'."""
    db = pdir / ".tunebook" / "store.db"
    if not db.exists():
        return []
    s = Store(db)
    try:
        return [(r.name, [(t.id, t.status) for t in s.trials(r.id)]) for r in s.rounds()]
    finally:
        s.close()


def _write_round(pdir: Path, **over: Any) -> Path:
    path = pdir / "round.yaml"
    path.write_text(yaml.safe_dump(round_dict(**over)))
    return path


ROUND_CASES: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "seed_10_30": ({"seed": 10**30}, ("seed", "less than or equal")),
    "negative_seed": ({"seed": -1}, ("seed",)),
    "long_name": ({"name": "r" * 300}, ("name", "at most 100")),
    "budget_true": ({"budget": True}, ("budget", "whole number")),
    "budget_1e8": ({"budget": 1e8}, ("budget", "10000")),
    "budget_half": ({"budget": 2.5}, ("budget", "whole number")),
    "groups_times_budget": ({"budget": 10_000, "params": {
        "a": {"role": "target", "values": list(range(100))},
        "b": {"role": "target", "values": list(range(100))}}}, ("budget", "100,000")),
    "float_overflow": ({"params": {"lr": {"role": "nuisance", "type": "float",
                                          "low": -1e308, "high": 1e308}}}, ("overflow",)),
    "log_overflow": ({"params": {"lr": {"role": "nuisance", "type": "float", "low": 1e-300,
                                        "high": 1e300, "scale": "log"}}}, ("overflow",)),
    "int_300_digits": ({"params": {"n": {"role": "nuisance", "type": "int", "low": 0,
                                         "high": 10**300}}}, ("2**53",)),
    "values_on_float": ({"params": {"lr": {"role": "nuisance", "type": "float", "low": 0.1,
                                           "high": 1.0, "values": [0.5]}}}, ("values",)),
    "low_on_choice": ({"params": {"opt": {"role": "nuisance", "type": "choice",
                                          "choices": ["sgd"], "low": 0}}}, ("low",)),
    "scale_on_choice": ({"params": {"opt": {"role": "nuisance", "choices": ["sgd"],
                                            "scale": "log"}}}, ("scale",)),
    "infinite_fixed": ({"params": {"wd": {"role": "fixed", "value": float("inf")}}},
                       ("finite",)),
    "huge_target_int": ({"params": {"w": {"role": "target", "values": [1, 10**30]}}},
                        ("2**63",)),
}


@pytest.mark.parametrize("case", sorted(ROUND_CASES))
def test_bad_round_files(case: str, proj: Path, capsys: pytest.CaptureFixture[str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    over, words = ROUND_CASES[case]
    path = _write_round(proj, **over)
    before = _state(proj)
    code, out = cli(capsys, monkeypatch, proj, "round", "new", str(path))
    _one_line_error(code, out, *words)
    assert _state(proj) == before


PROJECT_CASES: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "constraint_1e": ({"constraints": ["dev/latency_ms <= 1e"]}, ("constraints[0]", "1e")),
    "constraint_two_dots": ({"constraints": ["dev/latency_ms <= 1..2"]}, ("1..2",)),
    "constraint_nan": ({"constraints": ["dev/latency_ms <= nan"]}, ("a number",)),
    "formula_3000_terms": ({"score": {"formula": " + ".join(["dev_accuracy"] * 3000),
                                      "goal": "max"}}, ("score.formula", "characters")),
    "formula_deep": ({"score": {"formula": "-" * 1500 + "dev_accuracy", "goal": "max"}},
                     ("score.formula",)),
    "project_seed": ({"seed": 10**30}, ("seed",)),
    "project_timeout": ({"trial_timeout_s": -1}, ("trial_timeout_s",)),
}


@pytest.mark.parametrize("case", sorted(PROJECT_CASES))
def test_bad_project_files(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    over, words = PROJECT_CASES[case]
    project = {**copy.deepcopy(PROJECT), **over}
    pdir = write_project(tmp_path / "p", project)
    code, out = cli(capsys, monkeypatch, pdir, "validate")
    _one_line_error(code, out, *words)
    assert not (pdir / ".tunebook").exists()


def test_yaml_alias_bomb(proj: Path, capsys: pytest.CaptureFixture[str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    (proj / "bomb.yaml").write_text("\n".join(lines) + "\nname: r1\n")
    code, out = cli(capsys, monkeypatch, proj, "round", "new", "bomb.yaml")
    _one_line_error(code, out, "reasonable size", "aliases")
    assert _state(proj) == []


@pytest.mark.parametrize("var,value,words", [
    ("TUNEBOOK_LEASE_S", "abc", ("$TUNEBOOK_LEASE_S",)),
    ("TUNEBOOK_LEASE_S", "0.01", ("between 0.5",)),
    ("TUNEBOOK_LEASE_S", "-5", ("$TUNEBOOK_LEASE_S",)),
    ("TUNEBOOK_LEASE_S", "nan", ("$TUNEBOOK_LEASE_S",)),
    ("TUNEBOOK_MAX_ATTEMPTS", "three", ("$TUNEBOOK_MAX_ATTEMPTS", "integer")),
    ("TUNEBOOK_MAX_ATTEMPTS", "0", ("$TUNEBOOK_MAX_ATTEMPTS",)),
    ("TUNEBOOK_STORE_RETRY_S", "2 minutes", ("$TUNEBOOK_STORE_RETRY_S",)),
])
def test_bad_environment_numbers_stop_before_any_trial(
        var: str, value: str, words: tuple[str, ...], proj: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write_round(proj)
    assert cli(capsys, monkeypatch, proj, "round", "new", str(path))[0] == 0
    before = _state(proj)
    monkeypatch.setenv(var, value)
    code, out = cli(capsys, monkeypatch, proj, "round", "run", "r1", "--executor", "inline")
    _one_line_error(code, out, *words)
    monkeypatch.delenv(var)
    assert _state(proj) == before  # nothing ran: every trial still queued


def test_time_limit_options_are_checked(proj: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write_round(proj)
    assert cli(capsys, monkeypatch, proj, "round", "new", str(path))[0] == 0
    for opt, value in (("--trial-timeout", "-1"), ("--no-progress-timeout", "0"),
                       ("--trial-timeout", "inf")):
        code, out = cli(capsys, monkeypatch, proj, "round", "run", "r1", opt, value)
        _one_line_error(code, out, opt.strip("-").replace("-", "_"))


def test_a_trial_number_beyond_the_store(proj: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = cli(capsys, monkeypatch, proj, "trial", "99999999999999999999")
    _one_line_error(code, out, "not in the store")


@pytest.mark.parametrize("url,words", [
    ("postgresql://u:s3cret@localhost:abc/db", ("store", "does not parse")),
    ("postgresql://u:s3cret@localhost:99999999/db", ("store",)),
    ("mysql://u@h/db", ("sqlite:/// or postgresql://",)),
])
def test_bad_store_urls(url: str, words: tuple[str, ...], proj: Path,
                        capsys: pytest.CaptureFixture[str],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = cli(capsys, monkeypatch, proj, "trials", "r1", "--store", url)
    _one_line_error(code, out, *words)
    assert "s3cret" not in out


# -- a damaged, read-only or full store --------------------------------------------------------


def _made_store(proj: Path, capsys: pytest.CaptureFixture[str],
                monkeypatch: pytest.MonkeyPatch) -> Path:
    path = _write_round(proj, budget=30)
    assert cli(capsys, monkeypatch, proj, "round", "new", str(path))[0] == 0
    db = proj / ".tunebook" / "store.db"
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return db


def _damage(db: Path, how: str) -> None:
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    if how == "truncated":
        data = data[: len(data) // 2 + 100]
    elif how == "garbage":
        data = bytearray(b"this is not a database" * 200)
    elif how == "pages":  # random damage inside the b-tree pages, header intact
        for p in range(1, len(data) // page):
            for off in (10, page // 2, page - 30):
                data[p * page + off] ^= 0x5A
    db.write_bytes(bytes(data))
    for extra in (db.with_name("store.db-wal"), db.with_name("store.db-shm")):
        extra.unlink(missing_ok=True)


@pytest.mark.parametrize("how", ["truncated", "garbage", "pages"])
@pytest.mark.parametrize("command", [["trials", "r1"], ["round", "list"], ["trial", "1"],
                                     ["round", "run", "r1", "--executor", "inline"]])
def test_a_damaged_store_is_named_damaged(how: str, command: list[str], proj: Path,
                                          capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    db = _made_store(proj, capsys, monkeypatch)
    _damage(db, how)
    damaged = db.read_bytes()
    code, out = cli(capsys, monkeypatch, proj, *command)
    _one_line_error(code, out, "damaged")
    assert db.read_bytes() == damaged  # untouched: nothing "repaired" or overwritten


def _mount(folder: Path, options: str) -> Iterator[Path]:
    folder.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {res.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    yield from _mount(tmp_path / "small", "size=1m")


def test_a_read_only_project_says_read_only(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    proj = write_project(tmp_path / "proj")
    _made_store(proj, capsys, monkeypatch)
    view = tmp_path / "ro"
    view.mkdir()
    # A read-only bind mount: what a read-only share or container volume looks like (root
    # ignores file modes, so chmod would prove nothing).
    res = subprocess.run(["mount", "--bind", str(proj), str(view)], capture_output=True)
    if res.returncode != 0:
        pytest.skip("cannot bind-mount here (needs root)")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True)
        for command in (["trials", "r1"], ["round", "run", "r1", "--executor", "inline"],
                        ["round", "new", "round.yaml"]):
            code, out = cli(capsys, monkeypatch, view, *command)
            _one_line_error(code, out, "read-only")
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)


@pytest.mark.parametrize("executor", ["inline", "processes"])
def test_a_full_disk_fails_fast_in_one_line_with_exit_code_1(
        executor: str, small_disk: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    proj = write_project(small_disk / "proj")
    (proj / "round.yaml").write_text(yaml.safe_dump(round_dict(budget=60, params={
        "lr": {"role": "nuisance", "type": "float", "low": 1e-4, "high": 1.0, "scale": "log"},
        "max_train_steps": {"role": "fixed", "value": 2000}})))
    assert cli(capsys, monkeypatch, proj, "round", "new", "round.yaml")[0] == 0
    filler = small_disk / "filler"
    with open(filler, "wb") as fh:  # leave a few pages: the curves fill them
        free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        fh.write(b"\0" * max(0, free - 48 * 1024))
    monkeypatch.setenv("TUNEBOOK_STORE_RETRY_S", "120")  # a full disk must not wait this out
    code, out = cli(capsys, monkeypatch, proj, "round", "run", "r1", "--workers", "2",
                    "--executor", executor)
    assert code == 1, out
    assert "Traceback" not in out
    assert "full" in out.lower()
    filler.unlink()
    # Nothing recorded is lost: every trial is finished, back in the queue, or (when even the
    # re-queue could not be written on the full disk) running on a lease that will expire.
    statuses = {t for _, trials in _state(proj) for _, t in trials}
    assert statuses <= {"completed", "queued", "running"} and "failed" not in statuses
