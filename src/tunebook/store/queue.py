"""The trial queue: adding trials within a budget, claims, leases, outcomes, re-queues, reaping.

Every method is one transaction. A claim hands out a token; every later write of that attempt
must present it, so a worker presumed dead cannot finish a trial that was given to another.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import and_, func, select, update

from tunebook.core.jsonable import to_jsonable
from tunebook.core.spec import RoundSpec
from tunebook.core.trial import TrialKind, TrialRecord, check_transition
from tunebook.store.base import StoreBase
from tunebook.store.connection import transient
from tunebook.store.rows import (
    clean,
    dumps,
    finite,
    group_key,
    trial_record,
    with_history,
)
from tunebook.store.schema import rounds, trials

_CHUNK = 1_000  # rows per executemany when queueing many trials


def _insert_sql(dialect: str) -> str:
    """The driver-level INSERT of queued trials: ``exec_driver_sql`` with many rows is one
    ``executemany`` (no SQLAlchemy statement per row), and connection events still see it."""
    mark = "?" if dialect == "sqlite" else "%s"  # the driver's own parameter style
    json_ = f"CAST({mark} AS JSON)" if dialect == "postgresql" else mark
    return ("INSERT INTO trials (round_id, number, kind, grp, config, seed, status, attempts, "
            f"created_at, parent_id, meta) VALUES ({mark}, {mark}, {mark}, {json_}, {json_}, "
            f"{mark}, {mark}, {mark}, {mark}, {mark}, {json_})")


class TrialQueue(StoreBase):
    """Writes that move trials through their lifecycle (queued, running, finished)."""

    @transient
    def add_trials(self, round_id: int, items: Sequence[dict[str, Any]],
                   max_per_group: int | None = None, kind: TrialKind = "search",
                   per_parent: bool = False) -> list[int]:
        """Queue trials; with ``max_per_group`` no target group's ``kind`` trials exceed it.

        Each item has ``config``, ``seed`` and optionally ``group``, ``parent_id``, ``meta``.
        The count and the insert share one transaction, so concurrent callers cannot overshoot
        the budget however many workers fill the queue at once. With ``per_parent`` the budget
        holds per (group, parent_id) instead (seed re-runs of each parent trial).

        The count is one grouped aggregate and the rows go in by ``executemany`` in chunks:
        queueing 100,000 trials reads no trial row and builds no statement per row.
        """
        now = time.time()
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":  # serialise budget checks per round
                conn.execute(select(rounds.c.id).where(rounds.c.id == round_id).with_for_update())
            have = (self._group_counts(conn, round_id, kind, per_parent)
                    if max_per_group is not None else {})
            first = number = conn.execute(select(func.coalesce(func.max(trials.c.number), -1))
                                          .where(trials.c.round_id == round_id)).scalar_one() + 1
            sql = _insert_sql(self.dialect)
            rows: list[tuple[Any, ...]] = []
            for item in items:
                key = group_key(item.get("group", {})) + (
                    f"#{item.get('parent_id')}" if per_parent else "")
                if max_per_group is not None and have.get(key, 0) >= max_per_group:
                    continue
                have[key] = have.get(key, 0) + 1
                rows.append((round_id, number, item.get("kind", kind), dumps(item.get("group", {})),
                             dumps(item["config"]), int(item["seed"]), "queued", 0, now,
                             item.get("parent_id"), dumps(item.get("meta", {}))))
                number += 1
                if len(rows) >= _CHUNK:
                    conn.exec_driver_sql(sql, rows)  # the driver's executemany
                    rows = []
            if rows:
                conn.exec_driver_sql(sql, rows)
            if number == first:
                return []
            # The numbers are this round's and the transaction holds its budget lock: the rows
            # numbered first.. are exactly the ones just inserted, in order.
            return [int(r[0]) for r in conn.execute(
                select(trials.c.id).where(and_(trials.c.round_id == round_id,
                                               trials.c.number >= first))
                .order_by(trials.c.number))]

    @transient
    def claim(self, round_id: int, worker: str, lease_s: float) -> tuple[TrialRecord, str] | None:
        """Atomically take the oldest queued trial of the round; None when none is queued."""
        token = uuid.uuid4().hex
        now = time.time()
        with self.engine.begin() as conn:
            row = conn.execute(self._sql["claim_select"], {"rid": round_id}).mappings().first()
            if row is None:
                return None
            check_transition(row["status"], "running")
            conn.execute(self._sql["claim_update"], {
                "tid": row["id"], "b_worker": worker, "b_token": token, "now": now,
                "lease": float(lease_s)})
        record = trial_record({**row, "status": "running", "worker": worker, "started_at": now,
                         "attempts": row["attempts"] + 1, "finished_at": None})
        return record, token

    def heartbeat(self, trial_id: int, token: str, lease_s: float) -> bool:
        """Renew the lease; False when this attempt no longer owns the trial."""
        with self.engine.begin() as conn:
            res = conn.execute(self._sql["heartbeat"], {"tid": trial_id, "b_token": token,
                                                        "lease": float(lease_s)})
        return bool(res.rowcount)

    @transient
    def finish(self, trial_id: int, token: str, status: str, *, error: str | None = None,
               best_step: int | None = None, score: float | None = None,
               feasible: bool | None = None, best_metrics: dict[str, float] | None = None) -> bool:
        """Record the outcome of this attempt; False (and nothing written) if it lost its lease."""
        check_transition("running", status)
        with self.engine.begin() as conn:
            res = conn.execute(self._sql["finish"], {
                "tid": trial_id, "b_token": token, "b_status": status, "b_error": error,
                "b_best_step": best_step, "b_score": finite(score), "b_feasible": feasible,
                "b_best_metrics": clean(best_metrics or {}), "now": time.time()})
        return bool(res.rowcount)

    @transient
    def update_meta(self, trial_id: int, token: str, updates: dict[str, Any]) -> bool:
        """Merge ``updates`` into a running trial's meta (what the attempt records about itself)."""
        with self.engine.begin() as conn:
            row = conn.execute(select(trials.c.meta).where(and_(
                trials.c.id == trial_id, trials.c.token == token,
                trials.c.status == "running"))).first()
            if row is None:
                return False
            conn.execute(update(trials).where(trials.c.id == trial_id).values(
                meta={**(row.meta or {}), **to_jsonable(updates)}))
        return True

    @transient
    def requeue(self, trial_id: int, token: str, reason: str) -> bool:
        """Give a running trial back to the queue at once (SIGTERM, preemption notice)."""
        with self.engine.begin() as conn:
            row = conn.execute(select(trials.c.meta, trials.c.attempts, trials.c.worker).where(
                and_(trials.c.id == trial_id, trials.c.token == token,
                     trials.c.status == "running"))).first()
            if row is None:
                return False
            conn.execute(update(trials).where(trials.c.id == trial_id).values(
                status="queued", token=None, worker=None, lease_until=None, error=reason,
                meta=with_history(row.meta, row.attempts, row.worker, reason)))
        return True

    @transient
    def requeue_workers(self, round_id: int, workers: Sequence[str], reason: str) -> list[int]:
        """Give back at once the running trials that these workers held (they were stopped or
        died): their leases need not run out first. Returns the re-queued trial ids."""
        if not workers:
            return []
        with self.engine.begin() as conn:
            rows = conn.execute(select(trials.c.id, trials.c.attempts, trials.c.worker,
                                       trials.c.meta).where(and_(
                trials.c.round_id == round_id, trials.c.status == "running",
                trials.c.worker.in_(list(workers))))).all()
            for tid, attempts, worker, meta_ in rows:
                conn.execute(update(trials).where(and_(
                    trials.c.id == tid, trials.c.status == "running")).values(
                    status="queued", token=None, worker=None, lease_until=None, error=reason,
                    meta=with_history(meta_, attempts, worker, reason)))
        return [int(r[0]) for r in rows]

    @transient
    def reap(self, round_id: int | None = None, max_attempts: int = 3) -> list[int]:
        """Re-queue running trials whose lease expired; fail those out of attempts."""
        cond = and_(trials.c.status == "running", self.lease_expired())
        if round_id is not None:
            cond = and_(cond, trials.c.round_id == round_id)
        with self.engine.begin() as conn:
            return self._release(conn, cond, max_attempts, lambda a, w: (
                f"lease expired on each of {a} attempts (worker died)" if a >= max_attempts
                else f"re-queued: lease expired on attempt {a} (worker {w})"))

    @transient
    def release_worker(self, round_id: int, worker: str, reason: str,
                       max_attempts: int = 3) -> list[int]:
        """Re-queue (or fail, when out of attempts) the trials a dead worker ``worker`` held.

        The parent of a worker process calls this when the process ends while running a trial
        (``os._exit`` in ``train()``, a segfault, the OOM killer), instead of waiting out the
        lease; ``reason`` says how it ended.
        """
        cond = and_(trials.c.status == "running", trials.c.round_id == round_id,
                    trials.c.worker == worker)
        with self.engine.begin() as conn:
            return self._release(conn, cond, max_attempts, lambda a, _w: (
                f"{reason} (attempt {a} of {max_attempts})" if a >= max_attempts
                else f"re-queued: {reason} (attempt {a})"))

    def _release(self, conn: Any, cond: Any, max_attempts: int,
                 why: Callable[[int, str | None], str]) -> list[int]:
        rows = conn.execute(select(trials.c.id, trials.c.attempts, trials.c.worker,
                                   trials.c.meta).where(cond)).all()
        for tid, attempts, worker, meta_ in rows:
            text = why(attempts, worker)
            if attempts >= max_attempts:
                conn.execute(update(trials).where(trials.c.id == tid).values(
                    status="failed", token=None, lease_until=None, finished_at=time.time(),
                    error=text, meta=with_history(meta_, attempts, worker, text)))
            else:
                conn.execute(update(trials).where(trials.c.id == tid).values(
                    status="queued", token=None, worker=None, lease_until=None,
                    error=text, meta=with_history(meta_, attempts, worker, text)))
        return [int(r[0]) for r in rows]

    @transient
    def set_score(self, trial_id: int, *, best_step: int | None, score: float | None,
                  feasible: bool | None, best_metrics: dict[str, float]) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(trials).where(trials.c.id == trial_id).values(
                best_step=best_step, score=finite(score), feasible=feasible,
                best_metrics=clean(best_metrics)))

    @transient
    def rewrite_queued(self, round_id: int, spec: RoundSpec,
                       configs: dict[int, tuple[dict[str, Any], dict[str, Any]]]) -> bool:
        """Replace a round's spec and its trials' ``(config, meta)`` in one transaction.

        Only while every trial of the round is still queued (nothing trained yet); False and
        nothing written otherwise.
        """
        class _Busy(Exception):
            pass

        try:
            with self.engine.begin() as conn:
                if self.dialect == "postgresql":  # serialise with budget checks
                    conn.execute(select(rounds.c.id).where(rounds.c.id == round_id)
                                 .with_for_update())
                busy = conn.execute(select(func.count()).where(and_(
                    trials.c.round_id == round_id, trials.c.status != "queued"))).scalar_one()
                if busy:
                    raise _Busy
                conn.execute(update(rounds).where(rounds.c.id == round_id).values(
                    spec=to_jsonable(spec.model_dump(mode="json"))))
                for tid, (config, meta_) in configs.items():
                    res = conn.execute(update(trials).where(and_(
                        trials.c.id == tid, trials.c.round_id == round_id,
                        trials.c.status == "queued")).values(
                        config=to_jsonable(config), meta=to_jsonable(meta_)))
                    if not res.rowcount:  # claimed meanwhile: roll everything back
                        raise _Busy
        except _Busy:
            return False
        return True

    @transient
    def cancel_queued(self, round_id: int, reason: str) -> int:
        with self.engine.begin() as conn:
            res = conn.execute(update(trials).where(and_(
                trials.c.round_id == round_id, trials.c.status == "queued")).values(
                status="pruned", error=reason, finished_at=time.time()))
        return int(res.rowcount)
