"""A round read once for export: its specs, trials, curves and checkpoint paths."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tunebook.core.score import Scorer
from tunebook.core.spec import ProjectSpec, RoundSpec
from tunebook.core.trial import RoundRecord, TrialRecord
from tunebook.store import Store

Curve = dict[int, dict[str, float]]


@dataclass(frozen=True)
class RoundDump:
    """Everything an exporter needs, read through the store's public API in one go."""

    record: RoundRecord
    project: ProjectSpec
    spec: RoundSpec
    trials: tuple[TrialRecord, ...]
    curves: dict[int, Curve]  # trial id -> step -> metric -> value
    checkpoints: dict[int, tuple[str, ...]]  # trial id -> artifact paths (relative to the root)

    @property
    def scorer(self) -> Scorer:
        return self.project.scorer()

    @property
    def roles(self) -> dict[str, str]:
        return {name: p.role for name, p in self.spec.params.items()}

    def score_curve(self, trial_id: int) -> dict[int, float]:
        """The score at each eval step of a trial (steps missing a needed metric are skipped)."""
        scorer = self.scorer
        out: dict[int, float] = {}
        for step, values in sorted(self.curves.get(trial_id, {}).items()):
            if all(k in values for k in scorer.needs):
                score, _ = scorer.evaluate(values)
                if math.isfinite(score):
                    out[step] = score
        return out


@dataclass(frozen=True)
class Exported:
    """What an export wrote, and where."""

    round: str
    to: str  # optuna | mlflow | tensorboard
    where: str  # storage URL (password hidden), tracking URI or folder
    name: str  # study / experiment name, or the folder
    trials: int
    skipped: tuple[str, ...] = ()  # one line per trial not exported, saying why


def read_round(store: Store, name: str) -> RoundDump:
    record = store.round(name)
    project, spec = record.project, record.spec
    trials = tuple(store.trials(record.id))
    curves = store.curves([t.id for t in trials])
    checkpoints: dict[int, list[str]] = {}
    for art in store.artifacts(kind="checkpoint"):
        if art.trial_id is not None:
            checkpoints.setdefault(art.trial_id, []).append(art.path)
    return RoundDump(record, project, spec, trials, curves,
                     {t.id: tuple(checkpoints.get(t.id, ())) for t in trials})


def plain(value: Any) -> Any:
    """A config value as the peers take it: bool/int/float/str; anything else as its text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
