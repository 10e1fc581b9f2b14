"""Short-then-long rounds: the ladder, promotion, exact stage budgets across workers, bad input."""

from __future__ import annotations

import multiprocessing as mp
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import load_script
from rounds_support import LR, finish_fake, make_round, rounds_project

from tunebook.core.errors import SpecError
from tunebook.core.spec import Fidelity, parse_round
from tunebook.core.trial import TrialStage
from tunebook.experiments.seeds import queue_seeds
from tunebook.rounds.fidelity import (
    advance,
    from_flags,
    ladder,
    report,
    scaled,
    set_fidelity,
    stage_sizes,
)
from tunebook.rounds.lifecycle import best_trials, progress, ranked
from tunebook.store import Store, group_key
from tunebook.workers.execute import run_round


@pytest.fixture
def pdir(tmp_path: Path) -> Path:
    return rounds_project(tmp_path / "proj")


def test_ladder_sizes_and_scaling() -> None:
    assert ladder(None) == [1.0] and ladder(Fidelity(stages=1, fraction=0.1)) == [1.0]
    assert ladder(Fidelity(stages=2, fraction=0.2)) == [0.2, 1.0]
    assert ladder(Fidelity(stages=3, fraction=0.25)) == pytest.approx([0.25, 0.5, 1.0])
    assert stage_sizes(Fidelity(keep=0.25), 16) == [16, 4]
    assert stage_sizes(Fidelity(stages=3, keep=0.1), 30) == [30, 3, 1]  # never 0, no fp drift
    assert stage_sizes(None, 7) == [7]
    cfg = {"max_train_steps": 1000, "warmup_steps": 30, "lr": 0.1}
    assert scaled(cfg, 0.1) == {"max_train_steps": 100, "warmup_steps": 3, "lr": 0.1}
    assert scaled(cfg, 0.001) == {"max_train_steps": 1, "warmup_steps": 1, "lr": 0.1}
    assert scaled(cfg, 1.0) == cfg and scaled({"max_train_steps": 10}, 0.5) == {
        "max_train_steps": 5}


def test_short_then_long_round_promotes_the_best_of_each_target_value(pdir: Path,
                                                                     store: Store) -> None:
    params = {"lr": LR, "latency": {"role": "target", "values": [1.0, 2.0]}}
    name = make_round(store, pdir, params=params, fidelity={"fraction": 0.2, "keep": 0.25})
    rec = store.round(name)
    assert progress(store, rec).total == 2 * (8 + 2)  # stage 2 counted before it is queued
    run_round(store, name, pdir, executor="inline", show_progress=False)
    trials = store.trials(rec.id)
    assert Counter(t.kind for t in trials) == {"search": 16, "stage2": 4}
    assert all(t.status == "completed" for t in trials)
    for latency in (1.0, 2.0):
        s1 = [t for t in trials if t.kind == "search" and t.group == {"latency": latency}]
        s2 = [t for t in trials if t.kind == "stage2" and t.group == {"latency": latency}]
        assert {t.config["max_train_steps"] for t in s1} == {20}
        # The stage as fidelity wrote it (the meta also holds what train() did, provenance).
        assert all(t.stage == TrialStage(1, 2, 0.2, False, {"max_train_steps": 100})
                   for t in s1)
        top2 = sorted(s1, key=lambda t: -(t.score or 0))[:2]
        assert [t.parent_id for t in s2] == [t.id for t in top2]  # queued best first
        for t in s2:
            parent = next(p for p in s1 if p.id == t.parent_id)
            assert t.config == {**parent.config, "max_train_steps": 100}
            assert t.seed == parent.seed and t.meta["stage"] == 2 and t.meta["final"] is True
    best = best_trials(store, rec)
    assert {b.kind for b in best.values()} == {"stage2"}  # short runs are never the answer
    assert ranked(store, rec)[0].kind == "stage2"
    assert progress(store, rec).done
    rep = report(store, rec)
    assert [(s.stage, s.trials, s.completed) for s in rep.stages] == [(1, 16, 16), (2, 4, 4)]
    assert rep.steps_spent == 16 * 20 + 4 * 100 and rep.steps_all_full == 1600
    assert rep.share == pytest.approx(720 / 1600)


