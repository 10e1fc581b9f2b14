"""A trial's watchdog: ends a trial that runs past its time limit or stops logging.

Three steps, each only if the one before did not end the trial:

1. ``run.stop_reason`` is set, so the trial's next ``run.log`` raises ``TrialTimedOut``.
2. When ``train()`` runs on the main thread, SIGALRM interrupts it there (a ``time.sleep``, a
   blocking read or a pure-Python loop that never logs), raising ``TrialTimedOut`` in it.
3. After a grace period the watchdog records the trial as failed itself (with the attempt's
   claim token, so it cannot overwrite another attempt) and, in a worker process, ends the
   process with ``EXIT_STUCK``; the parent starts a replacement. A trial stuck in C code under
   the inline executor is recorded as failed, but its thread cannot be killed: the round waits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from tunebook.core.errors import TrialTimedOut
from tunebook.workers.limits import TrialLimits
from tunebook.workers.run import Run

# The exit code of a worker process that the watchdog ended because train() would not stop.
EXIT_STUCK = 75
GRACE_S = 5.0


class Watchdog:
    """Watches one ``Run`` against ``limits`` from a daemon thread."""

    def __init__(self, run: Run, limits: TrialLimits, *, hard_exit: bool,
                 grace_s: float = GRACE_S) -> None:
        self.run, self.limits, self.hard_exit = run, limits, hard_exit
        # A short limit gets a short grace (at least 1 s): tests and tight budgets stay quick.
        shortest = min([x for x in (limits.trial_timeout_s, limits.no_progress_timeout_s)
                        if x is not None], default=grace_s)
        self.grace_s = min(grace_s, max(1.0, shortest))
        self.main = threading.current_thread() is threading.main_thread()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Watchdog:
        if self.limits.any:
            self._thread = threading.Thread(target=self._watch, daemon=True,
                                            name=f"tunebook-watchdog-{self.run.trial.id}")
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _interval(self) -> float:
        limits = [x for x in (self.limits.trial_timeout_s, self.limits.no_progress_timeout_s)
                  if x is not None]
        return min(1.0, max(0.02, min(limits) / 10))

    def _watch(self) -> None:
        run = self.run
        while not self._done.wait(self._interval()):
            now = time.monotonic()
            reason = self.limits.exceeded(now - run.started, now - run.last_log)
            if reason is not None:
                break
        else:
            return
        run.stop_reason = reason
        if self.main:
            with contextlib.suppress(Exception):
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGALRM)
        if self._done.wait(self.grace_s):
            return  # train() stopped: run_trial records the failure
        stuck = f"{reason}; train() did not stop within {self.grace_s:g} s and was abandoned"
        with contextlib.suppress(Exception):
            run.store.finish(run.trial.id, run.token, "failed", error=stuck)
        if self.hard_exit:
            print(f"tunebook worker: trial {run.trial.id}: {stuck}; replacing this worker",
                  file=sys.stderr, flush=True)
            os._exit(EXIT_STUCK)


@contextlib.contextmanager
def alarm_raises(run: Run) -> Iterator[None]:
    """While ``train()`` runs on the main thread, SIGALRM from the watchdog raises there."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(_signum: int, _frame: Any) -> None:
        if run.stop_reason is not None:
            raise TrialTimedOut(run.stop_reason)

    old = signal.signal(signal.SIGALRM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def interrupts_seen() -> Iterator[threading.Event]:
    """An event set when a real SIGINT (Ctrl-C) arrives while the block runs.

    A ``KeyboardInterrupt`` that ``train()`` raises itself fails that trial; one that comes from
    Ctrl-C stops the worker. Only the handler can tell them apart, so it is wrapped here (and
    chained to whatever handler was installed before).
    """
    seen = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return
    old = signal.getsignal(signal.SIGINT)
    if old in (signal.SIG_IGN, None):  # a worker process: Ctrl-C reaches it as SIGTERM
        yield seen
        return

    def _on_int(signum: int, frame: Any) -> None:
        seen.set()
        if callable(old):
            old(signum, frame)
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, _on_int)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, old)
