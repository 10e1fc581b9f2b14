"""Trial status, its one transition rule, and the frozen records read from the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["queued", "running", "completed", "failed", "diverged", "pruned"]
STATUSES: tuple[Status, ...] = ("queued", "running", "completed", "failed", "diverged", "pruned")
FINISHED: frozenset[str] = frozenset({"completed", "failed", "diverged", "pruned"})

# The only place that says which status may follow which. A running trial goes back to queued
# when its lease expires (worker died) or its worker is told to stop (SIGTERM).
_ALLOWED: dict[str, frozenset[str]] = {
    "queued": frozenset({"running", "pruned"}),
    "running": frozenset({"completed", "failed", "diverged", "pruned", "queued"}),
    "completed": frozenset(),
    "failed": frozenset(),
    "diverged": frozenset(),
    "pruned": frozenset(),
}


def check_transition(old: str, new: str) -> None:
    if new not in _ALLOWED.get(old, frozenset()):
        raise ValueError(f"trial status cannot go from {old!r} to {new!r}")


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the store holds it (immutable; re-read to see changes)."""

    id: int
    round_id: int
    round: str
    number: int
    group: dict[str, Any]
    config: dict[str, Any]
    seed: int
    status: Status
    kind: str = "search"
    worker: str | None = None
    attempts: int = 0
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    best_step: int | None = None
    score: float | None = None
    feasible: bool | None = None
    best_metrics: dict[str, float] = field(default_factory=dict)
    parent_id: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)

    def _repr_html_(self) -> str:  # a notebook shows the trial as a small table
        from tunebook.core.html import fields_html

        return fields_html(f"trial {self.id} ({self.status})", {
            "round": self.round, "number": self.number, "config": self.config,
            "seed": self.seed, "score": self.score, "best step": self.best_step,
            "feasible": self.feasible, "attempts": self.attempts, "error": self.error})


@dataclass(frozen=True)
class RoundRecord:
    id: int
    name: str
    question: str
    spec: dict[str, Any]
    project: dict[str, Any]
    kind: str
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)

    def _repr_html_(self) -> str:
        from tunebook.core.html import fields_html

        params = self.spec.get("params") or {}
        return fields_html(f"round {self.name} ({self.kind})", {
            "question": self.question, "algorithm": self.spec.get("algorithm"),
            "budget": self.spec.get("budget"),
            "params": {k: (p or {}).get("role") for k, p in params.items()}})


@dataclass(frozen=True)
class ArtifactRecord:
    id: int
    trial_id: int | None
    kind: str
    step: int | None
    path: str
    sha256: str
    size: int
    meta: dict[str, Any]


@dataclass(frozen=True)
class DecisionRecord:
    id: int
    kind: str
    round_id: int | None
    summary: str
    payload: dict[str, Any]
    created_at: float
