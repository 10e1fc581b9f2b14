"""The store contract: the same tests over SQLite and (when reachable) PostgreSQL."""

from __future__ import annotations

import math
import time

import pytest
from conftest import bare_round

from tunebook.core.errors import NotFoundError, SpecError, StoreError
from tunebook.store import Store, normalize_url, redact


def _round(store: Store, name: str = "r1") -> int:
    return bare_round(store, name).id


def test_rounds_are_unique_and_found_by_name(store: Store) -> None:
    rid = _round(store)
    assert store.round("r1").id == rid and store.round(rid).name == "r1"
    with pytest.raises(SpecError, match="not used"):
        _round(store)
    with pytest.raises(NotFoundError, match="Did you mean 'r1'"):
        store.round("r1x")


def test_add_trials_respects_the_budget_per_group(store: Store) -> None:
    rid = _round(store)
    items = [{"group": {"w": w}, "config": {"w": w, "i": i}, "seed": i}
             for w in (1, 2) for i in range(5)]
    ids = store.add_trials(rid, items, max_per_group=3)
    assert len(ids) == 6
    assert store.add_trials(rid, items, max_per_group=3) == []
    numbers = [t.number for t in store.trials(rid)]
    assert numbers == list(range(6))


def test_claim_finish_and_stale_token(store: Store) -> None:
    rid = _round(store)
    store.add_trials(rid, [{"config": {"a": 1}, "seed": 0}, {"config": {"a": 2}, "seed": 1}])
    got = store.claim(rid, "w1", lease_s=30)
    assert got is not None
    trial, token = got
    assert trial.status == "running" and trial.worker == "w1" and trial.attempts == 1
    assert store.heartbeat(trial.id, token, 30)
    assert not store.finish(trial.id, "not-the-token", "completed")
    assert store.finish(trial.id, token, "completed", best_step=3, score=0.5, feasible=True,
                        best_metrics={"dev/acc": 0.5, "x": math.nan})
    t = store.trial(trial.id)
    assert (t.status, t.best_step, t.score, t.feasible) == ("completed", 3, 0.5, True)
    assert t.best_metrics == {"dev/acc": 0.5, "x": None}
    assert not store.finish(trial.id, token, "failed")  # a second finish changes nothing
    assert not store.heartbeat(trial.id, token, 30)
    second = store.claim(rid, "w2", 30)
    assert second is not None and second[0].id != trial.id
    assert store.claim(rid, "w3", 30) is None
    assert store.counts(rid) == {"completed": 1, "running": 1}


def test_reap_requeues_expired_leases_and_bounds_retries(store: Store) -> None:
    rid = _round(store)
    store.add_trials(rid, [{"config": {}, "seed": 0}])
    for attempt in (1, 2):
        got = store.claim(rid, f"w{attempt}", lease_s=0.05)
        assert got is not None
        time.sleep(0.15)
        assert store.reap(rid, max_attempts=2) == [got[0].id]
        t = store.trial(got[0].id)
        expected = "queued" if attempt == 1 else "failed"
        assert t.status == expected, t
        # the presumed-dead worker comes back: its result must not count
        assert not store.finish(got[0].id, got[1], "completed", score=1.0)
    t = store.trial(got[0].id)
    assert "lease expired" in (t.error or "")
    assert [h["attempt"] for h in t.meta["history"]] == [1, 2]  # the failure history is kept


def test_requeue_on_sigterm_path(store: Store) -> None:
    rid = _round(store)
    store.add_trials(rid, [{"config": {}, "seed": 0}])
    trial, token = store.claim(rid, "w", 30) or (None, "")
    assert trial is not None
    assert store.requeue(trial.id, token, "SIGTERM")
    assert store.trial(trial.id).status == "queued"
    assert store.claim(rid, "w2", 30) is not None


def test_curves_batch_and_reread(store: Store) -> None:
    rid = _round(store)
    (tid,) = store.add_trials(rid, [{"config": {}, "seed": 0}])
    rows = [(tid, s, m, float(s)) for s in range(200) for m in ("train/loss", "dev/acc")]
    assert store.log_points(rows) == 400
    store.log_points([(tid, 5, "dev/acc", 99.0)])  # re-logged point: last value wins
    curve = store.curve(tid)
    assert len(curve) == 200 and curve[5]["dev/acc"] == 99.0 and curve[7]["train/loss"] == 7.0
    store.drop_points_after(tid, 99)
    assert max(store.curve(tid)) == 99
    assert store.curves([tid, 12345]) == {tid: store.curve(tid)}


def test_artifacts_and_decisions(store: Store) -> None:
    rid = _round(store)
    (tid,) = store.add_trials(rid, [{"config": {}, "seed": 0}])
    aid = store.add_artifact(tid, "checkpoint", "r1/t/ckpt.pt", "ab" * 32, 10, step=5,
                             meta={"k": 1})
    (art,) = store.artifacts(tid, "checkpoint")
    assert (art.id, art.step, art.meta) == (aid, 5, {"k": 1})
    store.remove_artifact(aid)
    assert store.artifacts(tid) == []
    store.add_decision("baseline", "ok", {"trial_id": tid, "config": {"x": float("inf")},
                                          "verdict": {"ok": True}}, round_id=rid)
    (d,) = store.decisions("baseline")
    assert d.payload.trial_id == tid and d.round_id == rid
    assert d.payload.config == {"x": None}  # JSON has no Infinity


def test_decisions_are_validated_by_their_kind_on_write_and_read(store: Store) -> None:
    from tunebook.core.decisions import NotePayload

    with pytest.raises(SpecError, match="decision note: text"):
        store.add_decision("note", "n", {"item": "4.3.strategy"})
    with pytest.raises(SpecError, match="decision kind"):
        store.add_decision("hunch", "h", {})
    with pytest.raises(SpecError, match="decision stability: typo"):
        store.add_decision("stability", "s", {"trial_id": 1, "round": "r", "typo": 1})
    assert store.decisions() == []  # nothing written
    store.add_decision("note", "n", NotePayload(item="4.3.strategy", text="end-to-end"))
    (d,) = store.decisions_of(NotePayload)
    assert isinstance(d.payload, NotePayload) and d.payload.text == "end-to-end"


def test_db_clock_is_close_to_ours(store: Store) -> None:
    # SQLite judges leases by the host's monotonic clock (store/clock.py), PostgreSQL by its own.
    ours = time.monotonic() if store.dialect == "sqlite" else time.time()
    assert abs(store.db_now() - ours) < 5


def test_store_urls(tmp_path) -> None:
    assert normalize_url(tmp_path / "x.db").startswith("sqlite:////")
    assert normalize_url("postgresql://u:p@h/db").startswith("postgresql+psycopg://")
    assert "secret" not in redact("postgresql://u:secret@h/db")
    with pytest.raises(SpecError, match="in-memory"):
        Store("sqlite://")
    with pytest.raises(SpecError, match="sqlite:/// or postgresql://"):
        Store("mysql://u@h/db")
    with pytest.raises(StoreError) as info:
        Store("postgresql://user:hunter2@127.0.0.1:1/nothing")
    assert "unreachable" in str(info.value) and "hunter2" not in str(info.value)
