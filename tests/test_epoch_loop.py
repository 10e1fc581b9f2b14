"""A real epoch-based PyTorch script (StepLR, unshuffled DataLoader, no kit) through tunebook:
the global step, evaluation inside epochs, a stop mid-epoch, what train() really used, and the
metrics contract."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from epoch_support import EPOCH_PROJECT, epoch_project

from tunebook.cli import app
from tunebook.cli.output import run_app
from tunebook.core.spec import load_project
from tunebook.core.usage import train_usage
from tunebook.experiments.baseline import run_baseline
from tunebook.runbook.checklist import checklist
from tunebook.store import Store

pytest.importorskip("torch")


def _baseline(folder: Path, metric: str = "dev_accuracy") -> tuple[Store, object, object]:
    proj = epoch_project(folder, metric)
    store = Store(proj / "s.db")
    verdict = run_baseline(store, load_project(proj / "tunebook.yaml"), proj,
                           show_progress=False)
    trial = store.trial(verdict.trial_id)
    return store, verdict, trial


def _item(cl: object, item_id: str) -> object:
    return next(i for s in cl.sections for i in s.items if i.id == item_id)  # type: ignore[attr-defined]


def test_an_epoch_loop_with_steplr_runs_and_records_what_it_really_used(tmp_path: Path) -> None:
    store, verdict, trial = _baseline(tmp_path / "p")
    assert trial.status == "completed" and trial.score is not None
    curve = store.curve(trial.id)
    # One global step across epochs: 1..30, never reset at an epoch boundary.
    assert sorted(s for s, v in curve.items() if "train/loss" in v) == list(range(1, 31))
    # Evaluated inside epochs (5 is in epoch 2, 30 in the middle of epoch 8), and at the end.
    dev = sorted(s for s, v in curve.items() if "dev/accuracy" in v)
    assert dev == [5, 10, 15, 20, 25, 30]
    assert trial.best_step in dev
    u = train_usage(trial)
    # StepLR every 2 epochs of 4 steps: the lr halves after optimizer steps 8, 16 and 24.
    assert u.lr is not None and u.lr.steps == 30
    assert u.lr.changes == ((1, 0.2), (9, 0.1), (17, 0.05), (25, 0.025))
    assert u.lr_constant is False
    assert u.optimizer is not None and u.optimizer.source == "watch"
    assert u.optimizer.name == "sgd" and u.optimizer.hparams["momentum"] == 0.9
    assert u.optimizer.hparams["weight_decay"] == 0  # a default, recorded too
    assert u.reads is not None
    assert {"lr", "batch_size", "step_size", "max_train_steps"} <= set(u.reads.read)
    assert u.ignores("warmup_steps") and not u.ignores("lr")


def test_the_checklist_reads_the_recorded_lr_not_the_config(tmp_path: Path) -> None:
    # Before: "baseline.config has no schedule: a constant lr" for this StepLR script, and
    # "all optimizer hyperparameters logged" from the config keys alone.
    store, _, trial = _baseline(tmp_path / "p")
    proj = tmp_path / "p"
    cl = checklist(load_project(proj / "tunebook.yaml"), proj, store)
    sched = _item(cl, "2.4.schedule")
    assert sched.status == "not_done"  # type: ignore[attr-defined]
    text = " ".join(sched.evidence)  # type: ignore[attr-defined]
    assert f"trial {trial.id}" in text and "0.1 from step 9" in text
    assert "constant" not in text
    logged = _item(cl, "2.2.logged")
    assert logged.status == "done"  # type: ignore[attr-defined]
    assert "sgd" in logged.evidence[0] and "momentum" in logged.evidence[0]  # type: ignore[attr-defined]
    # warmup_steps sits in the config, but train() never reads it: it mitigates nothing.
    store.add_decision("stability", "probe unstable",
                       {"trial_id": 1, "round": "stability-r", "probe_unstable": True,
                        "recommended_warmup": None,
                        "clip_threshold": None})
    cl = checklist(load_project(proj / "tunebook.yaml"), proj, store)
    mit = _item(cl, "5.2.mitigation")
    assert mit.status == "not_done"  # type: ignore[attr-defined]
    assert "None" not in (mit.next or "")  # type: ignore[attr-defined]
    assert "tk.make_schedule" in (mit.next or "")  # type: ignore[attr-defined]


def test_a_misnamed_metric_warns_once_and_fails_the_baseline(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    # Before: "baseline ... ok, score - at step None", exit 0, no warning.
    store, verdict, trial = _baseline(tmp_path / "p", metric="val_accuracy")
    err = capfd.readouterr().err
    assert err.count("'val_accuracy' is not declared") == 1  # once, not at every eval
    assert "did you mean dev_accuracy?" in err
    assert trial.status == "failed"
    assert "dev_accuracy" in (trial.error or "") and "val_accuracy" in (trial.error or "")
    assert trial.meta["undeclared_metrics"] == {"val_accuracy": "dev_accuracy"}
    assert not verdict.ok  # type: ignore[attr-defined]


def test_tunebook_baseline_exits_1_with_one_line_when_the_score_is_never_logged(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    proj = epoch_project(tmp_path / "p", metric="val_accuracy")
    monkeypatch.chdir(proj)
    monkeypatch.setattr(sys, "argv", ["tunebook", "baseline", "--json"])
    capsys.readouterr()
    assert run_app(app) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False and out["status"] == "failed"
    assert any("dev_accuracy" in p for p in out["problems"])


def test_a_round_whose_every_trial_failed_exits_1(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    proj = epoch_project(tmp_path / "p", metric="val_accuracy")
    (proj / "round.yaml").write_text(yaml.safe_dump({
        "name": "lr", "question": "which lr?", "budget": 2, "seed": 0,
        "algorithm": "quasi_random",
        "params": {"lr": {"role": "nuisance", "type": "float", "low": 0.01, "high": 0.5,
                          "scale": "log"}}}))
    monkeypatch.chdir(proj)
    for args, code in ((["round", "new", "round.yaml", "--json"], 0),
                       (["round", "run", "lr", "--workers", "1", "--executor", "inline",
                         "--json"], 1)):
        monkeypatch.setattr(sys, "argv", ["tunebook", *args])
        capsys.readouterr()
        assert run_app(app) == code
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["counts"] == {"failed": 2}
    assert "2 of 2 trials of round lr failed, every one" in out["failed"]
    assert "2 of 2 trials of round lr failed" in captured.err  # the one line, on stderr
    assert "dev_accuracy" in out["failed"]


def test_a_script_that_logs_nothing_fails_with_a_reason(tmp_path: Path) -> None:
    from conftest import write_project

    proj = write_project(tmp_path / "p", EPOCH_PROJECT, "def train(config, run):\n    pass\n")
    store = Store(proj / "s.db")
    verdict = run_baseline(store, load_project(proj / "tunebook.yaml"), proj,
                           show_progress=False)
    trial = store.trial(verdict.trial_id)
    assert trial.status == "failed"
    assert "without logging any metric" in (trial.error or "")


def test_the_steps_probe_says_when_its_lr_was_not_constant(tmp_path: Path) -> None:
    # The probe asks for schedule: constant; this script's StepLR ignores that. Before, the
    # estimate was presented as a constant-lr one.
    from tunebook.experiments.steps import run_probe

    proj = epoch_project(tmp_path / "p")
    store = Store(proj / "s.db")
    est = run_probe(store, load_project(proj / "tunebook.yaml"), proj, probe_steps=20,
                    show_progress=False)
    assert any("lr was not constant" in n and "schedule" in n for n in est.notes)
