"""Asynchronous promotion (ASHA): promotions before stage 1 closes, exactly once per parent
under racing and killed workers, the end rule, progress, and bad input."""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import signal
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import load_script
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rounds_support import LR, make_round, rounds_project

from tunebook.core.errors import SpecError
from tunebook.core.spec import parse_round
from tunebook.core.trial import FINISHED, TrialRecord
from tunebook.rounds import asha
from tunebook.rounds.fidelity import advance, report, search_finished
from tunebook.rounds.lifecycle import best_trials, fill, progress
from tunebook.store import Store, group_key
from tunebook.workers.execute import run_round

ASYNC = {"promotion": "asynchronous"}


@pytest.fixture
def pdir(tmp_path: Path) -> Path:
    return rounds_project(tmp_path / "proj")


def _children(trials: list[TrialRecord]) -> Counter[tuple[int | None, str]]:
    return Counter((t.parent_id, t.kind) for t in trials if t.kind != "search")


def _top(trials: list[TrialRecord], share: float) -> list[int]:
    """The ids of the top ceil(share * n) of a finished rung (max goal), failed last."""
    ranked = asha.rank(trials, "max")
    return [t.id for t in ranked[:math.ceil(share * len(ranked) - 1e-9)]
            if asha.promotable(t)]


def _end_rule_holds(trials: list[TrialRecord], keep: float, stages: int) -> None:
    """Each parent has at most one child per rung, and the top share of every rung went on."""
    assert max(_children(trials).values(), default=1) == 1
    kinds = ["search", "stage2", "stage3"][:stages]
    for lower, upper in zip(kinds, kinds[1:], strict=False):
        for g in {group_key(t.group) for t in trials}:
            rung = [t for t in trials if t.kind == lower and group_key(t.group) == g]
            parents = {t.parent_id for t in trials if t.kind == upper
                       and group_key(t.group) == g}
            assert set(_top(rung, keep)) <= parents


def test_a_bad_promotion_mode_is_one_line_naming_the_field() -> None:
    with pytest.raises(SpecError) as exc:
        parse_round({"name": "r", "question": "q", "budget": 2,
                     "fidelity": {"stages": 3, "promotion": "async"}})
    text = str(exc.value)
    assert "\n" not in text and "fidelity.promotion" in text
    assert "'synchronous' or 'asynchronous'" in text and "'async'" in text
    fid = parse_round({"name": "r", "question": "q", "budget": 2, "fidelity": {}}).fidelity
    assert fid is not None and fid.promotion == "synchronous"  # the default is unchanged


def test_an_inline_round_promotes_before_stage_one_closes_and_ends_at_full_length(
        pdir: Path, store: Store) -> None:
    fid = {"stages": 3, "fraction": 0.25, "keep": 0.34, **ASYNC}
    name = make_round(store, pdir, budget=8, fidelity=fid)
    rec = store.round(name)
    assert progress(store, rec).total == 8 + 3 + 2  # the synchronous sizes, as an estimate
    assert len(store.trials(rec.id)) == 1  # configs start one at a time, not all up front
    run_round(store, name, pdir, executor="inline", show_progress=False)
    trials = store.trials(rec.id)
    s1 = [t for t in trials if t.kind == "search"]
    s2 = [t for t in trials if t.kind == "stage2"]
    assert len(s1) == 8 and all(t.status == "completed" for t in trials)
    # The asynchronous property: a promotion was queued (and trained) while stage-1 configs
    # were still to come; a synchronous round queues stage 2 after the last of them.
    assert min(t.id for t in s2) < max(t.id for t in s1)
    first = min(s2, key=lambda t: t.id)
    assert first.finished_at is not None and first.finished_at < max(
        t.finished_at or 0 for t in s1)
    _end_rule_holds(trials, 0.34, 3)
    for t in s2:  # retrained from scratch at the next length, same seed, schedule rescaled
        parent = next(p for p in s1 if p.id == t.parent_id)
        assert t.config == {**parent.config, "max_train_steps": 50} and t.seed == parent.seed
        assert t.meta["stage"] == 2 and t.meta["full"] == {"max_train_steps": 100}
    best = best_trials(store, rec)
    assert {b.kind for b in best.values()} == {"stage3"}  # the answer is full length
    assert all(b.config["max_train_steps"] == 100 for b in best.values())
    pr = progress(store, rec)
    assert pr.done and pr.total == len(trials) and search_finished(store, rec)
    rep = report(store, rec)
    assert [s.trials for s in rep.stages] == [8, len(s2), len(trials) - 8 - len(s2)]


