"""Reaching the database: URLs, the SQLite setup, retries through outages, fast bulk inserts."""

from __future__ import annotations

import errno
import functools
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DatabaseError, InterfaceError, OperationalError

from tunebook.core.env import env_number
from tunebook.core.errors import StoreError, StoreFull
from tunebook.core.redact import redact_text
from tunebook.core.redact import redact_url as redact  # the one redaction rule, re-exported

_F = TypeVar("_F", bound=Callable[..., Any])


def retry_seconds() -> float:
    """How long a worker keeps retrying a store that went away (PostgreSQL restart, failover, a
    SQLite lock held past the busy timeout) before giving up: ``$TUNEBOOK_STORE_RETRY_S``."""
    return env_number("TUNEBOOK_STORE_RETRY_S", 120.0, low=0, high=86_400, unit=" seconds")


def first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return redact_text((str(orig).strip().splitlines() or [type(orig).__name__])[0])


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a full disk or quota: retrying cannot help."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        orig = getattr(cur, "orig", None)
        text = str(orig if orig is not None else cur).lower()
        if "database or disk is full" in text or "no space left on device" in text \
                or "could not extend file" in text or "disk full" in text:
            return True
        cur = orig if isinstance(orig, BaseException) else (cur.__cause__ or cur.__context__)
    return False


def read_only(exc: BaseException) -> bool:
    text = first_line(exc).lower()
    return "readonly database" in text or "read-only file system" in text


def damaged(exc: BaseException) -> bool:
    """A SQLite file that is not (or no longer) a whole database: never worth a retry."""
    orig = getattr(exc, "orig", None) or exc
    if not isinstance(orig, sqlite3.DatabaseError) or isinstance(orig, sqlite3.OperationalError):
        return False
    text = str(orig).lower()
    return "malformed" in text or "not a database" in text or "disk i/o" in text \
        or "corrupt" in text


def store_failure(url: str, exc: BaseException) -> StoreError | None:
    """The one-line error for a failure no retry can fix, or None when it may be transient."""
    where = redact(url)
    if disk_full(exc):
        return StoreFull(f"the disk under the store {where} is full: {first_line(exc)}. "
                         "Free some space, then run the round again: it resumes.")
    if read_only(exc):
        return StoreError(f"the store {where} is read-only: {first_line(exc)}")
    if damaged(exc):
        return StoreError(f"the store {where} is damaged: {first_line(exc)}. Restore it from a "
                          "backup (its rounds cannot be read safely).")
    return None


def transient(fn: _F) -> _F:
    """Retry ``fn`` on connection-level errors, with backoff, for up to ``retry_seconds()``.

    Every wrapped method is one transaction, so a retry either redoes it or finds it done;
    the claim token and the per-group budget check keep a redone write from counting twice.
    A full disk, a read-only or damaged store is no outage: it fails at once, in one line.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        retry = retry_seconds()
        deadline = time.monotonic() + retry
        delay = 0.1
        url = str(getattr(args[0], "url", "the store")) if args else "the store"
        while True:
            try:
                return fn(*args, **kwargs)
            except (OperationalError, InterfaceError, DatabaseError) as exc:
                fatal = store_failure(url, exc)
                if fatal is not None:
                    raise fatal from None
                if not isinstance(exc, OperationalError | InterfaceError):
                    raise
                if time.monotonic() + delay > deadline:
                    raise StoreError(f"store {redact(url)} kept failing for {retry:.0f} s: "
                                     f"{first_line(exc)}") from None
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
            except OSError as exc:
                if disk_full(exc):
                    raise store_failure(url, exc) or exc from None
                raise

    return wrapper  # type: ignore[return-value]


def parse_store_url(url: str | Path) -> tuple[str, str, Any]:
    """(normalized URL, dialect, parsed URL); a URL that does not parse is a SpecError whose
    message never shows the password."""
    from tunebook.core.errors import SpecError

    norm = normalize_url(url)
    try:
        parsed = make_url(norm)
        port = parsed.port  # a non-numeric port fails here, not at the first connection
        if port is not None and not 1 <= port <= 65535:
            raise ValueError(f"port {port} is not between 1 and 65535")
        dialect = parsed.get_backend_name()
    except (ValueError, TypeError, AttributeError) as exc:
        # Everything up to the last '@' may be a password (even a malformed one): never shown,
        # nor the parser's message, which quotes pieces of the URL.
        shown = re.sub(r"//.*@", "//***@", str(url))
        port = "port" in str(exc) or "int()" in str(exc)
        raise SpecError("store", "a URL like postgresql://user@host:5432/db or a SQLite "
                        "file path", shown,
                        "It does not parse: " + ("the port must be a number from 1 to 65535."
                                                 if port else "check its parts; special "
                                                 "characters in the user or password must be "
                                                 "percent-encoded.")) from None
    return norm, dialect, parsed


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


def sqlite_setup(engine: Engine, clock: Callable[[], float] | None = None) -> None:
    """WAL, the busy timeout, our own BEGINs, and ``tunebook_clock()`` (see store/clock.py)."""
    if clock is None:
        from tunebook.store.clock import lease_clock

        clock = lease_clock("sqlite")[1]

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        dbapi_conn.create_function("tunebook_clock", 0, clock)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 60000")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # Writes take the write lock up front (a deferred transaction that upgrades fails at
        # once instead of waiting). Reads, marked by StoreBase.reading(), start deferred: in WAL
        # mode they read a snapshot and never block a writer, however long they last.
        if conn.get_execution_options().get("tunebook_read"):
            conn.exec_driver_sql("BEGIN")
        else:
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