def test_three_stages_scale_warmup_and_keep_the_full_values(pdir: Path, store: Store) -> None:
    params = {"lr": LR, "warmup_steps": {"role": "fixed", "value": 8}}
    name = make_round(store, pdir, params=params, budget=4, max_train_steps=80,
                      fidelity={"stages": 3, "fraction": 0.25, "keep": 0.5})
    run_round(store, name, pdir, executor="inline", show_progress=False)
    trials = store.trials(store.round(name).id)
    got = sorted(Counter((t.kind, t.config["max_train_steps"], t.config["warmup_steps"])
                         for t in trials).items())
    assert got == [(("search", 20, 2), 4), (("stage2", 40, 4), 2), (("stage3", 80, 8), 1)]
    (final,) = [t for t in trials if t.kind == "stage3"]
    mid = next(t for t in trials if t.id == final.parent_id)
    assert mid.kind == "stage2" and mid.meta["full"] == {"max_train_steps": 80,
                                                          "warmup_steps": 8}


def test_failed_stage_one_trials_shrink_the_next_stage_and_the_round_ends(pdir: Path,
                                                                         store: Store) -> None:
    params = {"lr": LR, "fail_high": {"role": "fixed", "value": True}}
    name = make_round(store, pdir, params=params, fidelity={"fraction": 0.5, "keep": 1.0})
    run_round(store, name, pdir, executor="inline", show_progress=False)
    rec = store.round(name)
    trials = store.trials(rec.id)
    failed = [t for t in trials if t.status == "failed"]
    assert failed and all(t.kind == "search" for t in failed)
    assert sum(t.kind == "stage2" for t in trials) == 8 - len(failed)
    pr = progress(store, rec)
    assert pr.done and pr.total == len(trials)


def test_fidelity_without_fidelity_is_the_plain_round(pdir: Path, store: Store) -> None:
    name = make_round(store, pdir, budget=3, fidelity={"stages": 1})
    run_round(store, name, pdir, executor="inline", show_progress=False)
    trials = store.trials(store.round(name).id)
    assert [t.config["max_train_steps"] for t in trials] == [100] * 3
    assert all(t.kind == "search" and t.stage == TrialStage() and "stage" not in t.meta
               for t in trials)


@pytest.mark.parametrize("fidelity, where", [
    ({"fraction": 0}, "fidelity.fraction"), ({"fraction": 1.5}, "fidelity.fraction"),
    ({"stages": 0}, "fidelity.stages"), ({"stages": 4}, "fidelity.stages"),
    ({"keep": 0}, "fidelity.keep"), ({"fraction": 0.2, "rungs": 3}, "fidelity.rungs"),
])
def test_bad_fidelity_in_the_round_file_is_refused(fidelity: dict[str, Any], where: str) -> None:
    spec = {"name": "r", "question": "q", "budget": 2, "fidelity": fidelity}
    with pytest.raises(SpecError) as exc:
        parse_round(spec)
    assert where in str(exc.value)


def test_budget_must_be_positive() -> None:
    for budget in (0, -3):
        with pytest.raises(SpecError, match="budget"):
            parse_round({"name": "r", "question": "q", "budget": budget})


@pytest.mark.parametrize("flags, where", [
    ({"stages": 4}, "--stages"), ({"stages": 0}, "--stages"), ({"fraction": 0.0}, "--fraction"),
    ({"fraction": 1.01}, "--fraction"), ({"fraction": float("nan")}, "--fraction"),
    ({"keep": 0.0}, "--keep"), ({"keep": 2.0}, "--keep"),
])
def test_bad_fidelity_flags_are_refused(flags: dict[str, Any], where: str) -> None:
    with pytest.raises(SpecError, match=where):
        from_flags(None, **flags)


def test_a_fidelity_round_needs_a_length_to_shorten(pdir: Path, store: Store) -> None:
    with pytest.raises(SpecError, match="max_train_steps"):
        # the tiny project's baseline has max_train_steps; a target value overrides it badly
        make_round(store, pdir, params={"lr": LR, "max_train_steps": {
            "role": "target", "values": [50, "long"]}}, fidelity={})
    assert store.rounds() == []  # nothing recorded


def test_set_fidelity_rewrites_an_unstarted_round_and_refuses_a_started_one(
        pdir: Path, store: Store) -> None:
    name = make_round(store, pdir, budget=4)
    rec = set_fidelity(store, store.round(name), from_flags(None, fraction=0.1))
    assert rec.spec.fidelity == Fidelity(stages=2, fraction=0.1, keep=0.25)
    trials = store.trials(rec.id)
    assert [t.config["max_train_steps"] for t in trials] == [10] * 4
    rec = set_fidelity(store, rec, from_flags(rec.spec.fidelity, fraction=0.5))
    assert [t.config["max_train_steps"] for t in store.trials(rec.id)] == [50] * 4  # from full
    assert progress(store, rec).total == 5
    store.claim(rec.id, "w", 60)
    with pytest.raises(SpecError, match="started"):
        set_fidelity(store, rec, Fidelity(fraction=0.3))
    fid = store.round(name).spec.fidelity
    assert fid is not None and fid.fraction == 0.5  # unchanged


