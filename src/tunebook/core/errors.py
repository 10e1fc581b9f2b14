"""Errors a user can cause, each naming the field, what was expected and what was got."""

from __future__ import annotations

from typing import Any


class TunebookError(Exception):
    """Base of every error tunebook raises on purpose.

    ``exit_code`` is what the CLI exits with: 2 for a usage or spec error (the default), 1 when
    the work itself failed, 128 + N after signal N.
    """

    exit_code = 2


class SpecError(TunebookError, ValueError):
    """A project, round or argument is wrong.

    The message follows one formula: ``<where>: expected <expected>, got <got>. <hint>``.
    """

    def __init__(self, where: str, expected: str, got: Any, hint: str = "") -> None:
        self.where = where
        self.expected = expected
        self.got = got
        self.hint = hint
        shown = repr(got)
        if len(shown) > 160:  # a 400-digit number or a whole file is not a message
            shown = f"{shown[:100]}... ({len(shown)} characters)"
        text = f"{where}: expected {expected}, got {shown}."
        if hint:
            text += f" {hint}"
        super().__init__(text)


class WorkFailed(TunebookError):
    """The command ran but its work failed: a trial or check failed, or workers died (exit 1)."""

    exit_code = 1


class Interrupted(TunebookError):
    """Stopped by a signal (Ctrl-C, SIGTERM) after running trials went back to the queue."""

    def __init__(self, signum: int, message: str) -> None:
        self.signum = signum
        self.exit_code = 128 + signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM
        super().__init__(message)


class StoreError(TunebookError):
    """The study store cannot be opened or used."""


class StoreFull(StoreError):
    """The disk under the store or the artifacts is full: the work stops (exit code 1)."""

    exit_code = 1


class NotFoundError(TunebookError, LookupError):
    """A round, trial or artifact that the store does not hold."""


class MissingExtraError(TunebookError, ImportError):
    """An optional dependency is needed; the message names the extra to install."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"this feature needs the '{module}' package: pip install 'tunebook[{extra}]'"
        )


class TrialDiverged(TunebookError):
    """Raised inside the user's loop by ``run.log`` when a value is not finite."""


class ScoreError(TunebookError, ArithmeticError):
    """The score formula gave no real number (a complex root, an overflow) for logged values."""


class TrialTimedOut(BaseException):
    """Raised in the training loop when the trial ran past its time or no-progress limit.

    A BaseException so that a user's ``except Exception`` cannot swallow it.
    """


class TrialPruned(TunebookError):
    """Raised inside the user's loop when the round stops a hopeless trial early."""


class TrialFailed(TunebookError):
    """A trial failed for a reason its message states in full (a command's exit status and
    stderr): recorded as the reason, without a traceback of tunebook's own frames."""


class LeaseLost(TunebookError):
    """The trial's lease expired and another worker may own it; this worker's result is dropped."""


class WorkerStopped(BaseException):
    """The worker was told to stop (SIGTERM): the running trial goes back to the queue.

    A BaseException so that a user's ``except Exception`` in the training loop cannot swallow it.
    """
