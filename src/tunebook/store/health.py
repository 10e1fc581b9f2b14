"""Is a SQLite file a whole database? Checked once per file state per process, on open.

Random page damage is otherwise read silently (a wrong number in a curve) and a truncated file
fails later with a traceback from deep inside a query.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tunebook.core.errors import StoreError

_HEADER = b"SQLite format 3\x00"
# Files up to this size get SQLite's full `PRAGMA quick_check` (about 0.1 s per 100 MB, read
# once); larger ones the cheap checks only: header and size against the page count.
FULL_CHECK_BYTES = 256 * 2**20
_checked: set[tuple[str, int, int]] = set()


def check_sqlite_file(path: Path) -> None:
    """Raise ``StoreError("the store ... is damaged: ...")`` when ``path`` is not whole."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return  # a new store
    except OSError as exc:
        raise StoreError(f"the store {path} cannot be read: {exc.strerror or exc}") from None
    if st.st_size == 0:
        return  # created but never written: SQLite makes it a database on first write
    state = (str(path), st.st_size, st.st_mtime_ns)
    if state in _checked:
        return
    problem = _problem(path, st.st_size)
    if problem is not None:
        raise StoreError(f"the store {path} is damaged: {problem}. Restore it from a backup; "
                         "tunebook will not read a damaged store.")
    _checked.add(state)


def _problem(path: Path, size: int) -> str | None:
    with open(path, "rb") as fh:
        head = fh.read(100)
    if len(head) < 100 or not head.startswith(_HEADER):
        return "it is not a SQLite database (wrong header)"
    page = int.from_bytes(head[16:18], "big")
    page = 65536 if page == 1 else page
    pages = int.from_bytes(head[28:32], "big")
    wal = path.with_name(path.name + "-wal")
    # The header's page count is exact once the WAL is checkpointed; with a WAL beside the file
    # it may lag, so only a file shorter than its header says is surely truncated.
    if pages and size < pages * page and not (wal.exists() and wal.stat().st_size):
        return f"it is truncated ({size:,} bytes, its header says {pages * page:,})"
    if size % page:
        return f"its size ({size:,} bytes) is not a whole number of {page}-byte pages"
    if size > FULL_CHECK_BYTES:
        return None
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
        try:
            rows = con.execute("PRAGMA quick_check(5)").fetchall()
        finally:
            con.close()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return None  # a writer holds it right now; the queries themselves will tell
        return str(exc)
    except sqlite3.DatabaseError as exc:
        return str(exc)
    found = [str(r[0]) for r in rows]
    return None if found == ["ok"] else "; ".join(found)[:300]