@pytest.mark.slow
def test_process_workers_promote_each_parent_once_per_rung(pdir: Path, store: Store) -> None:
    params = {"lr": LR, "latency": {"role": "target", "values": [1.0, 2.0]},
              "sleep": {"role": "fixed", "value": 0.002}}
    name = make_round(store, pdir, params=params, budget=6, max_train_steps=40,
                      fidelity={"fraction": 0.25, "keep": 0.5, **ASYNC})
    counts = run_round(store, name, pdir, workers=3, executor="processes", show_progress=False)
    trials = store.trials(store.round(name).id)
    assert counts == {"completed": len(trials)}
    _end_rule_holds(trials, 0.5, 2)
    for g in ('{"latency": 1.0}', '{"latency": 2.0}'):
        mine = [t for t in trials if group_key(t.group) == g]
        s1 = [t.id for t in mine if t.kind == "search"]
        s2 = [t.id for t in mine if t.kind == "stage2"]
        assert len(s1) == 6 and 3 <= len(s2) <= 6
    # A config starts only when nothing is queued, so the last one of the round waited for a
    # promotion that was due by then (at least 2 of its 5 elders had finished).
    assert min(t.id for t in trials if t.kind == "stage2") < max(
        t.id for t in trials if t.kind == "search")
    assert progress(store, store.round(name)).done


def _drive(store: Store, name: str, finish_n: int | None = None, promote: bool = True) -> None:
    """Claim, then finish with score = lr, as a worker would, without training; with
    ``promote=False`` nobody looks for promotions (they are left for the racers)."""
    rec = store.round(name)
    done = 0
    while finish_n is None or done < finish_n:
        if promote:
            advance(store, rec)
        fill(store, rec)
        claimed = store.claim(rec.id, "fake", 60)
        if claimed is None:
            return
        t, token = claimed
        score = float(t.config["lr"]) * (1 + t.stage.number)
        store.finish(t.id, token, "completed", best_step=1, score=score, feasible=True,
                     best_metrics={"dev/accuracy": score})
        done += 1


