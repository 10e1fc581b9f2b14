"""Stability protocol: curve rules, the probe plan, and a run on the tiny project."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from decide_fixtures import make_project

from tunebook.analysis.stability import (
    MITIGATION_ORDER,
    assess,
    check_curve,
    plan_probes,
    stability,
)
from tunebook.core.errors import SpecError
from tunebook.core.spec import RoundSpec
from tunebook.rounds.lifecycle import create_round
from tunebook.store import Store
from tunebook.workers.execute import run_round


def smooth(n: int = 200) -> list[tuple[int, float]]:
    return [(s, 2.3 * 0.98 ** s + 0.05) for s in range(1, n + 1)]


def test_curve_rules() -> None:
    assert not check_curve(smooth()).unstable
    spiky = smooth()
    spiky[120] = (121, 3.0)
    assert check_curve(spiky).spikes == [121]
    noisy_tail = [(s, v * (3.0 if s > 150 and s % 7 == 0 else 1.0)) for s, v in smooth()]
    assert check_curve(noisy_tail).spikes == []  # near-zero minibatch noise is not a spike
    rising = [(s, 1.0 + 0.01 * s) for s in range(1, 100)]
    assert check_curve(rising).rising
    blowup = [(s, 2.3 * (3 ** s if s < 10 else 0.9 ** s)) for s in range(1, 100)]
    assert check_curve(blowup).early_blowup
    assert check_curve(smooth()[:50] + [(51, math.inf)]).diverged
    assert check_curve(smooth(), status="diverged").signals() == ["diverged"]


def test_plan_caps_warmup_at_ten_percent_and_scales_lr() -> None:
    items = plan_probes({"lr": 0.01, "max_train_steps": 5000, "width": 8}, probe_steps=500)
    probe, *warm = items
    assert probe["config"] == {"lr": 0.02, "max_train_steps": 500, "width": 8}
    assert [w["config"]["warmup_steps"] for w in warm] == [0, 10, 100]  # 1000 > 10% of 5000
    assert all(w["config"]["lr"] == 0.02 and w["config"]["max_train_steps"] == 5000
               for w in warm)
    assert plan_probes({"lr": 0.01, "max_train_steps": 100}, probe_steps=500)[0]["config"][
        "max_train_steps"] == 100  # the probe is never longer than training
    short = plan_probes({"lr": 0.01, "max_train_steps": 100})
    assert [i["group"] for i in short] == [{"probe": "lr", "warmup_steps": 0},
                                           {"probe": "warmup", "warmup_steps": 10}]
    with pytest.raises(SpecError, match="config.lr"):
        plan_probes({"max_train_steps": 100})
    with pytest.raises(SpecError, match="max_train_steps"):
        plan_probes({"lr": 0.1})
    with pytest.raises(SpecError, match="--lr-factor"):
        plan_probes({"lr": 0.1, "max_train_steps": 10}, lr_factor=0)


def test_assess_clipping_warning_and_mitigation_order() -> None:
    ref = check_curve(smooth(), label="chosen", lr=0.01)
    _, clip, findings = assess(ref, None, [], [1.0] * 40 + [5.0] * 60, current_clip=2.0)
    assert clip is not None and clip.too_many_clipped
    f = next(f for f in findings if f.code == "stability.clipping")
    assert f.severity == "warning" and "lower the lr" in f.action.lower()
    bad_probe = check_curve(smooth()[:50] + [(51, math.inf)], label="lr x2", lr=0.02,
                            status="diverged")
    _, _, findings = assess(ref, bad_probe, [], [])
    probe = next(f for f in findings if f.code == "stability.lr_probe")
    assert probe.severity == "warning" and MITIGATION_ORDER[0] in probe.action
    assert any(f.code == "stability.no_grad_norms" for f in findings)


def test_stability_run_on_the_tiny_project(tmp_path: Path) -> None:
    project = make_project(tmp_path, config={"lr": 0.02, "width": 8, "max_train_steps": 1000})
    store = Store(tmp_path / "s.db")
    create_round(store, project, RoundSpec(name="r", question="q", budget=1))
    run_round(store, "r", tmp_path, executor="inline", show_progress=False)
    report = stability(store, project, tmp_path, "r", probe_steps=200, workers=1,
                       executor="inline", show_progress=False)
    assert not report.reference.unstable
    assert report.probe is not None and report.probe.early_blowup  # 2x lr blows up early
    assert report.probe.steps == 200 and report.probe.lr == pytest.approx(0.04)
    by_w = {w.warmup_steps: w for w in report.warmup}
    assert sorted(by_w) == [0, 10, 100]
    assert by_w[0].unstable and by_w[10].unstable and not by_w[100].unstable
    assert report.recommended_warmup == 100
    assert report.clip is not None and 1.8 < report.clip.threshold < 2.0
    assert not report.clip.too_many_clipped
    codes = [f.code for f in report.findings]
    assert codes[:2] == ["stability.lr_probe", "stability.warmup"]
    assert report.mitigation_order == MITIGATION_ORDER
    rec = store.round(report.round or "")
    assert rec.kind == "stability"
    assert {t.kind for t in store.trials(rec.id)} == {"probe"}
    assert store.decisions(kind="stability")[-1].payload.recommended_warmup == 100


def test_identical_warmup_runs_are_reported_as_ignored() -> None:
    ref = check_curve(smooth(), label="chosen", lr=0.01)
    same = [check_curve(smooth(), label=f"warmup {w}", warmup_steps=w, score=0.9)
            for w in (0, 10)]
    recommended, _, findings = assess(ref, None, same, [1.0, 2.0])
    assert recommended == 0  # ties go to the shorter warmup
    assert any(f.code == "stability.warmup_ignored" for f in findings)


def test_stability_judges_the_clip_threshold_the_kit_uses(tmp_path: Path) -> None:
    # Regression: stability read `clip_norm` while the kit (tk.clip_threshold) reads `clip`,
    # so the user's threshold was never judged. At clip 1.0 most recorded norms (~1.5-2) exceed
    # it: clipping would hide a too-high lr, which only the user's own threshold shows.
    project = make_project(tmp_path, config={"lr": 0.02, "width": 8, "max_train_steps": 300,
                                             "clip": 1.0})
    store = Store(tmp_path / "s.db")
    create_round(store, project, RoundSpec(name="r", question="q", budget=1))
    run_round(store, "r", tmp_path, executor="inline", show_progress=False)
    report = stability(store, project, tmp_path, "r", probe_steps=50, workers=1,
                       executor="inline", show_progress=False)
    assert report.clip is not None and report.clip.too_many_clipped
    assert any(f.code == "stability.clipping" for f in report.findings)
