"""Seed re-runs: the best config of each target value (or one trial) again with K seeds."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from rounds_support import LR, finish_fake, make_round, rounds_project

from tunebook.core.errors import NotFoundError, SpecError
from tunebook.experiments.seeds import parents, queue_seeds, run_seeds, seed_values, spread
from tunebook.rounds.lifecycle import best_trials, progress
from tunebook.store import Store
from tunebook.workers.execute import run_round

PARAMS = {"lr": LR, "latency": {"role": "target", "values": [1.0, 2.0]}}


@pytest.fixture
def pdir(tmp_path: Path) -> Path:
    return rounds_project(tmp_path / "proj")


def test_seed_values_are_shared_and_skip_the_parents_own() -> None:
    assert seed_values(0, 3) == [1_000_000, 1_000_001, 1_000_002]
    assert seed_values(0, 3, avoid=1_000_001) == [1_000_000, 1_000_002, 1_000_003]
    assert seed_values(2, 1) == [1_002_000]


def test_best_config_of_each_target_value_is_rerun_with_k_seeds(pdir: Path,
                                                               store: Store) -> None:
    name = make_round(store, pdir, params=PARAMS, budget=3, max_train_steps=20)
    run_round(store, name, pdir, executor="inline", show_progress=False)
    rec = store.round(name)
    best = {b.id: b for b in best_trials(store, rec).values()}
    result = run_seeds(store, name, pdir, 3, executor="inline", show_progress=False)
    seeds = store.trials(rec.id, kind="seed")
    assert Counter(t.parent_id for t in seeds) == {i: 3 for i in best}
    for t in seeds:
        parent = best[t.parent_id]  # type: ignore[index]
        assert t.group == parent.group and t.config == parent.config
        assert t.seed != parent.seed and t.status == "completed"
    assert {t.seed for t in seeds} == set(seed_values(0, 3))  # the same seeds for each parent
    assert [s.parent for s in result] == sorted(best)
    for s in result:
        assert len(s.scores) == 4 and s.scores[0] == best[s.parent].score  # parent first
        assert s.std is not None and s.std > 0  # the toy's seed wobble is measured
        assert s.spread == pytest.approx(max(s.scores) - min(s.scores))
        assert s.unfinished == 0 and s.failed == []
    assert progress(store, rec).done and progress(store, rec).total == 12
    # asking again tops up: the same K adds nothing, a larger K only the missing seeds
    assert queue_seeds(store, rec, 3) == []
    more = queue_seeds(store, rec, 5)
    assert len(more) == 4
    assert {store.trial(i).seed for i in more} == {1_000_003, 1_000_004}


def test_one_named_trial_can_be_rerun(pdir: Path, store: Store) -> None:
    name = make_round(store, pdir, budget=3, max_train_steps=20)
    run_round(store, name, pdir, executor="inline", show_progress=False)
    rec = store.round(name)
    worst = min(store.trials(rec.id), key=lambda t: t.score or 0)
    ids = queue_seeds(store, rec, 2, trial_id=worst.id)
    assert [store.trial(i).parent_id for i in ids] == [worst.id, worst.id]


def test_seeds_in_a_fidelity_round_rerun_full_length_trials(pdir: Path, store: Store) -> None:
    name = make_round(store, pdir, budget=4, fidelity={"fraction": 0.2, "keep": 0.5})
    run_round(store, name, pdir, executor="inline", show_progress=False)
    rec = store.round(name)
    (parent,) = parents(store, rec)
    assert parent.kind == "stage2"
    short = next(t for t in store.trials(rec.id) if t.kind == "search")
    with pytest.raises(SpecError, match="full-length"):
        queue_seeds(store, rec, 2, trial_id=short.id)


def test_bad_seed_requests_fail_before_anything_is_queued(pdir: Path, store: Store) -> None:
    name = make_round(store, pdir, budget=2)
    rec = store.round(name)
    for k in (0, -1):
        with pytest.raises(SpecError, match="--seeds"):
            queue_seeds(store, rec, k)
    with pytest.raises(SpecError, match="still running"):
        queue_seeds(store, rec, 2)  # the round has not run: its best is unknown
    other = make_round(store, pdir, name="r2", budget=1)
    finish_fake(store, other)
    foreign = store.trials(store.round(other).id)[0]
    with pytest.raises(SpecError, match="a trial of round r1"):
        queue_seeds(store, rec, 2, trial_id=foreign.id)
    queued = store.trials(rec.id)[0]
    with pytest.raises(SpecError, match="a completed trial"):
        queue_seeds(store, rec, 2, trial_id=queued.id)
    finish_fake(store, name)
    (seed_id,) = queue_seeds(store, rec, 1)
    with pytest.raises(SpecError, match="not a seed re-run"):
        finish_fake(store, name)
        queue_seeds(store, rec, 1, trial_id=seed_id)
    assert len(store.trials(rec.id, kind="seed")) == 1


def test_no_feasible_trial_means_nothing_to_rerun(pdir: Path, store: Store) -> None:
    name = make_round(store, pdir, budget=2, params={"lr": LR, "latency": {
        "role": "fixed", "value": 50.0}})  # breaks dev/latency_ms <= 10
    run_round(store, name, pdir, executor="inline", show_progress=False)
    with pytest.raises(NotFoundError, match="no completed feasible"):
        queue_seeds(store, store.round(name), 2)
    assert spread(store, store.round(name)) == []
