"""``tunebook gc``: free checkpoint space from finished rounds.

A finished trial never resumes, so its latest checkpoint serves nothing unless it is also one of
its best. In every round whose trials have all finished, each trial keeps its ``keep_best`` best
checkpoints (the project's ``checkpoints.keep_best`` unless told otherwise) and nothing else;
checkpoint files that no store row points at (a crash between the row and the file, a set-aside
``*.corrupt-*`` file) are removed too. Never touched: the current baseline's trial, every
promoted candidate and its seed re-runs, and any trial whose config is the current baseline's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tunebook.core.decisions import PromotionPayload
from tunebook.core.errors import SpecError
from tunebook.core.spec import ProjectSpec
from tunebook.core.trial import FINISHED
from tunebook.experiments.baseline import current_baseline
from tunebook.store import Store
from tunebook.workers.execute import artifact_root
from tunebook.workers.retention import Dropped, retain


@dataclass(frozen=True)
class Collected:
    """What ``tunebook gc`` removed (or, with ``dry_run``, would remove)."""

    dry_run: bool
    keep_best: int
    rounds: list[str]                    # finished rounds looked at
    skipped_rounds: list[str]            # rounds with queued or running trials: not touched
    protected_trials: list[int]
    dropped: list[Dropped] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)   # files no store row points at
    bytes_freed: int = 0


def protected_trials(store: Store) -> set[int]:
    """Trials whose checkpoints are never collected: the baseline's and promoted configs'."""
    keep: set[int] = set()
    base = current_baseline(store)
    if base is not None:
        keep.add(base.trial_id)
    for d in store.decisions_of(PromotionPayload):
        if d.payload.promoted:
            keep.add(d.payload.trial_id)
            for ids in d.payload.seed_trials.values():
                keep.update(ids)
    config = base.config if base is not None else None
    if config:
        for r in store.rounds():
            keep.update(t.id for t in store.trials(r.id) if t.config == config)
    return keep


def collect(store: Store, project: ProjectSpec, project_dir: str | Path, *,
            keep_best: int | None = None, dry_run: bool = False) -> Collected:
    """Free checkpoint space from finished rounds (see the module docstring).

    >>> collect(store, project, ".", dry_run=True).bytes_freed   # doctest: +SKIP
    301989888
    """
    keep = project.checkpoints.keep_best if keep_best is None else keep_best
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise SpecError("--keep-best", "an integer >= 0", keep)
    root = artifact_root(project_dir)
    protected = protected_trials(store)
    done, skipped, dropped, orphans = [], [], [], []
    freed = 0
    for r in store.rounds():
        trials = store.trials(r.id)
        if any(t.status not in FINISHED for t in trials):
            skipped.append(r.name)
            continue
        done.append(r.name)
        scorer = r.project.scorer()
        for t in trials:
            if t.id in protected:
                continue
            gone = retain(store, root, t.id, scorer, keep, keep_latest=False, dry_run=dry_run)
            dropped += gone
            freed += sum(d.size for d in gone)
        known = {a.path for t in trials for a in store.artifacts(t.id)}
        folder = root.resolve(r.name)
        if folder.is_dir():
            for f in sorted(folder.glob("trial-*/ckpt-*")):
                rel = f"{r.name}/{f.parent.name}/{f.name}"
                if rel not in known and f.is_file():
                    orphans.append(rel)
                    freed += f.stat().st_size
                    if not dry_run:
                        f.unlink(missing_ok=True)
    return Collected(dry_run, keep, done, skipped, sorted(protected), dropped, orphans, freed)


__all__ = ["Collected", "collect", "protected_trials"]
