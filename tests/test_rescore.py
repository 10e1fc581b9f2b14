"""Re-scoring: another score or constraints over the stored curves, originals kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from rounds_support import LR, make_round, rounds_project

from tunebook.core.errors import SpecError
from tunebook.core.spec import load_project
from tunebook.rounds.rescore import make_scorer, rescore
from tunebook.store import Store
from tunebook.workers.execute import run_round


@pytest.fixture
def done(tmp_path: Path, store: Store) -> tuple[Store, str]:
    pdir = rounds_project(tmp_path / "proj")
    params = {"lr": LR, "latency": {"role": "nuisance", "type": "float", "low": 1.0,
                                    "high": 9.0},
              "width": {"role": "target", "values": [1, 2]}}
    name = make_round(store, pdir, params=params, budget=6, max_train_steps=30)
    run_round(store, name, pdir, executor="inline", show_progress=False)
    return store, name


def test_a_formula_score_recomputes_bests_and_keeps_the_stored_scores(
        done: tuple[Store, str]) -> None:
    store, name = done
    rec = store.round(name)
    before = {t.id: (t.best_step, t.score, t.feasible) for t in store.trials(rec.id)}
    res = rescore(store, rec, "dev_accuracy - 0.05 * dev_latency_ms", "max")
    assert res.old.formula == "dev/accuracy" and res.new.goal == "max"
    assert res.new.constraints == ["dev/latency_ms <= 10"]  # the project's, kept
    for r in res.trials:
        lat = store.trial(r.trial).config["latency"]
        assert r.new_score == pytest.approx((r.old_score or 0) - 0.05 * lat)
        assert r.new_step == r.old_step  # latency is constant within a trial
    for a in res.answers:
        mine = [r for r in res.trials if store.trial(r.trial).group == a.group]
        assert a.new_trial == max(mine, key=lambda r: r.new_score or 0).trial
        assert a.old_trial == max(mine, key=lambda r: r.old_score or 0).trial
        assert a.changed == (a.old_trial != a.new_trial)
    assert before == {t.id: (t.best_step, t.score, t.feasible) for t in store.trials(rec.id)}
    assert res.decision_id is None and store.decisions(kind="rescore") == []


def test_a_tighter_constraint_makes_trials_infeasible_and_is_recorded(
        done: tuple[Store, str]) -> None:
    store, name = done
    rec = store.round(name)
    res = rescore(store, rec, constraints=["dev/latency_ms <= 3"], record_decision=True)
    for r in res.trials:
        assert r.new_feasible == (store.trial(r.trial).config["latency"] <= 3)
    for a in res.answers:
        if a.new_trial is not None:
            assert store.trial(a.new_trial).config["latency"] <= 3
    (d,) = store.decisions(kind="rescore")
    assert d.id == res.decision_id and d.round_id == rec.id
    assert d.payload.old_scorer["constraints"] == ["dev/latency_ms <= 10"]
    assert d.payload.new_scorer["constraints"] == ["dev/latency_ms <= 3"]
    assert d.payload.stored_scores == "unchanged"
    assert len(d.payload.answers) == 2
    dropped = rescore(store, rec, constraints=[])
    assert dropped.new.constraints == [] and all(r.new_feasible for r in dropped.trials)


def test_a_metric_score_takes_its_own_goal(done: tuple[Store, str]) -> None:
    store, name = done
    res = rescore(store, store.round(name), "dev/loss")
    assert res.new.goal == "min"
    # dev_loss = 1 - accuracy + 0.01 latency: nearly the same order, read best-first
    assert res.rank_agreement is not None and res.rank_agreement > 0.9
    same = rescore(store, store.round(name), "dev_accuracy")
    assert same.rank_agreement == pytest.approx(1.0) and same.changed == 0


@pytest.mark.parametrize("score, goal, constraints, where", [
    ("dev_accuracy - dev_loss", None, None, "--goal"),
    ("dev_acuracy", "max", None, "--score"),
    ("dev_accuracy * train_speed", "max", None, "--score"),
    ("__import__('os')", "max", None, "--score"),
    ("dev/accuracy", "up", None, "--goal"),
    (None, None, ["dev/latency_ms ~ 3"], "--constraint"),
    (None, None, ["dev/latncy_ms <= 3"], "--constraint"),
])
def test_bad_rescore_input_is_refused(tmp_path: Path, score: str | None, goal: str | None,
                                      constraints: list[str] | None, where: str) -> None:
    project = load_project(rounds_project(tmp_path / "p") / "tunebook.yaml")
    with pytest.raises(SpecError, match=where):
        make_scorer(project, score, goal, constraints)


def test_unknown_metric_error_suggests_the_nearest(tmp_path: Path) -> None:
    project = load_project(rounds_project(tmp_path / "p") / "tunebook.yaml")
    with pytest.raises(SpecError, match="Did you mean 'dev_accuracy'"):
        make_scorer(project, "dev_acuracy", "max")
