"""How workers stop: on a signal, when their parent dies, and never later than a stated grace.

The rules (docs/reliability.md states them for users):

- A worker told to stop (SIGTERM; Ctrl-C in a foreground worker; its parent's death) raises a
  flag. The running trial stops at its next ``run.log`` and goes back to the queue at once.
- A trial that does not reach ``run.log`` within ``GRACE_S`` seconds (stuck in I/O, a deadlock,
  a long step) is re-queued by the worker's watchdog thread, and the worker process exits.
- A worker started by ``round run`` dies with its parent: on Linux the kernel sends it SIGTERM
  when the parent dies (``PR_SET_PDEATHSIG``), and the watchdog also checks the parent's pid,
  which covers other systems and a parent that died before the child asked the kernel.
- The parent forwards SIGINT and SIGTERM to its workers as SIGTERM, waits up to ``GRACE_S``
  (plus a second for the worker's own exit), kills what is left, re-queues any trial those
  workers still held, and exits 130 (SIGINT) or 143 (SIGTERM). A second Ctrl-C skips the wait.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tunebook.core.errors import SpecError

GRACE_ENV = "TUNEBOOK_GRACE_S"
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def grace_s() -> float:
    """Seconds a stopped trial has to reach its next ``run.log`` (``$TUNEBOOK_GRACE_S``, 10)."""
    raw = os.environ.get(GRACE_ENV, "10")
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 < value < 86400:  # NaN fails too
        raise SpecError(GRACE_ENV, "a number of seconds in (0, 86400)", raw)
    return value


def die_with_parent(parent_pid: int) -> None:
    """Ask the kernel to send this process SIGTERM when its parent dies (Linux only)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog's pid check still covers it
    if os.getppid() != parent_pid:  # the parent died before we asked: stop now
        os.kill(os.getpid(), signal.SIGTERM)


class Lifeline:
    """A worker's stop flag, the trial it holds, and the watchdog that bounds its shutdown.

    ``stop`` is what ``run.log`` checks; ``signum`` says why it was set (None: not a signal).
    """

    def __init__(self, parent_pid: int | None = None, grace: float | None = None) -> None:
        self.stop = threading.Event()
        self.signum: int | None = None
        self.parent_pid = parent_pid
        self.grace = grace_s() if grace is None else grace
        self._claim: tuple[int, str] | None = None
        self._lock = threading.Lock()

    def hold(self, trial_id: int, token: str) -> None:
        with self._lock:
            self._claim = (trial_id, token)

    def release(self) -> None:
        with self._lock:
            self._claim = None

    def signalled(self, signum: int) -> None:
        if self.signum is None:
            self.signum = signum
        self.stop.set()

    @contextlib.contextmanager
    def signals(self) -> Iterator[None]:
        """SIGTERM (and SIGINT, unless it is ignored) raise the flag while the block runs.

        Only the main thread can install handlers; elsewhere (a Ray task, an MCP tool thread)
        this does nothing and the caller's own signal handling applies.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        wanted = [signal.SIGTERM]
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            wanted.append(signal.SIGINT)
        old = {s: signal.signal(s, lambda n, _f: self.signalled(n)) for s in wanted}
        try:
            yield
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    def watch(self, requeue: Callable[[int, str, str], Any]) -> threading.Thread:
        """Start the watchdog: parent gone -> stop; stopped longer than the grace -> give the
        held trial back with ``requeue(trial_id, token, reason)`` and end the process."""

        def run() -> None:
            since: float | None = None
            while True:
                time.sleep(0.2)
                if self.parent_pid is not None and os.getppid() != self.parent_pid:
                    self.signalled(signal.SIGTERM)
                if not self.stop.is_set():
                    continue
                since = since if since is not None else time.monotonic()
                if time.monotonic() - since < self.grace:
                    continue
                with self._lock:
                    claim = self._claim
                if claim is not None:
                    with contextlib.suppress(Exception):  # the lease re-queues it otherwise
                        requeue(claim[0], claim[1], f"re-queued: the trial did not stop within "
                                                    f"{self.grace:g} s of the stop signal")
                os._exit(128 + (self.signum or signal.SIGTERM))

        thread = threading.Thread(target=run, name="tunebook-watchdog", daemon=True)
        thread.start()
        return thread


class ParentSignals:
    """In the process that started workers: SIGINT and SIGTERM are recorded, not fatal, so the
    parent can forward them and clean up. ``received`` is the first signal, ``count`` all."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.count = 0
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: Any) -> None:
        self.count += 1
        if self.received is None:
            self.received = signum

    def __enter__(self) -> ParentSignals:
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)


def stop_processes(procs: Sequence[Any], grace: float, hurry: Callable[[], bool]) -> list[str]:
    """SIGTERM every live process, wait up to ``grace`` + 1 s (less when ``hurry()``), SIGKILL
    the rest. Returns the names of the processes that had to be killed."""
    for p in procs:
        if p.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace + 1.0
    while any(p.is_alive() for p in procs) and time.monotonic() < deadline and not hurry():
        time.sleep(0.05)
    killed = []
    for p in procs:
        if p.is_alive():
            p.kill()
            killed.append(p.name)
    for p in procs:
        p.join(5)
    return killed
