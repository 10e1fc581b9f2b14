"""What train() really used: keys read, optimizer and lr per step, and the metrics contract."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from epoch_support import epoch_project
from kit_support import make_run

from tunebook.analysis.stability import assess, check_curve, stability
from tunebook.core.errors import SpecError
from tunebook.core.spec import load_project
from tunebook.core.usage import (
    TrackedConfig,
    nearest_declared,
    train_usage,
    train_usage_from_meta,
    undeclared_warning,
)
from tunebook.experiments.baseline import run_baseline
from tunebook.store import Store


def test_the_config_notes_each_key_read() -> None:
    cfg = TrackedConfig({"lr": 0.1, "width": 8, "warmup_steps": 10})
    assert cfg["lr"] == 0.1 and cfg.get("width") == 8
    assert "schedule" not in cfg  # asking for an absent key is a read: a default follows
    r = cfg.reads()
    assert r.read == ("lr", "schedule", "width") and not r.wholesale
    assert r.ignores("warmup_steps") and not r.ignores("schedule")
    assert r.ignored == ("warmup_steps",)
    # It is a plain dict for everything else: JSON, pickle, equality, isinstance.
    assert isinstance(cfg, dict) and json.loads(json.dumps(cfg)) == cfg
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    assert cfg.reads().read == ("lr", "schedule", "width")  # none of that counted


@pytest.mark.parametrize("walk", [dict, lambda c: {**c}, lambda c: list(c.items()),
                                  lambda c: [k for k in c], lambda c: c.copy()])
def test_walking_the_whole_config_never_claims_a_key_was_ignored(walk: object) -> None:
    cfg = TrackedConfig({"lr": 0.1, "warmup_steps": 10})
    walk(cfg)  # type: ignore[operator]
    r = cfg.reads()
    assert r.wholesale and not r.ignores("warmup_steps") and r.ignored == ()


def test_a_trial_without_recorded_reads_ignores_nothing() -> None:
    u = train_usage_from_meta({})
    assert u.reads is None and not u.ignores("warmup_steps") and u.lr_constant is None


@pytest.mark.parametrize(("name", "declared", "near"), [
    ("val_accuracy", {"dev/accuracy", "dev/loss"}, "dev_accuracy"),
    ("valid_loss", {"dev/accuracy", "dev/loss"}, "dev_loss"),
    ("eval_accuracy", {"dev/accuracy", "train_dev/accuracy"}, "dev_accuracy"),
    ("dev_acuracy", {"dev/accuracy"}, "dev_accuracy"),
    ("train_dev_acc", {"train_dev/accuracy", "dev/accuracy"}, "train_dev_accuracy"),
])
def test_the_nearest_declared_metric_reads_split_prefixes(name: str, declared: set[str],
                                                          near: str) -> None:
    assert nearest_declared(name, declared) == near


def test_extra_split_curves_are_welcome_near_misses_warn() -> None:
    declared = {"dev/accuracy", "train/loss"}
    assert not undeclared_warning("train_grad_norm", declared)[0]
    assert not undeclared_warning("train_lr", declared)[0]
    warn, near, message = undeclared_warning("val_accuracy", declared)
    assert warn and near == "dev_accuracy" and "did you mean dev_accuracy?" in message
    assert undeclared_warning("dev_acuracy", declared)[0]
    assert undeclared_warning("accuracy", declared)[0]  # no split: nothing can ever read it


def test_run_watch_records_the_optimizer_and_its_lr_per_step(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    store, run = make_run(tmp_path)
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 3))
    run.watch(opt)
    run.watch(opt)  # twice is once
    for _ in range(5):
        model(torch.ones(1, 2)).sum().backward()
        opt.step()
        sched.step()
    run.close()
    u = train_usage(store.trial(run.trial_id))
    assert u.optimizer is not None and u.optimizer.source == "watch"
    assert u.optimizer.name == "adamw" and u.optimizer.hparams["betas"] == [0.9, 0.999]
    assert u.lr is not None and u.lr.steps == 5
    assert [s for s, _ in u.lr.changes] == [1, 2, 3]  # warmup over 3 steps, then constant
    assert u.lr.changes[-1][1] == pytest.approx(0.01)
    assert u.lr_constant is False and u.has_warmup is True
    with pytest.raises(SpecError, match="run.watch optimizer"):
        run.watch(object())


def test_the_kit_optimizer_is_watched_and_reads_only_its_keys(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from tunebook import pytorch as tk

    store, run = make_run(tmp_path)
    cfg = TrackedConfig({"optimizer": "adamw", "lr": 0.01, "warmup_steps": 5, "width": 3})
    opt = tk.make_optimizer(torch.nn.Linear(2, 1).parameters(), cfg, run)
    r = cfg.reads()
    assert not r.wholesale and "lr" in r.read and r.ignores("warmup_steps")
    assert r.ignores("width")
    opt.step()
    run.close()
    u = train_usage(store.trial(run.trial_id))
    assert u.optimizer is not None and u.optimizer.source == "kit"
    assert u.lr is not None and u.lr.constant


def test_stability_never_scans_a_warmup_that_train_ignores(tmp_path: Path) -> None:
    # Before: the scan ran (every run identical), then said "train() ignores warmup_steps" AND
    # "Warmup is not enough: go on with the mitigation order".
    proj = epoch_project(tmp_path / "p")
    store = Store(proj / "s.db")
    project = load_project(proj / "tunebook.yaml")
    run_baseline(store, project, proj, show_progress=False)
    rep = stability(store, project, proj, "baseline", probe_steps=10, warmups=(0, 2, 3),
                    workers=1, executor="inline", show_progress=False)
    assert rep.warmup == [] and rep.recommended_warmup is None
    assert len(store.trials(store.round(rep.round).id)) == 1  # the lr probe only
    codes = [f.code for f in rep.findings]
    assert "stability.warmup_ignored" in codes
    text = " ".join(f.message + " " + f.action for f in rep.findings)
    assert "Warmup is not enough" not in text and "tk.make_schedule" in text
    d = store.decisions()[-1]
    assert d.kind == "stability" and d.payload.warmup_ignored is True


def test_identical_warmup_runs_are_not_also_called_not_enough() -> None:
    same = [check_curve([(s, 5.0 if s == 30 else 1.0 / s) for s in range(1, 40)],
                        label=f"w{w}", warmup_steps=w, score=0.5) for w in (0, 10, 100)]
    ref = check_curve([(s, 1.0 / s) for s in range(1, 40)])
    _, _, findings = assess(ref, None, same, [])
    codes = [f.code for f in findings]
    assert "stability.warmup_ignored" in codes and "stability.warmup" not in codes


def test_split_examples_counts_are_never_called_typos() -> None:
    from tunebook.core.usage import undeclared_warning

    declared = frozenset({"dev/accuracy", "dev/loss", "train/loss"})
    for name in ("dev_examples", "train_examples", "test_examples", "train_dev_examples"):
        warn, _, _ = undeclared_warning(name, declared)
        assert not warn, name
    assert undeclared_warning("val_accuracy", declared)[0]
