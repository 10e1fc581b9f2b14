"""Orchestration whose cost stays flat in the round's size (issue 18, part 2).

A claim must not read the round's trials: the statements of fill + claim, and the trial rows a
worker turns into records, are the same at 100 and at 2,000 queued trials. Queueing 100,000
trials is a few bulk statements, not one per row.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import PROJECT, write_project
from sqlalchemy import event
from sqlalchemy.engine import Engine

import tunebook.store.base as store_base
import tunebook.store.queue as store_queue
from tunebook.core.spec import parse_project, parse_round
from tunebook.rounds.lifecycle import create_round, fill
from tunebook.store import Store, group_key
from tunebook.workers.execute import worker_loop

NOOP = '''
def train(config, run):
    run.log(1, dev_accuracy=0.5, dev_latency_ms=1.0)
'''


def _round(budget: int, name: str = "r", **over: Any) -> Any:
    return parse_round({"name": name, "question": "q?", "budget": budget, "seed": 0,
                        "algorithm": "quasi_random",
                        "params": {"lr": {"role": "nuisance", "type": "float", "low": 1e-4,
                                          "high": 1.0, "scale": "log"}}, **over})


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every SQL statement any engine of this process sends, in order."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if not sql.upper().startswith(("BEGIN", "COMMIT")):  # SQLite's own BEGINs
            seen.append(" ".join(sql.split()))

    event.listen(Engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", note)


def _shape(sql: str) -> str:
    """A statement without its literal parameters (SQLite and PostgreSQL spell them alike)."""
    return sql.split(" WHERE ")[0][:60]


def test_fill_and_claim_send_the_same_statements_at_any_round_size(store: Store) -> None:
    project = parse_project(PROJECT)
    shapes_at: dict[int, list[str]] = {}
    for n in (100, 2000):
        record = create_round(store, project, _round(n, name=f"r{n}"))
        full: set[str] = set()
        with statements() as first:
            fill(store, record, full=full)  # the worker's first look: one grouped count
        assert len(first) == 1 and "count(" in first[0].lower(), first
        assert full == {group_key({})}
        with statements() as seen:
            for _ in range(3):
                assert fill(store, record, full=full) == []
                assert store.claim(record.id, "w", 60) is not None
        # Only the claims' own statements: nothing reads the round's trials per claim.
        assert all("FROM trials" not in s or "LIMIT" in s
                   for s in seen if s.upper().startswith("SELECT")), seen
        shapes = [_shape(s) for s in seen]
        assert shapes == shapes[:len(shapes) // 3] * 3  # every claim alike
        shapes_at[n] = shapes
    assert shapes_at[100] == shapes_at[2000]


@pytest.mark.parametrize("adaptive", [False, True])
def test_a_round_at_budget_stops_asking(store: Store, adaptive: bool) -> None:
    """Once every group has its budget the worker's fill sends nothing, adaptive or not."""
    record = create_round(store, parse_project(PROJECT), _round(
        3, algorithm="bayesian" if adaptive else "quasi_random"))
    full: set[str] = set()
    for _ in range(4):  # an adaptive round queues one at a time: claim to make room
        fill(store, record, full=full)
        store.claim(record.id, "w", 60)
    assert full == {group_key({})} and store.group_counts(record.id) == {group_key({}): 3}
    with statements() as seen:
        assert fill(store, record, full=full) == []
    assert seen == []


