"""Rounds with target / nuisance / fixed roles, conditional hyperparameters, and bad input."""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import pytest

from tunebook.core.errors import SpecError
from tunebook.core.spec import load_round, parse_project, parse_round
from tunebook.rounds.lifecycle import create_round, fill
from tunebook.store import Store, group_key
from tunebook.workers.execute import run_round, worker_loop

TRAIN = '''
from tunebook.core.errors import TrialDiverged


def train(config, run):
    # A pure-Python stand-in for training: best near lr = 0.01, diverges above 0.3.
    import math
    gap = abs(math.log10(config["lr"]) + 2)
    for step in range(1, config["max_train_steps"] + 1):
        if config["lr"] > 0.3 and step == 2:
            run.log(step, train_loss=float("nan"))
        if run.should_eval(step):
            run.log(step, dev_accuracy=1.0 - 0.1 * gap - 0.01 * config.get("momentum", 0.0))
'''


def _project(tmp_path: Path) -> Any:
    (tmp_path / "train.py").write_text(TRAIN)
    return parse_project({
        "name": "p", "task": {"type": "other", "goal": "g"},
        "metrics": [{"name": "accuracy", "split": "dev", "goal": "max"},
                    {"name": "loss", "split": "train", "goal": "min"}],
        "score": "dev/accuracy", "pipeline": "train:train", "eval_every": 1,
        "baseline": {"config": {"max_train_steps": 2}},
    })


def _round(**over: Any) -> Any:
    data: dict[str, Any] = {
        "name": "r", "question": "Does SGD or Adam train better with lr tuned for each?",
        "budget": 6, "seed": 1,
        "params": {
            "optimizer": {"role": "target", "values": ["sgd", "adam"]},
            "lr": {"role": "nuisance", "type": "float", "low": 1e-4, "high": 1.0,
                   "scale": "log"},
            "momentum": {"role": "nuisance", "type": "float", "low": 0.5, "high": 0.99,
                         "when": {"optimizer": "sgd"}},
            "beta2": {"role": "nuisance", "type": "float", "low": 0.9, "high": 0.9999,
                      "when": {"optimizer": "adam"}},
            "batch_size": {"role": "fixed", "value": 64},
        },
    }
    data.update(over)
    return parse_round(data)


def _by_group(store: Store, round_id: int) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for t in store.trials(round_id):
        out.setdefault(group_key(t.group), []).append(t)
    return out


