"""Which checkpoints a trial keeps: the N best by score and the latest (the project's setting).

``tunebook.yaml``'s ``checkpoints: {keep_best: 2, keep_latest: true}`` applies to every trial
when it finishes, whether ``train()`` saved through the kit (``tk.Checkpoints``, which prunes as
it goes) or through the plain ``run.save_checkpoint``. A checkpoint's score is the one the kit
recorded with it, else the project's score of the metrics logged at its step. ``tunebook gc``
(:mod:`tunebook.experiments.cleanup`) applies the same ranking to finished rounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tunebook.core.score import Scorer
from tunebook.core.trial import ArtifactRecord
from tunebook.store import Store
from tunebook.store.files import ArtifactRoot


@dataclass(frozen=True)
class Dropped:
    """One checkpoint removed (or, in a dry run, that would be)."""

    artifact_id: int
    trial_id: int | None
    step: int | None
    path: str
    size: int


def ranked_checkpoints(arts: Sequence[ArtifactRecord], scorer: Scorer | None,
                       curve: Mapping[int, Mapping[str, float]]) -> list[ArtifactRecord]:
    """Scored checkpoints, best first (feasible first, better score, earlier step)."""
    scored: list[tuple[bool, float, int, ArtifactRecord]] = []
    for a in arts:
        value, feasible = _score(a, scorer, curve)
        if value is None:
            continue
        goal = scorer.goal if scorer is not None else "max"
        scored.append((not feasible, -value if goal == "max" else value, a.step or 0, a))
    scored.sort(key=lambda x: x[:3])
    return [x[3] for x in scored]


def doomed(arts: Sequence[ArtifactRecord], scorer: Scorer | None,
           curve: Mapping[int, Mapping[str, float]], keep_best: int,
           keep_latest: bool) -> list[ArtifactRecord]:
    """The checkpoints beyond the ``keep_best`` best and (if asked) the latest."""
    if not arts:
        return []
    keep = {a.id for a in ranked_checkpoints(arts, scorer, curve)[:keep_best]}
    if keep_latest:
        keep.add(max(arts, key=lambda a: (a.step or 0, a.id)).id)
    return [a for a in arts if a.id not in keep]


def drop(store: Store, root: ArtifactRoot, arts: Sequence[ArtifactRecord],
         dry_run: bool = False) -> list[Dropped]:
    """Remove checkpoints: the store row first, then the file (a crash between the two leaves an
    orphan file, never a row pointing at nothing)."""
    out: list[Dropped] = []
    for a in arts:
        if not dry_run:
            store.remove_artifact(a.id)
            root.resolve(a.path).unlink(missing_ok=True)
        out.append(Dropped(a.id, a.trial_id, a.step, a.path, a.size))
    return out


def retain(store: Store, root: ArtifactRoot, trial_id: int, scorer: Scorer | None,
           keep_best: int, keep_latest: bool, dry_run: bool = False) -> list[Dropped]:
    """Apply the retention rule to one trial's checkpoints."""
    arts = store.artifacts(trial_id, "checkpoint")
    if len(arts) <= keep_best:
        return []
    curve = store.curve(trial_id) if scorer is not None else {}
    return drop(store, root, doomed(arts, scorer, curve, keep_best, keep_latest), dry_run)


def _score(a: ArtifactRecord, scorer: Scorer | None,
           curve: Mapping[int, Mapping[str, float]]) -> tuple[float | None, bool]:
    raw = a.meta.get("score")
    if isinstance(raw, int | float) and math.isfinite(raw):
        return float(raw), bool(a.meta.get("feasible", True))
    if scorer is None or a.step is None:
        return None, False
    values = curve.get(a.step) or {}
    if any(k not in values for k in scorer.needs):
        return None, False
    value, feasible = scorer.evaluate(values)
    return (value, feasible) if math.isfinite(value) else (None, False)
