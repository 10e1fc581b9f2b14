"""Reaching the database: URLs, the SQLite setup, retries through outages, fast bulk inserts."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from tunebook.core.errors import StoreError
from tunebook.core.redact import redact_text
from tunebook.core.redact import redact_url as redact  # the one redaction rule, re-exported

# How long a worker keeps retrying a store that went away (PostgreSQL restart, failover, a
# SQLite lock held past the busy timeout) before giving up.
RETRY_SECONDS = float(os.environ.get("TUNEBOOK_STORE_RETRY_S", "120"))
_F = TypeVar("_F", bound=Callable[..., Any])


def transient(fn: _F) -> _F:
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
                    why = redact_text(str(exc.orig or exc).strip().splitlines()[0])
                    raise StoreError(f"store {url} kept failing for {RETRY_SECONDS:.0f} s: "
                                     f"{why}") from None
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    return wrapper  # type: ignore[return-value]


def normalize_url(url: str | Path) -> str:
    """Accept a plain path (SQLite file) or a URL; use psycopg 3 for PostgreSQL."""
    s = str(url)
    if "://" not in s:
        return f"sqlite:///{Path(s).resolve()}"
    if s.startswith("postgresql://") or s.startswith("postgres://"):
        return "postgresql+psycopg://" + s.split("://", 1)[1]
    return s


def is_network_fs(path: Path) -> str | None:
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


def sqlite_setup(engine: Engine) -> None:
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


def executemany(conn: Connection, dialect: str, sql: str, rows: list[tuple[Any, ...]]) -> None:
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