def test_a_worker_turns_only_its_claims_into_trial_records(
        store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At 100 and at 2,000 queued trials, a worker that runs 3 trials builds 3 trial records
    (its claims): before issue 18 every claim read (and parsed) every trial of the round."""
    made = {"n": 0}
    real = store_queue.trial_record

    def counting(row: Any) -> Any:
        made["n"] += 1
        return real(row)

    monkeypatch.setattr(store_queue, "trial_record", counting)
    monkeypatch.setattr(store_base, "trial_record", counting)
    built = []
    for i, n in enumerate((100, 2000)):
        folder = write_project(tmp_path / f"p{i}", train_py=NOOP)
        store = Store(store_url)
        create_round(store, parse_project(PROJECT), _round(n, name=f"r{i}"))
        made["n"] = 0
        assert worker_loop(store_url, f"r{i}", str(folder), max_trials=3) == 3
        built.append(made["n"])
        assert store.counts(store.round(f"r{i}").id) == {"completed": 3, "queued": n - 3}
        store.close()
    assert built == [3, 3]


def test_fill_of_a_fully_queued_round_reads_no_trial(store: Store,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    record = create_round(store, parse_project(PROJECT), _round(50))

    def refuse(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("fill read the round's trials")

    monkeypatch.setattr(Store, "trials", refuse)
    monkeypatch.setattr(store_queue.TrialQueue, "trials", refuse, raising=False)
    assert fill(store, record) == []


def test_concurrent_fills_queue_each_group_exactly_once_with_the_same_points(
        store: Store, tmp_path: Path) -> None:
    """Four workers filling a fresh round at once queue the budget of every target group once,
    and the same configs and seeds as one fill alone (one transaction per group)."""
    spec = parse_round({"name": "r", "question": "q?", "budget": 40, "seed": 3,
                        "algorithm": "quasi_random",
                        "params": {"width": {"role": "target", "values": [8, 16, 32]},
                                   "lr": {"role": "nuisance", "type": "float", "low": 1e-4,
                                          "high": 1.0, "scale": "log"}}})
    project = parse_project(PROJECT)
    record = store.create_round(spec, project)  # recorded, nothing queued yet
    errors: list[BaseException] = []

    def go() -> None:
        try:
            fill(store, record)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    got = store.trials(record.id)
    assert store.group_counts(record.id) == {group_key({"width": w}): 40 for w in (8, 16, 32)}
    alone = Store(tmp_path / "alone.db")
    ref = create_round(alone, project, spec)
    want = alone.trials(ref.id)

    def by_group(ts: list[Any]) -> dict[str, list[tuple[Any, ...]]]:
        out: dict[str, list[tuple[Any, ...]]] = {}
        for t in sorted(ts, key=lambda t: t.number):
            out.setdefault(group_key(t.group), []).append((t.seed, t.config))
        return out

    assert by_group(got) == by_group(want)
    alone.close()


def test_queued_configs_are_written_as_plain_json(store: Store) -> None:
    """The bulk insert writes what ``to_jsonable`` would: NumPy numbers, NaN, tuples."""
    record = create_round(store, parse_project(PROJECT), _round(1))
    ids = store.add_trials(record.id, [
        {"config": {"a": np.int64(3), "b": float("nan"), "c": (1, 2)}, "seed": 1},
        {"config": {"a": 1.5}, "seed": 2, "meta": {"k": np.float32(0.5)}}])
    got = [store.trial(i) for i in ids]
    assert [t.config for t in got] == [{"a": 3, "b": None, "c": [1, 2]}, {"a": 1.5}]
    assert got[1].meta == {"k": 0.5} and [t.number for t in got] == [1, 2]


def test_round_new_queues_100000_trials_in_bulk(tmp_path: Path) -> None:
    """The largest round a spec allows (10 target values x 10,000): a handful of statements per
    thousand trials, every group at its budget, numbers 0..99,999 each once."""
    store = Store(tmp_path / "big.db")
    spec = parse_round({"name": "big", "question": "q?", "budget": 10_000, "seed": 0,
                        "algorithm": "quasi_random",
                        "params": {"width": {"role": "target", "values": list(range(10))},
                                   "lr": {"role": "nuisance", "type": "float", "low": 1e-4,
                                          "high": 1.0, "scale": "log"}}})
    with statements() as seen:
        record = create_round(store, parse_project(PROJECT), spec)
    assert len(seen) < 400, len(seen)  # ~1 executemany per 1,000 rows; never one per row
    assert store.group_counts(record.id) == {group_key({"width": w}): 10_000 for w in range(10)}
    with store.reading() as conn:
        from sqlalchemy import text

        lo, hi, distinct = conn.execute(text(
            "SELECT min(number), max(number), count(DISTINCT number) FROM trials "
            "WHERE round_id = :r"), {"r": record.id}).one()
    assert (lo, hi, distinct) == (0, 99_999, 100_000)
    store.close()
