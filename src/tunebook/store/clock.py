"""The one clock that leases are judged by.

A lease is ``lease_until = now + lease_s``, written by the worker that holds the trial, and a
reaper re-queues the trial once ``lease_until < now``. Both ``now``s must come from one clock,
or a clock step on either side expires live leases (or keeps dead ones forever).

- PostgreSQL: the server's clock (``clock_timestamp()``), one for every host.
- SQLite: every process sits on one host (network filesystems are refused), so the host's
  monotonic clock (``CLOCK_MONOTONIC``: shared by every process, never stepped by NTP, an admin
  or a VM resume) serves every process. It restarts at boot, so the store records which boot
  its leases belong to (``info.lease_clock``); on another boot they are expired at open.
  Without a boot id (not Linux) the wall clock serves, as it did before.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

# No lease may be longer; a lease further ahead than this belongs to a clock that was reset.
MAX_LEASE_S = 86_400.0


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def lease_clock(dialect: str) -> tuple[str, Callable[[], float]]:
    """(the clock's name, the function SQLite calls for ``now``) for a store of ``dialect``."""
    if dialect != "sqlite":
        return "server", time.time  # unused: PostgreSQL reads its own clock in SQL
    boot = _boot_id()
    if boot is None:
        return "wall", time.time
    return f"monotonic:{boot}", time.monotonic
