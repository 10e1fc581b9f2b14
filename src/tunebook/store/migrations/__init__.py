"""Versioned upgrades of the store's tables, with Alembic, shipped inside the package.

Each file in ``versions/`` is one Alembic revision named ``NNNN_what.py`` whose ``revision`` is
``"NNNN"`` and whose ``down_revision`` is the file before it: a straight line, so the head is
the highest number and opening a store never has to import Alembic (about 140 ms) to know it.
No ``alembic.ini`` and no ``env.py``: ``upgrade`` drives Alembic's runtime directly.

* A fresh store is created from ``store/schema.py`` and stamped at the head.
* A store written before migrations existed (``info.schema = '1'``, no ``alembic_version``
  table) is at revision ``0001``.
* Opening a store at another revision is refused with one line saying what to run: an older
  store needs ``tunebook store upgrade``; a newer one needs a newer tunebook.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from tunebook.core.errors import SpecError, StoreError
from tunebook.core.redact import redact_text
from tunebook.store.connection import normalize_url, redact, sqlite_setup
from tunebook.store.schema import meta

VERSIONS = Path(__file__).parent / "versions"
LEGACY = "0001"  # the schema of stores written before migrations existed
_LOCK = 7_391_000_417  # PostgreSQL advisory lock key: one upgrade at a time per database


def revisions(folder: Path | None = None) -> list[str]:
    """Every revision id, oldest first (from the file names: ``0001_initial.py`` -> ``0001``)."""
    return sorted(p.name.split("_", 1)[0] for p in (folder or VERSIONS).glob("[0-9]*_*.py"))


def head(folder: Path | None = None) -> str:
    return revisions(folder)[-1]


def current(conn: Connection) -> str | None:
    """The store's revision; None for a database that holds no store yet."""
    names = set(inspect(conn).get_table_names())
    if "alembic_version" in names:
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        if row is not None:
            return str(row[0])
    if "rounds" in names:
        return LEGACY
    return None


def _command(url: str) -> str:
    return f"tunebook store upgrade --store {redact(url)}"


def check(conn: Connection, url: str, folder: Path | None = None) -> None:
    """Create a fresh store at the head, or refuse one at another revision (one line)."""
    rev = current(conn)
    known = revisions(folder)
    if rev is None:
        meta.create_all(conn, checkfirst=True)
        stamp(conn, known[-1], folder)
    elif rev not in known:
        raise StoreError(
            f"store {redact(url)} is at schema revision {rev}, newer than this tunebook "
            f"(which knows up to {known[-1]}): upgrade tunebook (pip install -U tunebook)")
    elif rev != known[-1]:
        raise StoreError(
            f"store {redact(url)} is at schema revision {rev}, this tunebook needs "
            f"{known[-1]}: back it up, then run `{_command(url)}`")


def _script(folder: Path | None) -> Any:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("path_separator", "os")
    where = folder or VERSIONS
    cfg.set_main_option("script_location", str(where.parent))
    cfg.set_main_option("version_locations", str(where))
    return cfg, ScriptDirectory.from_config(cfg)


def stamp(conn: Connection, revision: str, folder: Path | None = None) -> None:
    """Record ``revision`` in Alembic's ``alembic_version`` table without running anything."""
    from alembic.runtime.migration import MigrationContext

    _, script = _script(folder)
    MigrationContext.configure(conn).stamp(script, revision)


@dataclass(frozen=True)
class Upgrade:
    """What ``tunebook store upgrade`` did."""

    store: str
    before: str | None  # None: there was no store, it was created at the head
    after: str
    applied: tuple[str, ...]  # revisions run, oldest first


def _engine(url: str) -> Engine:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, poolclass=NullPool)
        sqlite_setup(engine)  # BEGIN IMMEDIATE: the whole upgrade is one write transaction
        return engine
    if backend == "postgresql":
        return create_engine(url, poolclass=NullPool)
    raise SpecError("--store", "a sqlite:///path or postgresql:// URL", redact(url))


def upgrade(url: str | Path, folder: Path | None = None) -> Upgrade:
    """Bring the store at ``url`` to the head revision in one transaction.

    On PostgreSQL DDL is transactional, so a failed revision leaves the store as it was; on
    SQLite each revision's ``ALTER``s run inside the same ``BEGIN IMMEDIATE`` transaction.
    """
    from alembic.runtime.environment import EnvironmentContext

    full = normalize_url(url)
    engine = _engine(full)
    cfg, script = _script(folder)
    target = head(folder)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(select(text(f"pg_advisory_xact_lock({_LOCK})")))
            before = current(conn)
            if before is None:
                meta.create_all(conn)
                stamp(conn, target, folder)
                return Upgrade(redact(full), None, target, ())
            if before not in revisions(folder):
                check(conn, full, folder)  # raises the "newer than this tunebook" line
            if "alembic_version" not in inspect(conn).get_table_names():
                stamp(conn, before, folder)  # a store from before migrations: mark it 0001
            known = revisions(folder)
            applied = tuple(known[known.index(before) + 1:])

            def steps(rev: Any, _context: Any) -> Any:
                return script._upgrade_revs(target, rev)

            with EnvironmentContext(cfg, script, fn=steps, destination_rev=target) as env:
                env.configure(connection=conn, target_metadata=meta)
                with env.begin_transaction():
                    env.run_migrations()
    except OperationalError as exc:
        raise StoreError(f"store {redact(full)} is unreachable: "
                         f"{redact_text(str(exc.orig).strip().splitlines()[0])}") from None
    finally:
        engine.dispose()
    return Upgrade(redact(full), before, target, applied)
