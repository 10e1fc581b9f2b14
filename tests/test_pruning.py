"""Early stopping: off by default; when on, hopeless trials end 'pruned' with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from rounds_support import make_round, rounds_project

from tunebook.core.errors import SpecError
from tunebook.core.spec import EarlyStop, load_project, parse_round
from tunebook.rounds.lifecycle import best_trials
from tunebook.rounds.pruning import Pruner, best_so_far
from tunebook.store import Store
from tunebook.workers.execute import run_round


@pytest.fixture
def pdir(tmp_path: Path) -> Path:
    return rounds_project(tmp_path / "proj")


def test_best_so_far_keeps_the_running_best_of_feasible_steps(pdir: Path) -> None:
    scorer = load_project(pdir / "tunebook.yaml").scorer()  # dev/latency_ms <= 10 constraint
    curve = {5: {"dev/accuracy": 0.5, "dev/latency_ms": 50.0},
             10: {"dev/accuracy": 0.4, "dev/latency_ms": 1.0},
             12: {"train/loss": 0.3},
             15: {"dev/accuracy": 0.6, "dev/latency_ms": 1.0},
             20: {"dev/accuracy": 0.55, "dev/latency_ms": 1.0}}
    assert best_so_far(curve, scorer) == [(5, None), (10, 0.4), (15, 0.6), (20, 0.6)]


def test_early_stopping_is_off_by_default(pdir: Path, store: Store) -> None:
    name = make_round(store, pdir, budget=10)
    run_round(store, name, pdir, executor="inline", show_progress=False)
    assert {t.status for t in store.trials(store.round(name).id)} == {"completed"}


def test_hopeless_trials_are_pruned_with_the_reason(pdir: Path, store: Store) -> None:
    name = make_round(store, pdir, budget=12,
                      early_stop={"after": 0.3, "quantile": 0.25, "min_peers": 4})
    run_round(store, name, pdir, executor="inline", show_progress=False)
    rec = store.round(name)
    trials = store.trials(rec.id)
    pruned = [t for t in trials if t.status == "pruned"]
    assert pruned, "the quasi-random lr range has hopeless corners"
    done = [t for t in trials if t.status == "completed"]
    for t in pruned:
        assert "pruned at step" in (t.error or "") and "early_stop: after 0.3" in (t.error or "")
        last = max(store.curve(t.id))
        assert 30 <= last < 100  # stopped past `after`, before the end; its curve is kept
        # the rule: at least 3 of 4 (ceil 0.75 n) finished peers were better at that step
        peers = [d for d in done if d.id < t.id]
        assert len(peers) >= 4
        assert sum((d.score or 0) > (t.score or 0) for d in peers) >= 0.75 * len(peers)
    assert min(trials, key=lambda t: t.id).status == "completed"  # no peers yet: never pruned
    (best,) = best_trials(store, rec).values()
    assert best.status == "completed"
    best_lr = max(done, key=lambda t: t.score or 0).config["lr"]
    assert all(abs(best_lr - 0.01) <= abs(t.config["lr"] - 0.01) for t in pruned)


def test_a_pruner_waits_for_every_metric_of_the_step(pdir: Path, store: Store) -> None:
    project = load_project(pdir / "tunebook.yaml")
    name = make_round(store, pdir, budget=5)
    rec = store.round(name)
    rid = rec.id
    # four finished peers at 0.9
    for _ in range(4):
        t, token = store.claim(rid, "w", 60) or (None, "")
        assert t is not None
        store.log_points([(t.id, 50, "dev/accuracy", 0.9), (t.id, 50, "dev/latency_ms", 1.0)])
        store.finish(t.id, token, "completed", best_step=50, score=0.9, feasible=True)
    t, _ = store.claim(rid, "w", 60) or (None, "")
    assert t is not None
    pr = Pruner(store, t, project.scorer(), EarlyStop(after=0.3), 100)
    assert pr(10, {"dev/accuracy": 0.1, "dev/latency_ms": 1.0}) is None  # before `after`
    assert pr(50, {"dev/accuracy": 0.2}) is None  # latency of step 50 not logged yet
    reason = pr(50, {"dev/latency_ms": 1.0})
    assert reason is not None and "worse than 4 of 4 finished trials" in reason
    assert Pruner(store, t, project.scorer(), EarlyStop(after=0.3), 100)(
        50, {"dev/accuracy": 0.95, "dev/latency_ms": 1.0}) is None


@pytest.mark.parametrize("early_stop", [{"after": 0}, {"after": 1}, {"quantile": 0.6},
                                        {"min_peers": 0}, {"patience": 3}])
def test_bad_early_stop_is_refused(early_stop: dict[str, float]) -> None:
    with pytest.raises(SpecError, match="early_stop"):
        parse_round({"name": "r", "question": "q", "budget": 2, "early_stop": early_stop})
