"""Reproducibility per trial: commit, an uncommitted diff that re-applies with git apply,
command line, versions, GPUs, host; shown by tunebook trial N and in the report."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import round_dict, write_project

from tunebook.cli import app
from tunebook.cli.output import run_app
from tunebook.core.spec import load_project, parse_round
from tunebook.rounds.lifecycle import create_round
from tunebook.store import Store
from tunebook.workers.execute import artifact_root, run_round
from tunebook.workers.repro import Provenance

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(folder), "-c", "user.email=t@t", "-c",
                           "user.name=t", *args], check=True, capture_output=True,
                          text=True).stdout


def test_trial_records_commit_diff_versions_and_host(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_project(tmp_path / "p")
    _git(folder, "init", "-q")
    _git(folder, "add", "-A")
    _git(folder, "commit", "-qm", "first")
    head = _git(folder, "rev-parse", "HEAD").strip()
    committed = (folder / "train.py").read_text()
    edited = committed + "\n# an uncommitted tweak\n"
    (folder / "train.py").write_text(edited)
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    create_round(store, load_project(folder / "tunebook.yaml"), parse_round(round_dict(budget=2)))
    run_round(store, "r1", folder, executor="inline", show_progress=False)
    trials = store.trials()
    provs = [Provenance.of(t.meta) for t in trials]
    assert all(p is not None for p in provs)
    prov = provs[0]
    assert prov is not None
    assert prov.git_commit == head and prov.git_dirty
    assert prov.python == sys.version.split()[0] and prov.packages["tunebook"]
    assert prov.host and prov.gpus == [] and prov.argv
    # the diff re-applies: back to the commit, git apply, the edit is back
    (diff,) = store.artifacts(trials[0].id, "diff")
    patch = artifact_root(folder).read_verified(diff.path, diff.sha256)
    _git(folder, "checkout", "--", "train.py")
    assert (folder / "train.py").read_text() == committed
    (tmp_path / "d.patch").write_bytes(patch)
    _git(folder, "apply", str(tmp_path / "d.patch"))
    assert (folder / "train.py").read_text() == edited
    (pkgs,) = store.artifacts(trials[1].id, "packages")  # shared file, one row per trial
    assert b"tunebook==" in artifact_root(folder).read_verified(pkgs.path, pkgs.sha256)
    # shown by tunebook trial N (text and JSON) and in the report
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "argv", ["tunebook", "trial", str(trials[0].id), "--store",
                                      store.url, "--json"])
    capsys.readouterr()
    assert run_app(app) == 0
    assert json.loads(capsys.readouterr().out)["meta"]["repro"]["git_commit"] == head
    monkeypatch.setattr(sys, "argv", ["tunebook", "trial", str(trials[0].id), "--store",
                                      store.url])
    assert run_app(app) == 0
    text = " ".join(capsys.readouterr().out.split())  # Rich wraps at 80 columns
    assert head[:12] in text and "uncommitted diff" in text and "git apply" in text
    from tunebook.runbook.evidence import Evidence
    from tunebook.runbook.report import build_context

    ev = Evidence(load_project(folder / "tunebook.yaml"), folder, store)
    ctx = build_context(ev, store.round("r1"), tmp_path)
    (group,) = ctx["round"]["reproduce"]
    assert group["trials"] == ", ".join(str(t.id) for t in sorted(trials, key=lambda t: t.id))
    assert any(head[:12] in line for line in group["lines"])


def test_command_trial_records_its_rendered_command(tmp_path: Path) -> None:
    from conftest import PROJECT

    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "tunebook.yaml").write_text(yaml.safe_dump(dict(
        PROJECT, pipeline={"command": "python s.py --lr {lr}"})))
    (folder / "s.py").write_text("print('{\"step\": 1, \"dev_accuracy\": 0.5}')\n")
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    create_round(store, load_project(folder / "tunebook.yaml"), parse_round(round_dict(budget=1)))
    run_round(store, "r1", folder, executor="inline", show_progress=False)
    (t,) = store.trials()
    assert t.meta["command"] == f"{sys.executable} s.py --lr {t.config['lr']!r}"
    prov = Provenance.of(t.meta)
    assert prov is not None and prov.git_commit is None  # not a checkout: said, not guessed
    assert prov.lines()[0] == "code: not a git checkout"
