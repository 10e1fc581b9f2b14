"""Errors a user can cause, each naming the field, what was expected and what was got."""

from __future__ import annotations

from typing import Any


class TunebookError(Exception):
    """Base of every error tunebook raises on purpose."""


class SpecError(TunebookError, ValueError):
    """A project, round or argument is wrong.

    The message follows one formula: ``<where>: expected <expected>, got <got>. <hint>``.
    """

    def __init__(self, where: str, expected: str, got: Any, hint: str = "") -> None:
        self.where = where
        self.expected = expected
        self.got = got
        self.hint = hint
        text = f"{where}: expected {expected}, got {got!r}."
        if hint:
            text += f" {hint}"
        super().__init__(text)


class StoreError(TunebookError):
    """The study store cannot be opened or used."""


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
