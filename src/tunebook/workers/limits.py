"""The limits a worker runs under: lease, attempts, and each trial's time limits.

One rule per question: every executor, the CLI and ``tunebook worker`` resolve and check these
here, so a bad value (an argument, a spec field or an environment variable) is one clear error
before any worker starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tunebook.core.env import env_number
from tunebook.core.errors import SpecError
from tunebook.store.clock import MAX_LEASE_S as STORE_MAX_LEASE_S

# A lease shorter than this cannot be renewed in time (the heartbeat beats every lease / 4 and
# one store write can take tens of milliseconds under load): every trial would "die".
MIN_LEASE_S = 0.5
# A longer lease would also be read as a clock that went backwards (see store.base's clock).
MAX_LEASE_S = STORE_MAX_LEASE_S
DEFAULT_LEASE_S = 60.0
DEFAULT_MAX_ATTEMPTS = 3
MAX_TRIAL_LIMIT_S = 30 * 86_400.0


def lease_seconds(value: float | None = None, where: str = "lease_s") -> float:
    """The lease: ``value``, else ``$TUNEBOOK_LEASE_S``, else 60 s; always within bounds."""
    if value is None:
        return env_number("TUNEBOOK_LEASE_S", DEFAULT_LEASE_S, low=MIN_LEASE_S,
                          high=MAX_LEASE_S, unit=" seconds")
    return _seconds(value, where, MIN_LEASE_S, MAX_LEASE_S)


def max_attempts(value: int | None = None, where: str = "max_attempts") -> int:
    """Attempts per trial before a lost lease fails it: ``value``, else the environment, else 3."""
    if value is None:
        return int(env_number("TUNEBOOK_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS, low=1, high=1000,
                              integer=True))
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        raise SpecError(where, "an integer between 1 and 1000", value)
    return value


def _seconds(value: object, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or not low <= value <= high:
        raise SpecError(where, f"a number of seconds between {low:g} and {high:g}", value)
    return float(value)


@dataclass(frozen=True)
class TrialLimits:
    """How long one trial may run, and may go without a ``run.log``; None means no limit.

    Either limit ends the trial as ``failed`` with the limit named in its error.
    """

    trial_timeout_s: float | None = None
    no_progress_timeout_s: float | None = None

    def __post_init__(self) -> None:
        for name in ("trial_timeout_s", "no_progress_timeout_s"):
            value = getattr(self, name)
            if value is not None:
                _seconds(value, name, 0.1, MAX_TRIAL_LIMIT_S)

    def merged(self, other: TrialLimits) -> TrialLimits:
        """``other``'s limits where it sets them, else these (CLI over round over project)."""
        return TrialLimits(
            other.trial_timeout_s if other.trial_timeout_s is not None else self.trial_timeout_s,
            other.no_progress_timeout_s if other.no_progress_timeout_s is not None
            else self.no_progress_timeout_s)

    @property
    def any(self) -> bool:
        return self.trial_timeout_s is not None or self.no_progress_timeout_s is not None

    def exceeded(self, elapsed_s: float, quiet_s: float) -> str | None:
        """Why the trial must stop after ``elapsed_s`` running and ``quiet_s`` since a log."""
        if self.trial_timeout_s is not None and elapsed_s > self.trial_timeout_s:
            return (f"trial time limit: ran {elapsed_s:.1f} s, more than trial_timeout_s = "
                    f"{self.trial_timeout_s:g} s")
        if self.no_progress_timeout_s is not None and quiet_s > self.no_progress_timeout_s:
            return (f"no progress: no run.log for {quiet_s:.1f} s, more than "
                    f"no_progress_timeout_s = {self.no_progress_timeout_s:g} s")
        return None