def test_racing_promoters_queue_each_promotion_exactly_once(pdir: Path, store: Store) -> None:
    params = {"lr": LR, "latency": {"role": "target", "values": [1.0, 2.0]}}
    name = make_round(store, pdir, params=params, budget=10,
                      fidelity={"stages": 3, "fraction": 0.25, "keep": 0.5, **ASYNC})
    rec = store.round(name)
    gate = threading.Barrier(8)

    def promoter(got: list[int]) -> None:
        mine = Store(store.url)  # one engine (and connection pool) per worker
        try:
            gate.wait(30)
            got.append(len(advance(mine, mine.round(name))))
        finally:
            mine.close()

    # Mid-way (7 finished across both groups: 2 due in one, 1 in the other), then at the end
    # of stage 1 (the end rule's promotions, and stage 3's of the stage-2 trials that ran
    # meanwhile), eight workers race to promote.
    for finish_n, stage2 in ((7, 3), (None, 10)):
        _drive(store, name, finish_n, promote=False)
        before = len(store.trials(rec.id))
        got: list[int] = []
        threads = [threading.Thread(target=promoter, args=(got,)) for _ in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        trials = store.trials(rec.id)
        assert max(_children(trials).values(), default=1) == 1
        assert sum(got) == len(trials) - before > 0  # each promotion queued by one racer
        assert sum(t.kind == "stage2" for t in trials) == stage2
        assert not advance(store, rec)  # nothing was left out either
    _drive(store, name)
    trials = store.trials(rec.id)
    _end_rule_holds(trials, 0.5, 3)
    assert progress(store, rec).done and not advance(store, rec)


def _die_while_promoting(url: str, name: str) -> None:
    from sqlalchemy import event

    store = Store(url)

    def kill(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO TRIALS") and \
                "stage2" in repr(parameters):
            os.kill(os.getpid(), signal.SIGKILL)  # after the insert, before the commit

    event.listen(store.engine, "after_cursor_execute", kill)
    advance(store, store.round(name))


def test_a_worker_killed_mid_promotion_leaves_no_duplicate_and_loses_nothing(
        pdir: Path, store: Store) -> None:
    name = make_round(store, pdir, budget=4, fidelity={"fraction": 0.25, "keep": 0.5, **ASYNC})
    rec = store.round(name)
    while fill(store, rec) or store.counts(rec.id).get("queued"):  # stage 1, nobody promoting
        t, token = store.claim(rec.id, "fake", 60) or (None, "")
        assert t is not None
        store.finish(t.id, token, "completed", best_step=1, score=float(t.config["lr"]),
                     feasible=True, best_metrics={"dev/accuracy": 0.5})
    assert Counter(t.kind for t in store.trials(rec.id)) == {"search": 4}
    ctx = mp.get_context("spawn")
    proc = ctx.Process(target=_die_while_promoting, args=(store.url, name))
    proc.start()
    proc.join(120)
    assert proc.exitcode == -signal.SIGKILL  # it died inside the promoting transaction
    assert Counter(t.kind for t in store.trials(rec.id)) == {"search": 4}  # rolled back
    added = advance(store, store.round(name))  # the next worker to look promotes them
    assert len(added) == 2 and not advance(store, store.round(name))
    trials = store.trials(rec.id)
    assert sorted(t.parent_id for t in trials if t.kind == "stage2") == sorted(
        _top([t for t in trials if t.kind == "search"], 0.5))


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.randoms(use_true_random=False),
       fail=st.sets(st.integers(0, 11), max_size=4),
       keep=st.sampled_from([0.25, 0.34, 0.5]))
def test_any_finishing_order_ends_with_the_end_rule_and_an_exact_total(
        pdir: Path, tmp_path_factory: pytest.TempPathFactory, order: Any, fail: set[int],
        keep: float) -> None:
    """Four workers finish in a random order, some trials fail: the round never says done
    early, never promotes twice, and ends with every rung's top share promoted."""
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('h') / 's.db'}")
    try:
        name = make_round(store, pdir, budget=12,
                          fidelity={"stages": 3, "fraction": 0.25, "keep": keep, **ASYNC})
        rec = store.round(name)
        held: list[tuple[TrialRecord, str]] = []
        for _ in range(400):
            advance(store, rec)
            fill(store, rec)
            while len(held) < 4 and (c := store.claim(rec.id, "w", 60)) is not None:
                held.append(c)
            if not held:
                break
            t, token = held.pop(order.randrange(len(held)))
            if t.kind == "search" and t.number in fail:
                store.finish(t.id, token, "failed", error="planted")
            else:
                score = float(t.config["lr"]) * t.stage.number
                store.finish(t.id, token, "completed", best_step=1, score=score,
                             feasible=True, best_metrics={"dev/accuracy": score})
            if progress(store, rec).done:  # never early: nothing runs, nothing is due
                assert not held and not advance(store, rec) and not fill(store, rec)
        trials = store.trials(rec.id)
        assert all(t.status in FINISHED for t in trials)
        assert sum(t.kind == "search" for t in trials) == 12
        _end_rule_holds(trials, keep, 3)
        pr = progress(store, rec)
        assert pr.done and pr.total == len(trials) and search_finished(store, rec)
    finally:
        store.close()


