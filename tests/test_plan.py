"""Planning a round: step time, the trials a budget affords, and the too-few-trials rule."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from rounds_support import LR, make_round, rounds_project

from tunebook.core.errors import SpecError
from tunebook.core.spec import load_project, parse_round
from tunebook.core.trial import TrialRecord
from tunebook.experiments.plan import StepTime, measured, min_trials, plan_round
from tunebook.store import Store
from tunebook.workers.execute import run_round

WD = {"role": "nuisance", "type": "float", "low": 1e-6, "high": 1e-2, "scale": "log"}


def _trial(i: int, steps: int, seconds: float) -> TrialRecord:
    return TrialRecord(id=i, round_id=1, round="r", number=i, group={},
                       config={"max_train_steps": steps}, seed=0, status="completed",
                       started_at=100.0, finished_at=100.0 + seconds)


def _spec(**over: Any) -> Any:
    base: dict[str, Any] = {"name": "p", "question": "q", "budget": 8, "max_train_steps": 1000,
                            "algorithm": "quasi_random", "params": {"lr": LR, "wd": WD}}
    base.update(over)
    return parse_round(base)


def test_the_plan_shows_each_phase_of_the_default_search() -> None:
    from tunebook.experiments.plan import search_phases

    # 2-D: a quasi-random start of 2(d+1) = 6, then the GP to the end (no local phase below 4-D).
    small = search_phases(_spec(algorithm="explore_exploit", budget=30))
    assert [(x["phase"], x["first"], x["last"]) for x in small[0]["phases"]] == [
        ("quasi_random", 1, 6), ("gp", 7, 30)]
    # 4 floats and a budget of 80: the last half is CMA-ES around the best so far.
    wide = {f"x{i}": {"role": "nuisance", "type": "float", "low": 0.0, "high": 1.0}
            for i in range(4)}
    large = search_phases(_spec(algorithm="explore_exploit", budget=80, params=wide))
    assert [(x["phase"], x["first"], x["last"]) for x in large[0]["phases"]] == [
        ("quasi_random", 1, 10), ("gp", 11, 40), ("cma_es", 41, 80)]


def test_the_rule_grows_with_the_nuisance_dimensions() -> None:
    assert [min_trials(d) for d in range(6)] == [1, 4, 9, 18, 36, 73]
    for d in range(1, 6):  # the rule's promise: P(one trial in the good corner) >= 0.9
        n = min_trials(d)
        assert 1 - (1 - 0.5 ** d) ** n >= 0.9 > 1 - (1 - 0.5 ** d) ** (n - 1)


def test_step_time_separates_per_step_time_and_overhead() -> None:
    st = measured([_trial(1, 100, 3.0), _trial(2, 200, 5.0), _trial(3, 400, 9.0)])
    assert st is not None and st.per_step == pytest.approx(0.02) and st.overhead == \
        pytest.approx(1.0)
    one = measured([_trial(1, 100, 3.0), _trial(2, 100, 5.0)])
    assert one is not None and one.per_step == pytest.approx(0.04) and one.overhead == 0.0
    assert measured([]) is None


def test_a_plan_from_finished_trials(tmp_path: Path, store: Store,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    pdir = rounds_project(tmp_path / "proj")
    project = load_project(pdir / "tunebook.yaml")
    make_round(store, pdir, name="earlier", budget=2, max_train_steps=20)
    run_round(store, "earlier", pdir, executor="inline", show_progress=False)
    monkeypatch.setattr("tunebook.experiments.plan.measured",
                        lambda ts: StepTime(0.01, 2.0, "fixed", 2) if ts else None)
    spec = _spec(params={"lr": LR, "wd": WD, "width": {"role": "target", "values": [8, 16]}})
    p = plan_round(store, project, pdir, spec, hours=1.0, workers=2)
    assert p.step_time.source.startswith("the store") and p.target_values == 2
    # 2 target values x 8 trials x (2 s + 1000 x 0.01 s) = 192 s
    assert p.round_seconds == pytest.approx(192.0) and p.wall_seconds == pytest.approx(96.0)
    assert p.fits and p.min_per_target == 9
    assert [w.split(":")[0] for w in p.warnings] == [
        "8 trials per target value is too few for 2 nuisance hyperparameters"]
    # Each target value's search over its budget.
    assert [s["group"] for s in p.search] == [{"width": 8}, {"width": 16}]
    assert [(x["phase"], x["first"], x["last"]) for x in p.search[0]["phases"]] == [
        ("quasi_random", 1, 8)]
    # 7200 s of compute / (2 x 12 s) = 300 trials per target value
    assert p.affordable_per_target == 300
    short = plan_round(store, project, pdir, spec, hours=100 / 3600, workers=1)
    assert short.affordable_per_target == 4 and short.fits is False
    assert any("afford 4 trials" in w for w in short.warnings)
    assert any("below the rule's 9" in w and "fidelity" in w for w in short.warnings)


def test_fidelity_makes_a_config_cheaper_and_too_few_trials_warn(tmp_path: Path, store: Store,
                                                                monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    pdir = rounds_project(tmp_path / "proj")
    project = load_project(pdir / "tunebook.yaml")
    monkeypatch.setattr("tunebook.experiments.plan.measured",
                        lambda ts: StepTime(0.01, 0.0, "fixed", 1))
    full = plan_round(store, project, pdir, _spec(budget=16), hours=1)
    fast = plan_round(store, project, pdir, _spec(budget=16, fidelity={"fraction": 0.2}),
                      hours=1)
    # 16 x 0.2 + 4 x 1 = 7.2 full-length trials instead of 16
    assert fast.round_seconds == pytest.approx(full.round_seconds * 7.2 / 16)
    assert (fast.affordable_per_target or 0) > (full.affordable_per_target or 0)
    few = plan_round(store, project, pdir, _spec(budget=3), hours=None)
    assert few.affordable_per_target is None and few.fits is None
    assert any("3 trials per target value is too few for 2 nuisance" in w and "asks for 9" in w
               for w in few.warnings)


def test_a_timing_run_when_nothing_is_measured(tmp_path: Path, store: Store) -> None:
    pdir = rounds_project(tmp_path / "proj")
    project = load_project(pdir / "tunebook.yaml")
    spec = _spec(params={"lr": LR, "width": {"role": "target", "values": [8, 16]}})
    p = plan_round(store, project, pdir, spec, timing_steps=30, show_progress=False)
    (timing,) = [r for r in store.rounds() if r.kind == "timing"]
    trials = store.trials(timing.id)
    assert sorted(t.config["max_train_steps"] for t in trials) == [30, 60]
    assert all(t.config["width"] == 8 for t in trials)  # the first target value
    assert all(t.config["lr"] == pytest.approx(0.01) for t in trials)  # the log-range centre
    assert p.step_time.source.startswith("timing run") and p.step_time.per_step > 0
    assert math.isfinite(p.round_seconds)


@pytest.mark.parametrize("kw, where", [({"hours": 0.0}, "--hours"), ({"hours": -1.0}, "--hours"),
                                       ({"hours": float("nan")}, "--hours"),
                                       ({"workers": 0}, "--workers"),
                                       ({"timing_steps": 0}, "--timing-steps")])
def test_bad_plan_input(tmp_path: Path, store: Store, kw: dict[str, Any], where: str) -> None:
    pdir = rounds_project(tmp_path / "proj")
    with pytest.raises(SpecError, match=where):
        plan_round(store, load_project(pdir / "tunebook.yaml"), pdir, _spec(), **kw)
    assert store.rounds() == []


def test_a_round_without_a_length_cannot_be_planned(tmp_path: Path, store: Store) -> None:
    pdir = rounds_project(tmp_path / "proj")
    project = load_project(pdir / "tunebook.yaml")
    spec = _spec(max_train_steps=None, params={"lr": LR, "max_train_steps": {
        "role": "fixed", "value": "long"}})
    with pytest.raises(SpecError, match="max_train_steps"):
        plan_round(store, project, pdir, spec, hours=1)
