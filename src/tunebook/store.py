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

import functools
import json
import math
import os
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    create_engine,
    event,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from tunebook.errors import NotFoundError, SpecError, StoreError
from tunebook.trial import (
    ArtifactRecord,
    DecisionRecord,
    RoundRecord,
    TrialRecord,
    check_transition,
)

SCHEMA_VERSION = 1
meta = MetaData()

rounds = Table(
    "rounds", meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("question", Text, nullable=False),
    Column("kind", String(40), nullable=False, default="search"),
    Column("spec", JSON, nullable=False),
    Column("project", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)

trials = Table(
    "trials", meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("round_id", Integer, ForeignKey("rounds.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("kind", String(40), nullable=False, default="search"),
    Column("grp", JSON, nullable=False),
    Column("config", JSON, nullable=False),
    Column("seed", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("worker", String(200)),
    Column("token", String(40)),
    Column("lease_until", Float),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("error", Text),
    Column("best_step", Integer),
    Column("score", Float),
    Column("feasible", Boolean),
    Column("best_metrics", JSON),
    Column("parent_id", Integer),
    Column("meta", JSON),
    UniqueConstraint("round_id", "number", name="uq_trial_number"),
    Index("ix_trials_claim", "round_id", "status", "id"),
)

curves = Table(
    "curves", meta,
    Column("trial_id", Integer, nullable=False),
    Column("step", Integer, nullable=False),
    Column("metric", String(200), nullable=False),
    Column("value", Float),
    Index("ix_curves_trial", "trial_id"),
)

artifacts = Table(
    "artifacts", meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("trial_id", Integer),
    Column("kind", String(40), nullable=False),
    Column("step", Integer),
    Column("path", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("meta", JSON),
    Column("created_at", Float, nullable=False),
)

decisions = Table(
    "decisions", meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(40), nullable=False),
    Column("round_id", Integer),
    Column("summary", Text, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)

info = Table(
    "info", meta,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)


# How long a worker keeps retrying a store that went away (PostgreSQL restart, failover, a
# SQLite lock held past the busy timeout) before giving up.
RETRY_SECONDS = float(os.environ.get("TUNEBOOK_STORE_RETRY_S", "120"))
_F = TypeVar("_F", bound=Callable[..., Any])


def _transient(fn: _F) -> _F:
    """Retry ``fn`` on connection-level errors, with backoff, for up to RETRY_SECONDS.

    Every wrapped method is one transaction, so a retry either redoes it or finds it done;
    the claim token and the per-group budget check keep a redone write from counting twice.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + RETRY_SECONDS
        delay = 0.1
        while True:
            try:
                return fn(*args, **kwargs)
            except (OperationalError, InterfaceError) as exc:
                if time.monotonic() + delay > deadline:
                    url = redact(args[0].url) if args else "the store"
                    raise StoreError(f"store {url} kept failing for {RETRY_SECONDS:.0f} s: "
                                     f"{str(exc.orig or exc).strip().splitlines()[0]}") from None
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    return wrapper  # type: ignore[return-value]


def redact(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable store URL>"


def normalize_url(url: str | Path) -> str:
    """Accept a plain path (SQLite file) or a URL; use psycopg 3 for PostgreSQL."""
    s = str(url)
    if "://" not in s:
        return f"sqlite:///{Path(s).resolve()}"
    if s.startswith("postgresql://") or s.startswith("postgres://"):
        return "postgresql+psycopg://" + s.split("://", 1)[1]
    return s


def _is_network_fs(path: Path) -> str | None:
    """The filesystem type when ``path`` lives on NFS/SMB-like storage (SQLite locks fail there)."""
    try:
        best, fstype = "", ""
        target = str(path.resolve())
        with open("/proc/mounts", encoding="utf-8") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 3 and target.startswith(parts[1]) and len(parts[1]) > len(best):
                    best, fstype = parts[1], parts[2]
        return fstype if fstype.startswith(("nfs", "cifs", "smb", "9p", "fuse.sshfs")) else None
    except OSError:
        return None


class Store:
    """Access to one study store. Thread-safe; one per process is enough."""

    def __init__(self, url: str | Path) -> None:
        self.url = normalize_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            db = parsed.database
            if not db or db == ":memory:":
                raise SpecError("store", "a SQLite file path or a postgresql:// URL",
                                redact(self.url),
                                "An in-memory SQLite store cannot be shared by worker processes.")
            path = Path(db)
            path.parent.mkdir(parents=True, exist_ok=True)
            fs = _is_network_fs(path.parent)
            if fs:
                raise SpecError("store", "a SQLite file on a local disk", f"{path} on {fs}",
                                "SQLite's locks are unreliable on network filesystems; "
                                "use a postgresql:// store for several hosts.")
            self.engine: Engine = create_engine(self.url, pool_size=8, max_overflow=32,
                                                pool_timeout=120)
            _sqlite_setup(self.engine)
        elif self.dialect == "postgresql":
            self.engine = create_engine(self.url, pool_pre_ping=True, pool_size=4,
                                        max_overflow=8)
        else:
            raise SpecError("store", "a sqlite:/// or postgresql:// URL", redact(self.url))
        self._sql = self._statements()
        try:
            with self.engine.begin() as conn:
                meta.create_all(conn, checkfirst=True)
                row = conn.execute(select(info.c.value).where(info.c.key == "schema")).first()
                if row is None:
                    conn.execute(info.insert().values(key="schema", value=str(SCHEMA_VERSION)))
        except IntegrityError:
            pass  # another process created the schema at the same moment
        except OperationalError as exc:
            raise StoreError(f"store {redact(self.url)} is unreachable: "
                             f"{str(exc.orig).strip().splitlines()[0]}") from None

    def _statements(self) -> dict[str, Any]:
        """The hot path's statements, built once: SQLAlchemy memoizes each one's cache key, so
        reusing them skips most per-call compilation work (about half of a claim's cost)."""
        owned = and_(trials.c.id == bindparam("tid"), trials.c.token == bindparam("b_token"),
                     trials.c.status == "running")
        claim_select = select(trials, rounds.c.name.label("round_name")).join(
            rounds, rounds.c.id == trials.c.round_id).where(
            and_(trials.c.round_id == bindparam("rid"), trials.c.status == "queued")
        ).order_by(trials.c.id).limit(1)
        if self.dialect == "postgresql":
            claim_select = claim_select.with_for_update(of=trials, skip_locked=True)
        return {
            "claim_select": claim_select,
            "claim_update": update(trials).where(trials.c.id == bindparam("tid")).values(
                status="running", worker=bindparam("b_worker"), token=bindparam("b_token"),
                started_at=bindparam("now"),
                lease_until=self._now_sql() + bindparam("lease", type_=Float),
                attempts=trials.c.attempts + 1, finished_at=None),
            "heartbeat": update(trials).where(owned).values(
                lease_until=self._now_sql() + bindparam("lease", type_=Float)),
            "finish": update(trials).where(owned).values(
                status=bindparam("b_status"), error=bindparam("b_error"),
                best_step=bindparam("b_best_step"), score=bindparam("b_score"),
                feasible=bindparam("b_feasible"),
                best_metrics=bindparam("b_best_metrics", type_=JSON),
                finished_at=bindparam("now"), lease_until=None, token=None),
        }

    # -- clock --------------------------------------------------------------------------------

    def _now_sql(self) -> Any:
        if self.dialect == "sqlite":
            return literal_column("((julianday('now') - 2440587.5) * 86400.0)", Float)
        return literal_column("extract(epoch from clock_timestamp())", Float)

    def db_now(self) -> float:
        with self.engine.connect() as conn:
            return float(conn.execute(select(self._now_sql())).scalar_one())

    # -- rounds -------------------------------------------------------------------------------

    @_transient
    def create_round(self, name: str, question: str, spec: dict[str, Any],
                     project: dict[str, Any], kind: str = "search") -> RoundRecord:
        with self.engine.begin() as conn:
            if conn.execute(select(rounds.c.id).where(rounds.c.name == name)).first():
                raise SpecError("round.name", "a name not used in this store", name,
                                "Pick another name, or run the existing round.")
            rid = _pk(conn.execute(rounds.insert().values(
                name=name, question=question, kind=kind, spec=json_safe(spec),
                project=json_safe(project),
                created_at=time.time())))
        return self.round(rid)

    @_transient
    def round(self, key: str | int) -> RoundRecord:
        col = rounds.c.id if isinstance(key, int) else rounds.c.name
        with self.engine.connect() as conn:
            row = conn.execute(select(rounds).where(col == key)).mappings().first()
        if row is None:
            names = [r.name for r in self.rounds()]
            import difflib

            near = difflib.get_close_matches(str(key), names, n=1)
            hint = f" Did you mean '{near[0]}'?" if near else ""
            raise NotFoundError(f"round {key!r} is not in the store (rounds: {names}).{hint}")
        return _round(row)

    @_transient
    def rounds(self) -> list[RoundRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(rounds).order_by(rounds.c.id)).mappings().all()
        return [_round(r) for r in rows]

    # -- trials -------------------------------------------------------------------------------

    @_transient
    def add_trials(self, round_id: int, items: Sequence[dict[str, Any]],
                   max_per_group: int | None = None, kind: str = "search",
                   per_parent: bool = False) -> list[int]:
        """Queue trials; with ``max_per_group`` no target group's ``kind`` trials exceed it.

        Each item has ``config``, ``seed`` and optionally ``group``, ``parent_id``, ``meta``.
        The count and the insert share one transaction, so concurrent callers cannot overshoot
        the budget however many workers fill the queue at once. With ``per_parent`` the budget
        holds per (group, parent_id) instead (seed re-runs of each parent trial).
        """
        now = time.time()
        ids: list[int] = []
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":  # serialise budget checks per round
                conn.execute(select(rounds.c.id).where(rounds.c.id == round_id).with_for_update())
            have: dict[str, int] = {}
            if max_per_group is not None:
                for grp, parent in conn.execute(select(trials.c.grp, trials.c.parent_id).where(
                        and_(trials.c.round_id == round_id, trials.c.kind == kind))):
                    key = group_key(grp or {}) + (f"#{parent}" if per_parent else "")
                    have[key] = have.get(key, 0) + 1
            number = conn.execute(select(func.coalesce(func.max(trials.c.number), -1)).where(
                trials.c.round_id == round_id)).scalar_one() + 1
            for item in items:
                key = group_key(item.get("group", {})) + (
                    f"#{item.get('parent_id')}" if per_parent else "")
                if max_per_group is not None and have.get(key, 0) >= max_per_group:
                    continue
                have[key] = have.get(key, 0) + 1
                res = conn.execute(trials.insert().values(
                    round_id=round_id, number=number, kind=item.get("kind", kind),
                    grp=json_safe(item.get("group", {})), config=json_safe(item["config"]),
                    seed=int(item["seed"]), status="queued", attempts=0, created_at=now,
                    parent_id=item.get("parent_id"), meta=json_safe(item.get("meta", {}))))
                ids.append(_pk(res))
                number += 1
        return ids

    @_transient
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
        record = _trial({**row, "status": "running", "worker": worker, "started_at": now,
                         "attempts": row["attempts"] + 1, "finished_at": None})
        return record, token

    def heartbeat(self, trial_id: int, token: str, lease_s: float) -> bool:
        """Renew the lease; False when this attempt no longer owns the trial."""
        with self.engine.begin() as conn:
            res = conn.execute(self._sql["heartbeat"], {"tid": trial_id, "b_token": token,
                                                        "lease": float(lease_s)})
        return bool(res.rowcount)

    @_transient
    def finish(self, trial_id: int, token: str, status: str, *, error: str | None = None,
               best_step: int | None = None, score: float | None = None,
               feasible: bool | None = None, best_metrics: dict[str, float] | None = None) -> bool:
        """Record the outcome of this attempt; False (and nothing written) if it lost its lease."""
        check_transition("running", status)
        with self.engine.begin() as conn:
            res = conn.execute(self._sql["finish"], {
                "tid": trial_id, "b_token": token, "b_status": status, "b_error": error,
                "b_best_step": best_step, "b_score": _finite(score), "b_feasible": feasible,
                "b_best_metrics": _clean(best_metrics or {}), "now": time.time()})
        return bool(res.rowcount)

    @_transient
    def update_meta(self, trial_id: int, token: str, updates: dict[str, Any]) -> bool:
        """Merge ``updates`` into a running trial's meta (what the attempt records about itself)."""
        with self.engine.begin() as conn:
            row = conn.execute(select(trials.c.meta).where(and_(
                trials.c.id == trial_id, trials.c.token == token,
                trials.c.status == "running"))).first()
            if row is None:
                return False
            conn.execute(update(trials).where(trials.c.id == trial_id).values(
                meta={**(row.meta or {}), **json_safe(updates)}))
        return True

    @_transient
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
                meta=_with_history(row.meta, row.attempts, row.worker, reason)))
        return True

    @_transient
    def reap(self, round_id: int | None = None, max_attempts: int = 3) -> list[int]:
        """Re-queue running trials whose lease expired; fail those out of attempts."""
        cond = and_(trials.c.status == "running", trials.c.lease_until < self._now_sql())
        if round_id is not None:
            cond = and_(cond, trials.c.round_id == round_id)
        with self.engine.begin() as conn:
            rows = conn.execute(select(trials.c.id, trials.c.attempts, trials.c.worker,
                                       trials.c.meta).where(cond)).all()
            for tid, attempts, worker, meta_ in rows:
                if attempts >= max_attempts:
                    why = f"lease expired on each of {attempts} attempts (worker died)"
                    conn.execute(update(trials).where(trials.c.id == tid).values(
                        status="failed", token=None, lease_until=None, finished_at=time.time(),
                        error=why, meta=_with_history(meta_, attempts, worker, why)))
                else:
                    why = f"re-queued: lease expired on attempt {attempts} (worker {worker})"
                    conn.execute(update(trials).where(trials.c.id == tid).values(
                        status="queued", token=None, worker=None, lease_until=None,
                        error=why, meta=_with_history(meta_, attempts, worker, why)))
        return [int(r[0]) for r in rows]

    @_transient
    def set_score(self, trial_id: int, *, best_step: int | None, score: float | None,
                  feasible: bool | None, best_metrics: dict[str, float]) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(trials).where(trials.c.id == trial_id).values(
                best_step=best_step, score=_finite(score), feasible=feasible,
                best_metrics=_clean(best_metrics)))

    @_transient
    def rewrite_queued(self, round_id: int, spec: dict[str, Any],
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
                    spec=json_safe(spec)))
                for tid, (config, meta_) in configs.items():
                    res = conn.execute(update(trials).where(and_(
                        trials.c.id == tid, trials.c.round_id == round_id,
                        trials.c.status == "queued")).values(
                        config=json_safe(config), meta=json_safe(meta_)))
                    if not res.rowcount:  # claimed meanwhile: roll everything back
                        raise _Busy
        except _Busy:
            return False
        return True

    @_transient
    def cancel_queued(self, round_id: int, reason: str) -> int:
        with self.engine.begin() as conn:
            res = conn.execute(update(trials).where(and_(
                trials.c.round_id == round_id, trials.c.status == "queued")).values(
                status="pruned", error=reason, finished_at=time.time()))
        return int(res.rowcount)

    @_transient
    def trial(self, trial_id: int) -> TrialRecord:
        with self.engine.connect() as conn:
            row = conn.execute(select(trials, rounds.c.name.label("round_name")).join(
                rounds, rounds.c.id == trials.c.round_id).where(trials.c.id == trial_id)
            ).mappings().first()
        if row is None:
            raise NotFoundError(f"trial {trial_id} is not in the store")
        return _trial(row)

    @_transient
    def trials(self, round_id: int | None = None, status: str | None = None,
               kind: str | None = None) -> list[TrialRecord]:
        q = select(trials, rounds.c.name.label("round_name")).join(
            rounds, rounds.c.id == trials.c.round_id)
        if round_id is not None:
            q = q.where(trials.c.round_id == round_id)
        if status is not None:
            q = q.where(trials.c.status == status)
        if kind is not None:
            q = q.where(trials.c.kind == kind)
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(trials.c.id)).mappings().all()
        return [_trial(r) for r in rows]

    @_transient
    def counts(self, round_id: int) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(trials.c.status, func.count()).where(
                trials.c.round_id == round_id).group_by(trials.c.status)).all()
        return {str(s): int(n) for s, n in rows}

    # -- curves -------------------------------------------------------------------------------

    @_transient
    def log_points(self, rows: Iterable[tuple[int, int, str, float]]) -> int:
        """Insert curve points ``(trial_id, step, metric, value)`` in one transaction."""
        batch = list(rows)
        if not batch:
            return 0
        with self.engine.begin() as conn:
            _executemany(conn, self.dialect,
                         "INSERT INTO curves (trial_id, step, metric, value) VALUES (?, ?, ?, ?)",
                         batch)
        return len(batch)

    @_transient
    def drop_points_after(self, trial_id: int, step: int) -> None:
        """Forget points after ``step`` (a restarted attempt rewrites them)."""
        with self.engine.begin() as conn:
            conn.execute(curves.delete().where(and_(curves.c.trial_id == trial_id,
                                                    curves.c.step > step)))

    @_transient
    def points(self, trial_id: int, step: int) -> dict[str, float]:
        """The metrics logged at one step of a trial (``{metric: value}``)."""
        out: dict[str, float] = {}
        with self.engine.connect() as conn:
            res = conn.execute(select(curves.c.metric, curves.c.value).where(and_(
                curves.c.trial_id == trial_id, curves.c.step == step)))
            for metric, value in res:
                out[metric] = math.nan if value is None else value
        return out

    def curve(self, trial_id: int) -> dict[int, dict[str, float]]:
        return self.curves([trial_id]).get(trial_id, {})

    @_transient
    def curves(self, trial_ids: Sequence[int], metrics: Sequence[str] | None = None
               ) -> dict[int, dict[int, dict[str, float]]]:
        """``{trial_id: {step: {metric: value}}}``; a re-logged point keeps its last value.

        ``metrics`` limits the read to those metric keys (e.g. one dev metric of 1,000 trials
        without their per-step training loss).
        """
        out: dict[int, dict[int, dict[str, float]]] = {}
        ids = list(trial_ids)
        with self.engine.connect() as conn:
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

    @_transient
    def add_artifact(self, trial_id: int | None, kind: str, path: str, sha256: str, size: int,
                     step: int | None = None, meta: dict[str, Any] | None = None) -> int:
        with self.engine.begin() as conn:
            res = conn.execute(artifacts.insert().values(
                trial_id=trial_id, kind=kind, step=step, path=path, sha256=sha256, size=size,
                meta=json_safe(meta or {}), created_at=time.time()))
        return _pk(res)

    @_transient
    def remove_artifact(self, artifact_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(artifacts.delete().where(artifacts.c.id == artifact_id))

    @_transient
    def artifacts(self, trial_id: int | None = None, kind: str | None = None
                  ) -> list[ArtifactRecord]:
        q = select(artifacts)
        if trial_id is not None:
            q = q.where(artifacts.c.trial_id == trial_id)
        if kind is not None:
            q = q.where(artifacts.c.kind == kind)
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(artifacts.c.id)).mappings().all()
        return [ArtifactRecord(id=r["id"], trial_id=r["trial_id"], kind=r["kind"],
                               step=r["step"], path=r["path"], sha256=r["sha256"],
                               size=r["size"], meta=r["meta"] or {}) for r in rows]

    @_transient
    def add_decision(self, kind: str, summary: str, payload: dict[str, Any],
                     round_id: int | None = None) -> int:
        with self.engine.begin() as conn:
            res = conn.execute(decisions.insert().values(
                kind=kind, round_id=round_id, summary=summary,
                payload=json_safe(payload), created_at=time.time()))
        return _pk(res)

    @_transient
    def decisions(self, kind: str | None = None, round_id: int | None = None
                  ) -> list[DecisionRecord]:
        q = select(decisions)
        if kind is not None:
            q = q.where(decisions.c.kind == kind)
        if round_id is not None:
            q = q.where(decisions.c.round_id == round_id)
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(decisions.c.id)).mappings().all()
        return [DecisionRecord(id=r["id"], kind=r["kind"], round_id=r["round_id"],
                               summary=r["summary"], payload=r["payload"],
                               created_at=r["created_at"]) for r in rows]

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str | Path | None = None, project_dir: str | Path = ".") -> Store:
    """The store at ``url``, else ``$TUNEBOOK_STORE``, else the project's ``.tunebook/store.db``."""
    default = Path(project_dir) / ".tunebook" / "store.db"
    chosen = url or os.environ.get("TUNEBOOK_STORE") or default
    return Store(chosen)


