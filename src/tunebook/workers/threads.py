"""How many CPU threads a trial's training gets: one rule for every command that trains.

Measured on 2 cores: two trials with one torch thread each beat one trial with two by 22-29%,
and oversubscribing loses 34-81%. So, in this order: an explicit ``threads`` (``--threads``);
else ``OMP_NUM_THREADS`` as the user set it; else the cores divided by the trials that run at
the same time, never below one.
"""

from __future__ import annotations

import os
import sys

from tunebook.core.errors import SpecError

_ours: str | None = None  # the value set_threads last wrote, so it is never mistaken for the user's
_theirs: str | None = os.environ.get("OMP_NUM_THREADS")


def user_threads() -> int | None:
    """``OMP_NUM_THREADS`` as the user set it (not as a previous trial in this process did)."""
    value = os.environ.get("OMP_NUM_THREADS")
    if value is not None and value == _ours:
        value = _theirs
    if value is None or value == "":
        return None
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise SpecError("OMP_NUM_THREADS", "an int >= 1", value)
    return n


def per_trial(concurrent: int, threads: int | None = None) -> int:
    """Threads for each of ``concurrent`` trials on this machine (the rule above)."""
    if threads is not None:
        if threads < 1:
            raise SpecError("threads", "an int >= 1", threads)
        return threads
    return user_threads() or max(1, (os.cpu_count() or 1) // max(concurrent, 1))


def set_threads(threads: int | None) -> None:
    """Give this process ``threads`` threads: torch if imported, and through the environment
    every library imported later (torch, NumPy's BLAS) and every command a trial starts.

    Importing torch here would cost non-torch projects a second per worker.
    """
    global _ours, _theirs
    if not threads:
        return
    current = os.environ.get("OMP_NUM_THREADS")
    if current != _ours:
        _theirs = current
    os.environ["OMP_NUM_THREADS"] = _ours = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def request(threads: int | None) -> None:
    """``--threads`` of a command: from now on, as if the user had set ``OMP_NUM_THREADS``."""
    global _ours, _theirs
    if threads is None:
        return
    if threads < 1:
        raise SpecError("--threads", "an int >= 1", threads)
    os.environ["OMP_NUM_THREADS"] = _theirs = str(threads)
    _ours = None