def test_cli_round_status_shows_the_rungs_and_the_report_reads_the_round(
        pdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import sys

    import yaml

    from tunebook.cli import app
    from tunebook.cli.output import run_app

    def cli(*args: str) -> tuple[int, Any]:
        monkeypatch.chdir(pdir)
        monkeypatch.setattr(sys, "argv", ["tunebook", *args])
        capsys.readouterr()
        code = run_app(app)
        out = capsys.readouterr().out
        return code, json.loads(out) if "--json" in args else out

    spec = {"name": "r1", "question": "what lr?", "budget": 6, "seed": 0,
            "algorithm": "quasi_random", "max_train_steps": 40, "params": {"lr": LR},
            "fidelity": {"fraction": 0.25, "keep": 0.5, **ASYNC}}
    (pdir / "round.yaml").write_text(yaml.safe_dump(spec))
    assert cli("round", "new", "round.yaml", "--json")[0] == 0
    code, data = cli("round", "run", "r1", "--executor", "inline", "--json")
    assert code == 0 and data["best"]["kind"] == "stage2"
    code, data = cli("round", "status", "r1", "--json")
    assert code == 0 and data["done"] and data["finished"] == data["total"]
    fid = data["fidelity"]
    assert fid["promotion"] == "asynchronous"
    assert [s["trials"] for s in fid["stages"]][0] == 6 and fid["stages"][1]["trials"] >= 3
    out = cli("round", "status", "r1")[1]
    assert "stage 2 at 1 of max_train_steps" in out and "asynchronous promotion" in out
    out = cli("report", "r1", "--out", str(tmp_path / "r.html"))[1]
    assert "wrote the round report" in out and (tmp_path / "r.html").stat().st_size > 10_000


def test_idle_workers_racing_for_new_configs_each_get_their_own(pdir: Path,
                                                                store: Store) -> None:
    """ASHA's "otherwise start a new config": four idle workers at once start four configs,
    each a distinct point of the searcher (no duplicate seed), none sent to sleep."""
    from tunebook.rounds.lifecycle import start_config

    name = make_round(store, pdir, budget=6, fidelity={"fraction": 0.25, "keep": 0.5, **ASYNC})
    gate = threading.Barrier(4)
    got: list[int] = []

    def idle_worker() -> None:
        mine = Store(store.url)
        try:
            gate.wait(30)
            got.extend(start_config(mine, mine.round(name)))
        finally:
            mine.close()

    threads = [threading.Thread(target=idle_worker) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    trials = store.trials(store.round(name).id)
    assert len(got) == 4 and len(trials) == 1 + 4  # the one queued at creation, and theirs
    assert len({t.seed for t in trials}) == 5 and len({t.config["lr"] for t in trials}) == 5
    assert start_config(store, store.round(name)) and not start_config(
        store, store.round(name))  # the sixth, then the budget is used


def _bench() -> Any:
    return load_script("benchmarks/fidelity_async.py", "bench_fidelity_async")


def test_benchmark_replays_every_config_its_rounds_queue_and_counts_idle(
        pdir: Path, store: Store) -> None:
    """The recorded curves cover the configs the benchmark's rounds queue (a change to the
    searcher's points would need a new recording), and idle is the share outside trials."""
    import json

    bench = _bench()
    recorded = {c["key"] for c in json.loads(bench.CURVES.read_text())["configs"]}
    for seed in bench.SEEDS:
        make_round(store, pdir, name=f"b{seed}", seed=seed, budget=bench.BUDGET,
                   params=bench.PARAMS)
        trials = store.trials(store.round(f"b{seed}").id)
        assert {bench.key(t.config) for t in trials} <= recorded
    t = store.trials(store.round("b0").id)[0]

    def ran(tid: int, start: float, end: float, steps: int) -> TrialRecord:
        return TrialRecord(**{**t.to_dict(), "id": tid, "started_at": start, "finished_at": end,
                              "config": {**t.config, "max_train_steps": steps}})

    # Two workers over 10 s: busy 10 + 4 s -> idle 6 of 20.
    ms = [ran(1, 0.0, 10.0, 400), ran(2, 0.0, 4.0, 50)]
    m = bench.measure("synchronous", 0, 0, ms, ms[0], workers=2)
    assert (m.wall_s, m.idle, m.to_best_s, m.steps, m.trial_seconds) == (10.0, 0.3, 10.0, 450,
                                                                          14.0)