# -- the stage budget is exact whatever the number of workers ------------------------------------


def _race(url: str, name: str, go: Any, go_seeds: Any, out: Any) -> None:
    store = Store(url)
    go.wait(60)
    out.put(("stage2", len(advance(store, store.round(name)))))
    go_seeds.wait(60)
    out.put(("seed", len(queue_seeds(store, store.round(name), 3))))


@pytest.mark.slow
def test_concurrent_workers_queue_stage_two_and_seeds_exactly_once(pdir: Path,
                                                                   store: Store) -> None:
    params = {"lr": LR, "latency": {"role": "target", "values": [1.0, 2.0]}}
    name = make_round(store, pdir, params=params, fidelity={"fraction": 0.2, "keep": 0.25})
    finish_fake(store, name)
    ctx = mp.get_context("spawn")
    go, go_seeds, out = ctx.Event(), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(store.url, name, go, go_seeds, out))
             for _ in range(3)]
    for p in procs:
        p.start()
    go.set()  # all three see stage 1 closed and race to promote
    got = [out.get(timeout=120) for _ in procs]
    assert sum(n for _, n in got) == 4  # 2 per target value, however many promoters raced
    rid = store.round(name).id
    s2 = store.trials(rid, kind="stage2")
    assert Counter(group_key(t.group) for t in s2) == {'{"latency": 1.0}': 2,
                                                       '{"latency": 2.0}': 2}
    assert len({t.parent_id for t in s2}) == 4
    finish_fake(store, name)
    go_seeds.set()  # the round is done: all three race to queue 3 seeds per best trial
    got = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
    assert sum(n for _, n in got) == 6
    seeds = store.trials(rid, kind="seed")
    assert Counter(t.parent_id for t in seeds) == {p.id: 3 for p in best_trials(
        store, store.round(name)).values()}
    assert len({(t.parent_id, t.seed) for t in seeds}) == 6


@pytest.mark.slow
def test_worker_processes_run_both_stages_with_exact_budgets(pdir: Path, store: Store) -> None:
    params = {"lr": LR, "latency": {"role": "target", "values": [1.0, 2.0]},
              "sleep": {"role": "fixed", "value": 0.002}}
    name = make_round(store, pdir, params=params, budget=6, max_train_steps=40,
                      fidelity={"fraction": 0.25, "keep": 0.5})
    counts = run_round(store, name, pdir, workers=3, executor="processes",
                       show_progress=False)
    assert counts == {"completed": 2 * (6 + 3)}
    trials = store.trials(store.round(name).id)
    assert Counter((t.kind, group_key(t.group)) for t in trials) == {
        ("search", '{"latency": 1.0}'): 6, ("search", '{"latency": 2.0}'): 6,
        ("stage2", '{"latency": 1.0}'): 3, ("stage2", '{"latency": 2.0}'): 3}


def _bench() -> Any:
    return load_script("benchmarks/fidelity.py", "bench_fidelity")


def test_benchmark_slice_short_then_long_finds_the_best_for_a_third_of_the_compute(
        pdir: Path, store: Store) -> None:
    """The fidelity benchmark's accounting on the toy, whose short runs rank like long ones."""
    bench = _bench()
    for name, extra in (("full", {}), ("sl", {"fidelity": {"fraction": 0.1, "keep": 0.125}})):
        make_round(store, pdir, name=name, budget=16, max_train_steps=300, **extra)
        run_round(store, name, pdir, executor="inline", show_progress=False)
    trials = {n: store.trials(store.round(n).id) for n in ("full", "sl")}
    target = max(t.score or 0 for t in trials["full"]) - 0.005
    full = bench.cost_to_reach("full", trials["full"], target)
    sl = bench.cost_to_reach("sl", trials["sl"], target)
    assert full.answer_within and full.steps_total == 16 * 300
    assert sl.answer_within and sl.steps_total == 16 * 30 + 2 * 300
    assert sl.steps_total <= full.steps_total / 3
    assert sl.steps_to_first_hit == 16 * 30 + 300  # the best short run is the best long one
    assert sl.steps_to_first_hit < (full.expected_first_hit_random_order or 0)
