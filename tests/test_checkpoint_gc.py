"""Checkpoint retention per trial, `tunebook gc`, and predictions read at the best step."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT, write_project

from tunebook.analysis.errors import errors_of_trial
from tunebook.cli import app
from tunebook.cli.output import run_app
from tunebook.core.decisions import PromotionPayload
from tunebook.core.spec import load_project, parse_round
from tunebook.experiments.baseline import run_baseline
from tunebook.experiments.cleanup import collect
from tunebook.rounds.lifecycle import create_round
from tunebook.store import Store
from tunebook.workers.execute import run_round

pytest.importorskip("torch")

# Plain API only: a checkpoint at every eval step, predictions saved without a step at the end.
# dev accuracy peaks at step 20 (of 50), so the last model is not the best one.
PLAIN_PY = '''
def train(config, run):
    steps = int(config["max_train_steps"])
    for step in range(1, steps + 1):
        run.log(step, train_loss=1.0 / step)
        if run.should_eval(step):
            acc = 0.9 - 0.002 * (step - 20) ** 2 / 10 + 0.001 * config.get("lr", 0.01)
            run.log(step, dev_accuracy=acc, dev_latency_ms=1.0)
            run.save_checkpoint(step, {"step": step, "w": [float(step)] * 2000})
    ids = list(range(30))
    run.save_predictions(ids, [i % 3 for i in ids], [(i + (i % 5 == 0)) % 3 for i in ids])
'''


def _project(folder: Path, **over: Any) -> Path:
    return write_project(folder, {**PROJECT, "baseline": {"config": {"lr": 0.01,
                                                                     "max_train_steps": 50}},
                                  **over}, PLAIN_PY)


def _ckpt_steps(store: Store, trial_id: int) -> list[int]:
    return sorted(a.step or 0 for a in store.artifacts(trial_id, "checkpoint"))


def test_a_finished_trial_keeps_its_best_checkpoints_and_the_latest(tmp_path: Path) -> None:
    # Before: every checkpoint the plain API saved was kept (290 MB after 16 short trials).
    proj = _project(tmp_path / "p")
    store = Store(proj / "s.db")
    v = run_baseline(store, load_project(proj / "tunebook.yaml"), proj, show_progress=False)
    assert store.trial(v.trial_id).best_step == 20
    assert _ckpt_steps(store, v.trial_id) == [15, 20, 50]  # default: the best 2 + the latest


def test_the_project_setting_decides_how_many(tmp_path: Path) -> None:
    proj = _project(tmp_path / "p", checkpoints={"keep_best": 1, "keep_latest": False})
    store = Store(proj / "s.db")
    v = run_baseline(store, load_project(proj / "tunebook.yaml"), proj, show_progress=False)
    assert _ckpt_steps(store, v.trial_id) == [20]
    files = sorted(p.name for p in (proj / ".tunebook" / "artifacts").rglob("ckpt-*"))
    assert files == ["ckpt-00000020.pt"]  # the files go with the rows


def test_gc_frees_finished_rounds_but_never_the_baseline(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    proj = _project(tmp_path / "p", checkpoints={"keep_best": 3, "keep_latest": True})
    store = Store(proj / ".tunebook" / "store.db")
    project = load_project(proj / "tunebook.yaml")
    v = run_baseline(store, project, proj, show_progress=False)
    create_round(store, project, parse_round({
        "name": "lr", "question": "which lr?", "budget": 2, "seed": 0,
        "algorithm": "quasi_random",
        "params": {"lr": {"role": "nuisance", "type": "float", "low": 0.001, "high": 0.1,
                          "scale": "log"}}}))
    run_round(store, "lr", proj, workers=1, executor="inline", show_progress=False)
    others = [t.id for t in store.trials(store.round("lr").id)]
    before = {t: _ckpt_steps(store, t) for t in [v.trial_id, *others]}
    assert all(len(s) == 4 for s in before.values())  # best 3 + latest 50
    folder = proj / ".tunebook" / "artifacts" / "lr" / f"trial-{others[0]:06d}"
    orphan = folder / "ckpt-x.pt.corrupt-1"  # a file set aside, that no store row points at
    orphan.write_bytes(b"x" * 1000)

    monkeypatch.chdir(proj)
    monkeypatch.setattr(sys, "argv", ["tunebook", "gc", "--keep-best", "1", "--dry-run",
                                      "--json"])
    capsys.readouterr()
    assert run_app(app) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["dry_run"] is True and dry["bytes_freed"] > 1000
    assert {t: _ckpt_steps(store, t) for t in before} == before and orphan.exists()

    monkeypatch.setattr(sys, "argv", ["tunebook", "gc", "--keep-best", "1", "--json"])
    assert run_app(app) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["bytes_freed"] == dry["bytes_freed"]
    assert v.trial_id in done["protected_trials"]
    assert _ckpt_steps(store, v.trial_id) == before[v.trial_id]  # the baseline: untouched
    for t in others:
        assert _ckpt_steps(store, t) == [20]  # the best only: a finished trial never resumes
    assert not orphan.exists()
    freed = sum(d["size"] for d in done["dropped"]) + 1000
    assert done["bytes_freed"] == freed


def test_gc_never_touches_a_promoted_config(tmp_path: Path) -> None:
    proj = _project(tmp_path / "p")
    store = Store(proj / "s.db")
    project = load_project(proj / "tunebook.yaml")
    run_baseline(store, project, proj, show_progress=False)
    create_round(store, project, parse_round({
        "name": "lr", "question": "which lr?", "budget": 2, "seed": 0,
        "algorithm": "quasi_random",
        "params": {"lr": {"role": "nuisance", "type": "float", "low": 0.001, "high": 0.1,
                          "scale": "log"}}}))
    run_round(store, "lr", proj, workers=1, executor="inline", show_progress=False)
    a, b = store.trials(store.round("lr").id)
    store.add_decision("promotion", "promoted", PromotionPayload(
        promoted=True, verdict="promoted", config=a.config, trial_id=a.id, round="lr",
        promotion_round="promote-lr", baseline_config=project.baseline.config,
        new_baseline=a.config, changed={}, seed_trials={"candidate": [], "baseline": []},
        unhealthy={}))
    kept = _ckpt_steps(store, a.id)
    res = collect(store, project, proj, keep_best=0)
    assert _ckpt_steps(store, a.id) == kept and _ckpt_steps(store, b.id) == []
    assert a.id in res.protected_trials and res.bytes_freed > 0


def test_errors_says_which_step_it_read(tmp_path: Path) -> None:
    # The plain API saved predictions without a step: errors says so, and that the best step
    # is another one. Before: nothing said which model made the predictions.
    proj = _project(tmp_path / "p")
    store = Store(proj / "s.db")
    project = load_project(proj / "tunebook.yaml")
    v = run_baseline(store, project, proj, show_progress=False)
    e = errors_of_trial(store, project, proj, store.trial(v.trial_id))
    assert e.predictions_step is None and e.best_step == 20
    assert "without a step" in e.step_note and "best step is 20" in e.step_note
    assert any(f.code == "errors.predictions_step" for f in e.findings)


KIT_PY = '''
import torch
from torch import nn
from tunebook import pytorch as tk


def train(config, run):
    torch.manual_seed(0)
    x = torch.randn(60, 3)
    y = (x[:, 0] > 0).long()
    model = nn.Linear(3, 2)
    opt = tk.make_optimizer(model.parameters(), config, run)
    ckpts = tk.Checkpoints(run)
    for step in range(1, int(config["max_train_steps"]) + 1):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        run.log(step, train_loss=loss.item())
        if run.should_eval(step):
            # a planted peak at step 10: later models score worse on "dev"
            run.log(step, dev_accuracy=1.0 - abs(step - 10) / 100, dev_latency_ms=1.0)
            ckpts.save(step, model, opt)
    tk.save_best_predictions(run, ckpts, model, x, list(range(60)), y, batch_size=64)
'''


def test_the_kit_saves_predictions_at_the_best_step(tmp_path: Path) -> None:
    proj = write_project(tmp_path / "p", {**PROJECT, "baseline": {"config": {
        "optimizer": "sgd", "lr": 0.1, "max_train_steps": 30}}}, KIT_PY)
    store = Store(proj / "s.db")
    project = load_project(proj / "tunebook.yaml")
    v = run_baseline(store, project, proj, show_progress=False)
    t = store.trial(v.trial_id)
    assert t.best_step == 10
    [art] = store.artifacts(t.id, "predictions")
    assert art.step == 10
    e = errors_of_trial(store, project, proj, t)
    assert e.predictions_step == 10 and "the trial's best step" in e.step_note
    assert not any(f.code == "errors.predictions_step" for f in e.findings)
