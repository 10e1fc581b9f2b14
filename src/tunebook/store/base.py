"""The store's core: opening the schema, the database clock, rounds, reading trials."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    Select,
    Table,
    Text,
    and_,
    bindparam,
    cast,
    create_engine,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.exc import DatabaseError, IntegrityError, OperationalError, ProgrammingError

from tunebook.core.errors import NotFoundError, SpecError, StoreError
from tunebook.core.jsonable import to_jsonable
from tunebook.core.spec import ProjectSpec, RoundSpec
from tunebook.core.trial import ROUND_KINDS, RoundKind, RoundRecord, TrialRecord
from tunebook.store import migrations
from tunebook.store.clock import MAX_LEASE_S, lease_clock
from tunebook.store.connection import (
    first_line,
    is_network_fs,
    parse_store_url,
    redact,
    sqlite_setup,
    store_failure,
    transient,
)
from tunebook.store.health import check_sqlite_file
from tunebook.store.rows import group_key, pk, round_record, trial_record
from tunebook.store.schema import info, rounds, trials


class StoreBase:
    """The connection, the hot-path statements, the clock, rounds and trial reads."""

    def __init__(self, url: str | Path) -> None:
        self.url, self.dialect, parsed = parse_store_url(url)
        # The clock leases are judged by (see store/clock.py); `clock` is the value function
        # SQLite calls, swappable so a test can step one store's clock.
        self.clock_name, self.clock = lease_clock(self.dialect)
        if self.dialect == "sqlite":
            db = parsed.database
            if not db or db == ":memory:":
                raise SpecError("store", "a SQLite file path or a postgresql:// URL",
                                redact(self.url),
                                "An in-memory SQLite store cannot be shared by worker processes.")
            path = Path(db)
            self._check_writable(path)
            fs = is_network_fs(path.parent)
            if fs:
                raise SpecError("store", "a SQLite file on a local disk", f"{path} on {fs}",
                                "SQLite's locks are unreliable on network filesystems; "
                                "use a postgresql:// store for several hosts.")
            check_sqlite_file(path)
            self.engine: Engine = create_engine(self.url, pool_size=8, max_overflow=32,
                                                pool_timeout=120)
            sqlite_setup(self.engine, lambda: self.clock())
        elif self.dialect == "postgresql":
            self.engine = create_engine(self.url, pool_pre_ping=True, pool_size=4,
                                        max_overflow=8)
        else:
            raise SpecError("store", "a sqlite:/// or postgresql:// URL", redact(self.url))
        # Reads run on this view of the engine: on SQLite their transactions start deferred
        # (a WAL snapshot that never blocks a writer); writes take the lock up front.
        self._reader = self.engine.execution_options(tunebook_read=True)
        self._sql = self._statements()
        for attempt in (1, 2):
            try:
                with self.engine.begin() as conn:
                    migrations.check(conn, self.url)
                    if self.dialect == "sqlite":
                        self._adopt_clock(conn)
                break
            except (IntegrityError, ProgrammingError):
                if attempt == 2:  # another process created the schema at the same moment
                    raise
            except (OperationalError, DatabaseError, OSError) as exc:
                fatal = store_failure(self.url, exc)
                if fatal is not None:
                    raise fatal from None
                raise StoreError(f"store {redact(self.url)} is unreachable: "
                                 f"{first_line(exc)}") from None

    @staticmethod
    def _check_writable(path: Path) -> None:
        """A SQLite store needs its folder writable (WAL and lock files live beside it)."""
        folder = path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"the store folder {folder} cannot be created: "
                             f"{exc.strerror or exc}"
                             + (" (read-only)" if exc.errno in (13, 30) else "")) from None
        if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise StoreError(f"the store {path} is read-only: its folder or file cannot be "
                             "written, and every command records something. Use a writable "
                             "copy, or --store elsewhere.")

    def _adopt_clock(self, conn: Connection) -> None:
        """After a reboot the host's monotonic clock starts again near 0: leases written by the
        previous boot are void, so they are expired (and reaped) rather than trusted."""
        row = conn.execute(select(info.c.value).where(info.c.key == "lease_clock")).first()
        if row is not None and row.value == self.clock_name:
            return
        conn.execute(update(trials).where(and_(trials.c.status == "running",
                                               trials.c.lease_until.is_not(None)))
                     .values(lease_until=-1.0))
        if row is None:
            conn.execute(info.insert().values(key="lease_clock", value=self.clock_name))
        else:
            conn.execute(update(info).where(info.c.key == "lease_clock")
                         .values(value=self.clock_name))

    def reading(self) -> Any:
        """A connection for reads only (a deferred transaction on SQLite; see ``_reader``)."""
        return self._reader.connect()

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
            return literal_column("tunebook_clock()", Float)
        return literal_column("extract(epoch from clock_timestamp())", Float)

    def db_now(self) -> float:
        """The clock leases are judged by, in seconds (see store/clock.py)."""
        with self.reading() as conn:
            return float(conn.execute(select(self._now_sql())).scalar_one())

    def lease_expired(self) -> Any:
        """A running trial's lease is over, or lies further ahead than any lease can (its clock
        was reset: a reboot on a platform without a boot id)."""
        now = self._now_sql()
        return or_(trials.c.lease_until < now, trials.c.lease_until > now + MAX_LEASE_S)

    # -- rounds -------------------------------------------------------------------------------

    @transient
    def create_round(self, spec: RoundSpec, project: ProjectSpec,
                     kind: RoundKind = "search") -> RoundRecord:
        """Record a round with its resolved specs (read back parsed, as ``RoundRecord``)."""
        if kind not in ROUND_KINDS:  # refused on write, so a read never meets an unknown kind
            raise SpecError("round kind", f"one of {list(ROUND_KINDS)}", kind)
        name = spec.name
        with self.engine.begin() as conn:
            if conn.execute(select(rounds.c.id).where(rounds.c.name == name)).first():
                raise SpecError("round.name", "a name not used in this store", name,
                                "Pick another name, or run the existing round.")
            rid = pk(conn.execute(rounds.insert().values(
                name=name, question=spec.question, kind=kind,
                spec=to_jsonable(spec.model_dump(mode="json")),
                project=to_jsonable(project.model_dump(mode="json")),
                created_at=time.time())))
        return self.round(rid)

    @transient
    def round(self, key: str | int) -> RoundRecord:
        col = rounds.c.id if isinstance(key, int) else rounds.c.name
        with self.reading() as conn:
            row = conn.execute(select(rounds).where(col == key)).mappings().first()
        if row is None:
            names = [r.name for r in self.rounds()]
            import difflib

            near = difflib.get_close_matches(str(key), names, n=1)
            hint = f" Did you mean '{near[0]}'?" if near else ""
            raise NotFoundError(f"round {key!r} is not in the store (rounds: {names}).{hint}")
        return round_record(row)

    @transient
    def rounds(self) -> list[RoundRecord]:
        with self.reading() as conn:
            rows = conn.execute(select(rounds).order_by(rounds.c.id)).mappings().all()
        return [round_record(r) for r in rows]

    @transient
    def trial(self, trial_id: int) -> TrialRecord:
        if not -(2**63) <= trial_id < 2**63:  # beyond the store's integers: surely not there
            raise NotFoundError(f"trial {trial_id} is not in the store")
        with self.reading() as conn:
            row = conn.execute(select(trials, rounds.c.name.label("round_name")).join(
                rounds, rounds.c.id == trials.c.round_id).where(trials.c.id == trial_id)
            ).mappings().first()
        if row is None:
            raise NotFoundError(f"trial {trial_id} is not in the store")
        return trial_record(row)

    @transient
    def trials(self, round_id: int | None = None, status: str | None = None,
               kind: str | None = None) -> list[TrialRecord]:
        q = select(trials, rounds.c.name.label("round_name")).join(
            rounds, rounds.c.id == trials.c.round_id)
        rows = self._rows(q, trials, round_id=round_id, status=status, kind=kind)
        return [trial_record(r) for r in rows]

    def _rows(self, q: Select[Any], table: Table, **equal: Any) -> Sequence[RowMapping]:
        """``q`` narrowed to the rows whose columns equal the given non-None values, by id."""
        for column, value in equal.items():
            if value is not None:
                q = q.where(table.c[column] == value)
        with self.reading() as conn:
            return conn.execute(q.order_by(table.c.id)).mappings().all()

    @transient
    def counts(self, round_id: int) -> dict[str, int]:
        with self.reading() as conn:
            rows = conn.execute(select(trials.c.status, func.count()).where(
                trials.c.round_id == round_id).group_by(trials.c.status)).all()
        return {str(s): int(n) for s, n in rows}

    @transient
    def group_counts(self, round_id: int, kind: str = "search") -> dict[str, int]:
        """``{group_key(group): number of the round's trials of kind}``, from one aggregate.

        A worker asks this instead of reading the round's trials to learn whether a target
        group still has budget left to queue.
        """
        with self.reading() as conn:
            return self._group_counts(conn, round_id, kind)

    def _group_counts(self, conn: Connection, round_id: int, kind: str,
                      per_parent: bool = False) -> dict[str, int]:
        """``{group key (+ "#parent" with per_parent): trials of kind}`` from one aggregate."""
        grp = cast(trials.c.grp, Text)  # PostgreSQL's json has no equality to group by
        cols = [grp, trials.c.parent_id] if per_parent else [grp]
        out: dict[str, int] = {}
        for *text_parent, n in conn.execute(
                select(*cols, func.count()).where(and_(
                    trials.c.round_id == round_id, trials.c.kind == kind)).group_by(*cols)):
            text, parent_id = text_parent[0], (text_parent[1] if per_parent else None)
            # One group may be stored as differently ordered JSON texts: sum by the key.
            key = group_key(json.loads(text) or {}) + (f"#{parent_id}" if per_parent else "")
            out[key] = out.get(key, 0) + int(n)
        return out

    @transient
    def mark(self, round_id: int) -> str:
        """A fingerprint of a round's trial states, from one aggregate query.

        It changes whenever a trial is queued, claimed, finished or re-queued, so a reader that
        polls (the dashboard) can skip re-reading every trial while nothing happened.
        """
        with self.engine.connect() as conn:
            rows = conn.execute(select(
                trials.c.status, func.count(), func.max(trials.c.started_at),
                func.max(trials.c.finished_at), func.sum(trials.c.attempts)).where(
                trials.c.round_id == round_id).group_by(trials.c.status).order_by(
                trials.c.status)).all()
        return ";".join(f"{s}:{n}:{a}:{b}:{k}" for s, n, a, b, k in rows)

    def close(self) -> None:
        self.engine.dispose()