def _two_workers(store: Store, project_dir: Path) -> int:
    """Run round "r" with two worker threads to the end; the trials they ran."""
    ran: list[int] = []
    threads = [threading.Thread(target=lambda w=w: ran.append(worker_loop(
        store.url, "r", str(project_dir), worker=f"w{w}", poll_s=0.05))) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return sum(ran)


@pytest.mark.parametrize("algorithm", ["quasi_random", "explore_exploit"])
def test_each_target_value_gets_its_own_search_with_the_same_budget(
        tmp_path: Path, algorithm: str) -> None:
    project = _project(tmp_path)
    spec = _round(algorithm=algorithm, budget=8)  # explore_exploit: 6 quasi-random, 2 GP
    store = Store(tmp_path / "s.db")
    record = create_round(store, project, spec)
    run_round(store, "r", tmp_path, executor="inline", show_progress=False)
    groups = _by_group(store, record.id)
    assert set(groups) == {group_key({"optimizer": "sgd"}), group_key({"optimizer": "adam"})}
    for key, trials in groups.items():
        assert len(trials) == spec.budget  # the same budget for every target value
        assert all(t.status in ("completed", "diverged") for t in trials)
        for t in trials:
            assert t.config["batch_size"] == 64  # fixed: recorded, never varied
            assert t.config["optimizer"] == t.group["optimizer"]
        # Conditional hyperparameters are their own: each exists only under its target value.
        under_sgd = "sgd" in key
        assert all(("momentum" in t.config) == under_sgd and ("beta2" in t.config) != under_sgd
                   for t in trials)
    sgd, adam = (sorted(groups[group_key({"optimizer": o})], key=lambda t: t.number)
                 for o in ("sgd", "adam"))
    # Paired: the shared nuisance (lr) has the same quasi-random points in both groups.
    assert [t.config["lr"] for t in sgd[:3]] == [t.config["lr"] for t in adam[:3]]
    store.close()


def test_adaptive_fill_keeps_one_queued_per_group(tmp_path: Path) -> None:
    project = _project(tmp_path)
    spec = _round(algorithm="bayesian", budget=4)
    store = Store(tmp_path / "s.db")
    record = create_round(store, project, spec)
    assert store.counts(record.id) == {"queued": 2}  # one per target group
    assert fill(store, record) == []  # nothing more until one is taken
    claimed = store.claim(record.id, "w1", 60)
    assert claimed is not None
    added = fill(store, record)  # the taken group gets its next one, the other has one queued
    assert len(added) == 1
    assert store.trial(added[0]).group == claimed[0].group
    store.close()


def test_explore_exploit_queues_its_start_at_once(tmp_path: Path) -> None:
    project = _project(tmp_path)
    spec = _round(algorithm="explore_exploit", budget=9)
    store = Store(tmp_path / "s.db")
    record = create_round(store, project, spec)
    # start_size(2 nuisance dims) = 6 per group, queued before any result.
    assert store.counts(record.id) == {"queued": 12}
    store.close()


@pytest.mark.slow
def test_two_workers_fill_without_duplicates_or_overshoot(tmp_path: Path) -> None:
    project = _project(tmp_path)
    spec = _round(algorithm="explore_exploit", budget=7)
    store = Store(tmp_path / "s.db")
    record = create_round(store, project, spec)
    assert _two_workers(store, tmp_path) == 14
    for trials in _by_group(store, record.id).values():
        assert len(trials) == 7
        assert all(t.status in ("completed", "diverged") for t in trials)
        configs = [tuple(sorted(t.config.items())) for t in trials]
        assert len(set(configs)) == 7  # every worker got a distinct suggestion
    store.close()


@pytest.mark.slow
def test_two_workers_share_the_local_phase_of_a_large_continuous_round(tmp_path: Path) -> None:
    from tunebook.search.bayes import local_start

    project = _project(tmp_path)
    # lr decides the score; three knobs it ignores make the space 4-D, where CMA-ES refines.
    params: dict[str, Any] = {
        "lr": {"role": "nuisance", "type": "float", "low": 1e-4, "high": 1.0, "scale": "log"}}
    params.update({f"knob{i}": {"role": "nuisance", "type": "float", "low": 0.0, "high": 1.0}
                   for i in range(3)})
    spec = _round(algorithm="explore_exploit", budget=80, params=params)
    cut = local_start(spec.space, 80)
    assert cut == 40  # 4-D: eight trials a CMA-ES generation, five generations in the last 40
    store = Store(tmp_path / "s.db")
    record = create_round(store, project, spec)
    _two_workers(store, tmp_path)
    trials = sorted(store.trials(record.id), key=lambda t: t.number)
    assert len(trials) == 80  # the budget, exactly
    assert all(t.status in ("completed", "diverged") for t in trials)  # lr > 0.3 diverges
    assert len({t.config["lr"] for t in trials}) == 80  # no worker got another's config
    # The local phase searches around the incumbent (lr = 0.01 is best), not the whole range.
    near = [abs(math.log10(t.config["lr"]) + 2) < 0.5 for t in trials[cut:]]
    assert sum(near) >= 0.8 * len(near)
    store.close()


def test_fill_refuses_suggestions_made_on_a_stale_view(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # Two workers read the same trials and compute the same next suggestion; only the first
    # may queue it.
    project = _project(tmp_path)
    spec = _round(algorithm="bayesian", budget=4)
    store = Store(tmp_path / "s.db")
    record = create_round(store, project, spec)
    store.claim(record.id, "w1", 60)
    stale = store.trials(record.id, kind="search")
    assert len(fill(store, record)) == 1
    monkeypatch.setattr(store, "trials", lambda *a, **k: stale)
    assert fill(store, record) == []  # the group grew since `stale` was read
    store.close()


# -- bad input: clear errors before anything runs ----------------------------------------------


@pytest.mark.parametrize("params, where, expected", [
    ({"w": {"role": "target"}}, "params.w.values", "non-empty list of values"),
    ({"w": {"role": "target", "values": []}}, "params.w.values", "non-empty list"),
    ({"w": {"role": "target", "values": [1, 1]}}, "params.w.values", "distinct values"),
    ({"m": {"role": "fixed", "value": 0.9, "low": 0.5, "high": 1.0}}, "params.m.role",
     "only 'value'"),
    ({"m": {"role": "fixed", "value": 0.9, "choices": [0.9, 0.99]}}, "params.m.role",
     "only 'value'"),
    ({"m": {"role": "nuisance", "type": "float", "low": 0, "high": 1, "when": {"opt": "sgd"}}},
     "params.m.when", "target hyperparameter"),
    ({"o": {"role": "target", "values": ["sgd"]},
      "m": {"role": "nuisance", "type": "float", "low": 0, "high": 1, "when": {"o": "adam"}}},
     "params.m.when.o", "among o's values"),
    ({"o": {"role": "target", "values": ["sgd"], "when": {"o": "sgd"}}}, "params.o.when",
     "nuisance or fixed"),
])
def test_bad_roles_are_refused_naming_the_field(params: dict[str, Any], where: str,
                                                expected: str) -> None:
    with pytest.raises(SpecError) as exc:
        parse_round({"name": "r", "question": "q", "budget": 2, "params": params})
    assert where in exc.value.where
    assert expected in exc.value.expected


@pytest.mark.parametrize("budget", [0, -3])
def test_a_budget_below_one_is_refused(budget: int) -> None:
    with pytest.raises(SpecError, match="budget"):
        parse_round({"name": "r", "question": "q", "budget": budget})


def test_bayesian_on_an_empty_space_is_refused() -> None:
    with pytest.raises(SpecError, match="algorithm.*at least one nuisance"):
        parse_round({"name": "r", "question": "q", "budget": 2, "algorithm": "bayesian",
                     "params": {"w": {"role": "target", "values": [1, 2]},
                                "m": {"role": "fixed", "value": 1}}})
    with pytest.raises(SpecError, match="none for the target group"):
        parse_round({"name": "r", "question": "q", "budget": 2, "algorithm": "bayesian",
                     "params": {"o": {"role": "target", "values": ["sgd", "adam"]},
                                "m": {"role": "nuisance", "type": "float", "low": 0,
                                      "high": 1, "when": {"o": "sgd"}}}})


def test_the_same_name_with_two_roles_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "round.yaml"
    path.write_text("name: r\nquestion: q\nbudget: 2\nparams:\n"
                    "  lr: {role: nuisance, type: float, low: 1.0e-4, high: 0.1, scale: log}\n"
                    "  lr: {role: fixed, value: 0.01}\n")
    with pytest.raises(SpecError, match="line 6.*each key once.*'lr'"):
        load_round(path)


def test_the_default_algorithm_is_explore_exploit() -> None:
    spec = parse_round({"name": "r", "question": "q", "budget": 2})
    assert spec.algorithm == "explore_exploit"
