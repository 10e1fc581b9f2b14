"""Public home of the errors a user can cause (defined in tunebook.core.errors)."""

from tunebook.core.errors import (
    LeaseLost,
    MissingExtraError,
    NotFoundError,
    SpecError,
    StoreError,
    TrialDiverged,
    TrialPruned,
    TunebookError,
    WorkerStopped,
)

__all__ = [
    "LeaseLost",
    "MissingExtraError",
    "NotFoundError",
    "SpecError",
    "StoreError",
    "TrialDiverged",
    "TrialPruned",
    "TunebookError",
    "WorkerStopped",
]
