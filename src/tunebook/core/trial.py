"""Trial status, its one transition rule, and the frozen records read from the store."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Generic, Literal, TypeVar

from tunebook.core.decisions import Payload
from tunebook.core.spec import ProjectSpec, RoundSpec

P = TypeVar("P", bound=Payload)

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


# What a trial is for. ``search``: queued by the round's searcher (stage 1 of a short-then-long
# round); ``stage2``/``stage3``: promoted to a longer stage; ``seed``: a seed re-run of a config;
# ``probe``: a stability probe.
TrialKind = Literal["search", "stage2", "stage3", "seed", "probe"]
TRIAL_KINDS: tuple[TrialKind, ...] = ("search", "stage2", "stage3", "seed", "probe")
# What a round is for: ``search`` is filled by its searcher, the others are one-off experiments.
RoundKind = Literal["search", "baseline", "promotion", "stability", "steps", "timing"]
ROUND_KINDS: tuple[RoundKind, ...] = ("search", "baseline", "promotion", "stability", "steps",
                                      "timing")


@dataclass(frozen=True)
class TrialStage:
    """Where a trial sits in a short-then-long round (``rounds.fidelity`` writes it in the
    trial's meta; every reader gets it from here, so nothing below ``rounds`` needs fidelity).

    >>> s = TrialStage.of({"stage": 1, "stages": 2, "fraction": 0.2, "final": False,
    ...               "full": {"max_train_steps": 500}})
    >>> s.is_partial, s.full_config({"max_train_steps": 100, "lr": 0.1})
    (True, {'max_train_steps': 500, 'lr': 0.1})
    >>> TrialStage.of({}).is_partial
    False
    """

    number: int = 1        # 1 for search trials, 2 or 3 for promoted ones
    stages: int = 1        # stages of the round's ladder
    fraction: float = 1.0  # this stage's length / max_train_steps
    final: bool = True     # the full-length stage: scores comparable with unstaged trials
    full: dict[str, Any] = field(default_factory=dict)  # step lengths at full length

    @classmethod
    def of(cls, meta: dict[str, Any]) -> TrialStage:
        if "stage" not in meta:
            return cls()
        return cls(number=int(meta["stage"]), stages=int(meta.get("stages", meta["stage"])),
                   fraction=float(meta.get("fraction", 1.0)),
                   final=meta.get("final") is not False, full=dict(meta.get("full") or {}))

    @property
    def is_partial(self) -> bool:
        """A shorter stage: its score is not comparable with full-length ones."""
        return not self.final

    def full_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """``config`` at full length (a short stage keeps the full step lengths)."""
        return {**config, **self.full}


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
    kind: TrialKind = "search"
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

    @property
    def stage(self) -> TrialStage:
        return TrialStage.of(self.meta)

    @property
    def is_partial(self) -> bool:
        """A trial of a shorter stage: its score is not comparable with full-length ones."""
        return self.stage.is_partial

    @property
    def full_config(self) -> dict[str, Any]:
        """The trial's config at full length (a short stage keeps the full values)."""
        return self.stage.full_config(self.config)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def _repr_html_(self) -> str:  # a notebook shows the trial as a small table
        from tunebook.core.html import fields_html

        return fields_html(f"trial {self.id} ({self.status})", {
            "round": self.round, "number": self.number, "config": self.config,
            "seed": self.seed, "score": self.score, "best step": self.best_step,
            "feasible": self.feasible, "attempts": self.attempts, "error": self.error})


@dataclass(frozen=True)
class RoundRecord:
    """One round as the store holds it, its specs parsed (the store validates them on read)."""

    id: int
    name: str
    question: str
    spec: RoundSpec
    project: ProjectSpec
    kind: RoundKind
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "question": self.question,
                "spec": self.spec.model_dump(mode="json"),
                "project": self.project.model_dump(mode="json"), "kind": self.kind,
                "created_at": self.created_at}

    def _repr_html_(self) -> str:
        from tunebook.core.html import fields_html

        return fields_html(f"round {self.name} ({self.kind})", {
            "question": self.question, "algorithm": self.spec.algorithm,
            "budget": self.spec.budget,
            "params": {k: p.role for k, p in self.spec.params.items()}})


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
class DecisionRecord(Generic[P]):
    """A recorded decision; ``payload`` is the typed model of its kind (core.decisions)."""

    id: int
    kind: str
    round_id: int | None
    summary: str
    payload: P
    created_at: float
