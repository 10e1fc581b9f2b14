from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from runbook_support import make_project, with_baseline, with_round
from typer.testing import CliRunner

from tunebook.cli import app
from tunebook.core.errors import NotFoundError, SpecError
from tunebook.core.spec import load_round
from tunebook.store import Store


@pytest.fixture
def args(tmp_path: Path, store: Store) -> list[str]:
    folder = make_project(tmp_path / "p")
    with_baseline(folder, store)
    with_round(folder, store)
    return ["-p", str(folder / "tunebook.yaml"), "--store", store.url]


def _run(*argv: str) -> str:
    result = CliRunner().invoke(app, list(argv), terminal_width=160)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_checklist_prints_sections_statuses_and_next_steps(args: list[str]) -> None:
    out = _run("checklist", *args)
    assert "checklist of tiny-cls" in out and "2.4 Baseline training run" in out
    assert "✓ done" in out and "next: tunebook promote width" in out
    only = _run("checklist", "--section", "3", "--todo", *args)
    assert "3.4.decision" in only and "2.4 Baseline" not in only and "✓ done" not in only


def test_note_then_the_checklist_shows_it(args: list[str]) -> None:
    out = _run("note", "1.2.deployment", "dev and test are last month's tickets", *args)
    assert "noted 1.2.deployment" in out
    assert "(note)" in _run("checklist", "--section", "1.2", *args)


def test_report_writes_the_file_and_names_missing_sections(args: list[str],
                                                           tmp_path: Path) -> None:
    out = _run("report", "width", "--out", str(tmp_path / "r.html"), *args)
    assert "wrote the round report" in out and (tmp_path / "r.html").stat().st_size > 10_000


def test_advise_writes_a_round_file_that_round_new_accepts(args: list[str],
                                                          tmp_path: Path) -> None:
    target = tmp_path / "next.yaml"
    out = _run("advise", "--write", str(target), *args)
    assert "bottleneck" in out and "tunebook promote width" in out
    if target.exists():  # a round is proposed once the diagnosis says what to ask
        spec = load_round(target)
        _run("round", "new", str(target), *args)
        assert f"round {spec.name}" in _run("round", "status", spec.name, *args)
        result = CliRunner().invoke(app, ["advise", "--write", str(target), *args])
        assert isinstance(result.exception, SpecError) and "--force" in str(result.exception)


def test_advise_from_a_task_writes_a_draft_project(tmp_path: Path) -> None:
    task = tmp_path / "task.yaml"
    task.write_text("task: regression\ngoal: predict delivery minutes\n"
                    "data: {modality: tabular, examples: 40000}\n")
    draft = tmp_path / "tunebook.yaml"
    out = _run("advise", "--task", str(task), "--write-project", str(draft))
    assert "mae" in out and draft.exists()
    from tunebook.core.spec import load_project

    assert load_project(draft).score == "dev/mae"


def test_bad_input_is_a_clear_error(args: list[str], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", "nope", *args])
    assert isinstance(result.exception, NotFoundError)
    task = tmp_path / "t.txt"
    task.write_text("make customers happy")
    result = CliRunner().invoke(app, ["advise", "--task", str(task)])
    assert isinstance(result.exception, SpecError) and "task type" in str(result.exception)
    # Through the real entry point: one line on stderr, exit code 2, no traceback.
    proc = subprocess.run([sys.executable, "-m", "tunebook", "note", "0.nothing", "x", *args],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={"PYTHONPATH": str(Path(__file__).parents[1] / "src"),
                               "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2 and "checklist item id" in proc.stderr
    assert "Traceback" not in proc.stderr
