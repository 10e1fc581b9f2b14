"""The study store: rounds, trials, curves, artifacts and decisions, on SQLAlchemy 2 Core.

One code path serves SQLite (the default, a file under ``.tunebook/``) and PostgreSQL
(``postgresql://`` URLs, for teams). Choices that matter for correctness and speed:

* SQLite runs in WAL mode with a busy timeout, and every transaction starts ``BEGIN IMMEDIATE``:
  a deferred transaction that later upgrades to a write lock fails with "database is locked"
  without waiting, which is the classic failure with many workers.
* A claim is one transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), and a claim token
  guards every later write of that attempt, so a worker presumed dead cannot finish a trial that
  was re-queued and given to someone else.
* Leases are judged with the database's clock, so hosts with skewed clocks agree.
* Curve points are written in batches through the driver's ``executemany``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import and_, select

from tunebook.core.decisions import Payload, parse_payload
from tunebook.core.errors import SpecError, StoreError
from tunebook.core.jsonable import to_jsonable
from tunebook.core.trial import ArtifactRecord, DecisionRecord
from tunebook.store.connection import executemany, normalize_url, redact, transient
from tunebook.store.queue import TrialQueue
from tunebook.store.rows import group_key, pk
from tunebook.store.schema import artifacts, curves, decisions

P = TypeVar("P", bound=Payload)

__all__ = ["Store", "group_key", "normalize_url", "open_store", "redact"]


class Store(TrialQueue):
    """Access to one study store. Thread-safe; one per process is enough.

    The layers: ``StoreBase`` (connection, clock, rounds, trial reads), ``TrialQueue``
    (the trial lifecycle), and here curves, artifacts and decisions.
    """

    # -- curves -------------------------------------------------------------------------------

    @transient
    def log_points(self, rows: Iterable[tuple[int, int, str, float]]) -> int:
        """Insert curve points ``(trial_id, step, metric, value)`` in one transaction."""
        batch = list(rows)
        if not batch:
            return 0
        with self.engine.begin() as conn:
            executemany(conn, self.dialect,
                         "INSERT INTO curves (trial_id, step, metric, value) VALUES (?, ?, ?, ?)",
                         batch)
        return len(batch)

    @transient
    def drop_points_after(self, trial_id: int, step: int) -> None:
        """Forget points after ``step`` (a restarted attempt rewrites them)."""
        with self.engine.begin() as conn:
            conn.execute(curves.delete().where(and_(curves.c.trial_id == trial_id,
                                                    curves.c.step > step)))

    @transient
    def points(self, trial_id: int, step: int) -> dict[str, float]:
        """The metrics logged at one step of a trial (``{metric: value}``)."""
        out: dict[str, float] = {}
        with self.reading() as conn:
            res = conn.execute(select(curves.c.metric, curves.c.value).where(and_(
                curves.c.trial_id == trial_id, curves.c.step == step)))
            for metric, value in res:
                out[metric] = math.nan if value is None else value
        return out

    def curve(self, trial_id: int) -> dict[int, dict[str, float]]:
        return self.curves([trial_id]).get(trial_id, {})

    @transient
    def curves(self, trial_ids: Sequence[int], metrics: Sequence[str] | None = None
               ) -> dict[int, dict[int, dict[str, float]]]:
        """``{trial_id: {step: {metric: value}}}``; a re-logged point keeps its last value.

        ``metrics`` limits the read to those metric keys (e.g. one dev metric of 1,000 trials
        without their per-step training loss).
        """
        out: dict[int, dict[int, dict[str, float]]] = {}
        ids = list(trial_ids)
        with self.reading() as conn:
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                q = select(curves.c.trial_id, curves.c.step, curves.c.metric,
                           curves.c.value).where(curves.c.trial_id.in_(chunk))
                if metrics is not None:
                    q = q.where(curves.c.metric.in_(list(metrics)))
                res = conn.execute(q)
                for tid, step, metric, value in res:
                    out.setdefault(tid, {}).setdefault(step, {})[metric] = (
                        math.nan if value is None else value)
        return out

    # -- artifacts and decisions ---------------------------------------------------------------

    @transient
    def add_artifact(self, trial_id: int | None, kind: str, path: str, sha256: str, size: int,
                     step: int | None = None, meta: dict[str, Any] | None = None) -> int:
        with self.engine.begin() as conn:
            res = conn.execute(artifacts.insert().values(
                trial_id=trial_id, kind=kind, step=step, path=path, sha256=sha256, size=size,
                meta=to_jsonable(meta or {}), created_at=time.time()))
        return pk(res)

    @transient
    def remove_artifact(self, artifact_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(artifacts.delete().where(artifacts.c.id == artifact_id))

    @transient
    def artifacts(self, trial_id: int | None = None, kind: str | None = None
                  ) -> list[ArtifactRecord]:
        rows = self._rows(select(artifacts), artifacts, trial_id=trial_id, kind=kind)
        return [ArtifactRecord(id=r["id"], trial_id=r["trial_id"], kind=r["kind"],
                               step=r["step"], path=r["path"], sha256=r["sha256"],
                               size=r["size"], meta=r["meta"] or {}) for r in rows]

    @transient
    def add_decision(self, kind: str, summary: str, payload: Payload | Mapping[str, Any],
                     round_id: int | None = None) -> int:
        """Record a decision; ``payload`` must validate as the model of ``kind``."""
        model = parse_payload(kind, to_jsonable(payload) if not isinstance(payload, Payload)
                              else payload)
        with self.engine.begin() as conn:
            res = conn.execute(decisions.insert().values(
                kind=kind, round_id=round_id, summary=summary,
                payload=to_jsonable(model.model_dump(mode="json")), created_at=time.time()))
        return pk(res)

    @transient
    def decisions(self, kind: str | None = None, round_id: int | None = None
                  ) -> list[DecisionRecord]:
        rows = self._rows(select(decisions), decisions, kind=kind, round_id=round_id)
        return [DecisionRecord(id=r["id"], kind=r["kind"], round_id=r["round_id"],
                               summary=r["summary"], payload=_payload(r),
                               created_at=r["created_at"]) for r in rows]

    def decisions_of(self, model: type[P], round_id: int | None = None
                     ) -> list[DecisionRecord[P]]:
        """The decisions of ``model``'s kind, oldest first, each with its payload typed."""
        return [d for d in self.decisions(model.kind, round_id)  # type: ignore[misc]
                if isinstance(d.payload, model)]


def _payload(row: Any) -> Payload:
    """A stored payload parsed by its kind's model: one that no longer validates is named."""
    try:
        return parse_payload(row["kind"], row["payload"] or {})
    except SpecError as exc:
        raise StoreError(f"the store's decision {row['id']} does not validate: {exc}") from None


def open_store(url: str | Path | None = None, project_dir: str | Path = ".") -> Store:
    """The store at ``url``, else ``$TUNEBOOK_STORE``, else the project's ``.tunebook/store.db``."""
    default = Path(project_dir) / ".tunebook" / "store.db"
    chosen = url or os.environ.get("TUNEBOOK_STORE") or default
    return Store(chosen)