# -- helpers ----------------------------------------------------------------------------------


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 60000")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _executemany(conn: Connection, dialect: str, sql: str, rows: list[tuple[Any, ...]]) -> None:
    # The driver's executemany skips SQLAlchemy's per-row parameter processing: ~3x faster.
    if dialect != "sqlite":
        sql = sql.replace("?", "%s")
    raw = conn.connection.dbapi_connection
    assert raw is not None
    cur = raw.cursor()
    try:
        cur.executemany(sql, rows)
    finally:
        cur.close()


def _with_history(meta_: dict[str, Any] | None, attempt: int, worker: str | None,
                  reason: str) -> dict[str, Any]:
    """The trial's meta with one more entry in its failure history (kept, never replaced)."""
    out = dict(meta_ or {})
    out["history"] = [*out.get("history", []), {"attempt": attempt, "worker": worker,
                                                "reason": reason, "at": time.time()}]
    return out


def _pk(result: Any) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def group_key(group: dict[str, Any]) -> str:
    """A canonical string for a target group (dict key order does not matter)."""
    return json.dumps(group, sort_keys=True, default=str)


def json_safe(obj: Any) -> Any:
    """Plain JSON: non-finite floats become None (PostgreSQL's JSON has no Infinity/NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if obj is None or isinstance(obj, str | int | bool):
        return obj
    item = getattr(obj, "item", None)  # numpy scalars
    return json_safe(item()) if callable(item) else str(obj)


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _clean(d: dict[str, float]) -> dict[str, float | None]:
    return {k: _finite(v) for k, v in d.items()}


def _round(r: Any) -> RoundRecord:
    return RoundRecord(id=r["id"], name=r["name"], question=r["question"], spec=r["spec"],
                       project=r["project"], kind=r["kind"], created_at=r["created_at"])


def _trial(r: Any) -> TrialRecord:
    return TrialRecord(
        id=r["id"], round_id=r["round_id"], round=r["round_name"], number=r["number"],
        group=r["grp"] or {}, config=r["config"], seed=r["seed"], status=r["status"],
        kind=r["kind"], worker=r["worker"], attempts=r["attempts"], created_at=r["created_at"],
        started_at=r["started_at"], finished_at=r["finished_at"], error=r["error"],
        best_step=r["best_step"], score=r["score"], feasible=r["feasible"],
        best_metrics=r["best_metrics"] or {}, parent_id=r["parent_id"], meta=r["meta"] or {},
    )
