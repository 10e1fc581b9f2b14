"""Checkpoints for a training loop: the N best by score plus the latest, verified on load.

Writes go through ``Run.save_checkpoint`` (temp file, fsync, rename; sha256 in the store).
Loading reads the bytes, checks them against the recorded sha256, and unpickles only with
``torch.load(weights_only=True)``: a file that fails either check is refused with a clear error,
nothing in it runs, and the model is not touched. Resuming loads the latest checkpoint with the
optimizer, the data generator and every RNG state; the executor keeps a retried trial's curve
up to its latest checkpoint, so the trial continues the same curve.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from tunebook.core.errors import SpecError
from tunebook.core.score import Goal
from tunebook.core.trial import ArtifactRecord
from tunebook.pytorch.seed import rng_state, set_rng_state
from tunebook.store.files import ArtifactRoot

if TYPE_CHECKING:
    from tunebook.core.handle import RunHandle


@dataclass(frozen=True)
class Kept:
    """One checkpoint the store holds for the trial."""

    step: int
    score: float | None
    feasible: bool
    artifact_id: int
    path: str
    sha256: str


class Checkpoints:
    """Save, prune, resume and reload a trial's checkpoints. Inside ``train(config, run)``::

        ckpts = Checkpoints(run, keep_best=2)
        start = ckpts.resume(model, opt, gen)        # 0 on a fresh trial
        ...
        ckpts.save(step, model, opt, gen)            # at eval steps, after logging dev metrics
        ...
        best_step = ckpts.load_best(model)           # retrospective selection
    """

    def __init__(self, run: RunHandle, keep_best: int | None = None,
                 goal: Goal | None = None) -> None:
        project = run.project()
        if keep_best is None:  # the project's setting (checkpoints.keep_best), else 2
            keep_best = project.checkpoints.keep_best if project is not None else 2
        if isinstance(keep_best, bool) or not isinstance(keep_best, int) or keep_best < 0:
            raise SpecError("keep_best", "an integer >= 0", keep_best)
        if goal not in (None, "max", "min"):
            raise SpecError("goal", "'max' or 'min'", goal)
        self.run = run
        self.keep_best = keep_best
        self.scorer = project.scorer() if project is not None else None
        self.goal: Goal | None = goal or (self.scorer.goal if self.scorer else None)

    # -- what the loop calls ----------------------------------------------------------------

    def save(self, step: int, model: torch.nn.Module,
             optimizer: torch.optim.Optimizer | None = None,
             generator: torch.Generator | None = None, *, score: float | None = None,
             extra: dict[str, Any] | None = None) -> int | None:
        """Checkpoint the training state at ``step``; returns the artifact id (None on a rank
        that does not write, see ``main_only``).

        ``score`` defaults to the project's score computed from the metrics logged at this
        step (log the dev metrics first). Checkpoints beyond the N best and the latest are
        deleted, and so are any at steps >= ``step`` left by an abandoned earlier attempt.
        """
        if score is not None and self.goal is None:
            raise SpecError("Checkpoints goal", "'max' or 'min' to rank explicit scores", None,
                            "Pass Checkpoints(run, goal='max') outside a tunebook project.")
        value, feasible = (float(score), True) if score is not None else self._score(step)
        state: dict[str, Any] = {"step": step, "model": model.state_dict(), "rng": rng_state(),
                                 "extra": extra or {}}
        if optimizer is not None:
            state["optimizer"] = optimizer.state_dict()
        if generator is not None:
            state["generator"] = generator.get_state()
        stale = [k for k in self.kept() if k.step >= step]
        art = self.run.save_checkpoint(step, state, meta={"score": value, "feasible": feasible})
        if art is None:  # a silent rank: rank 0 keeps the checkpoints
            return None
        self._drop([k for k in stale if k.artifact_id != art])
        self._prune()
        return art

    def resume(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None,
               generator: torch.Generator | None = None, *, skip_corrupt: bool = False) -> int:
        """Load the latest checkpoint (model, optimizer, generator, RNGs); returns its step, or 0
        when there is none (a fresh trial). The curve continues from that step.

        A latest checkpoint that fails verification is an error; with ``skip_corrupt`` it is
        set aside (renamed ``*.corrupt``, dropped from the store) and the next one is tried.
        """
        for k in sorted(self.kept(), key=lambda k: (k.step, k.artifact_id), reverse=True):
            try:
                state = self._read(k)
            except SpecError:
                if not skip_corrupt:
                    raise
                self._quarantine(k)
                continue
            _load_into(state, model, optimizer, generator, k.path)
            set_rng_state(state["rng"])
            # The store kept this trial's curve up to its latest checkpoint; if an earlier one
            # was resumed (the latest set aside), the steps after it are logged again.
            self.run.flush()
            self.run.drop_points_after(k.step)
            return k.step
        return 0

    def load_best(self, model: torch.nn.Module,
                  optimizer: torch.optim.Optimizer | None = None) -> int:
        """Load the best-scoring checkpoint into ``model``; record and return its step."""
        best = self.best()
        if best is None:
            raise SpecError("checkpoints", "at least one scored checkpoint", "none",
                            "Save checkpoints at eval steps, after logging the dev metrics.")
        _load_into(self._read(best), model, optimizer, None, best.path)
        self.run.record(best_checkpoint={"step": best.step, "artifact_id": best.artifact_id,
                                           "sha256": best.sha256, "score": best.score})
        return best.step

    def load(self, step: int, model: torch.nn.Module,
             optimizer: torch.optim.Optimizer | None = None) -> dict[str, Any]:
        """Load the checkpoint of ``step`` into ``model`` (and ``optimizer``); returns its state."""
        found = [k for k in self.kept() if k.step == step]
        if not found:
            raise SpecError("checkpoint step", f"one of {[k.step for k in self.kept()]}", step)
        state = self._read(found[-1])
        _load_into(state, model, optimizer, None, found[-1].path)
        return state

    # -- what is kept ------------------------------------------------------------------------

    def kept(self) -> list[Kept]:
        """The trial's checkpoints, oldest first."""
        return [_kept(a) for a in self.run.checkpoints()]

    def best(self) -> Kept | None:
        scored = [k for k in self.kept() if k.score is not None]
        return min(scored, key=self._rank) if scored else None

    def _rank(self, k: Kept) -> tuple[bool, float, int]:
        # Same order as tunebook.core.score.best_step: feasible first, better score, earlier step.
        assert k.score is not None
        return (not k.feasible, -k.score if self.goal == "max" else k.score, k.step)

    def _prune(self) -> None:
        kept = self.kept()
        if not kept:
            return
        # The latest is kept while training whatever the setting: a retried attempt resumes
        # from it. keep_latest=False drops it when the trial finishes (tunebook.workers.retention).
        keep = {max(kept, key=lambda k: (k.step, k.artifact_id)).artifact_id}
        scored = sorted((k for k in kept if k.score is not None), key=self._rank)
        keep |= {k.artifact_id for k in scored[:self.keep_best]}
        self._drop([k for k in kept if k.artifact_id not in keep])

    def _drop(self, doomed: list[Kept]) -> None:
        if not doomed:
            return
        arts = {a.id: a for a in self.run.checkpoints()}
        gone = {d.artifact_id for d in doomed}
        alive = {a.path for a in arts.values() if a.id not in gone}
        for k in doomed:
            if k.artifact_id in arts:  # a re-save at the same step reuses the file name
                self.run.remove_artifact(arts[k.artifact_id],
                                         "keep" if k.path in alive else "delete")

    def _quarantine(self, k: Kept) -> None:
        art = next((a for a in self.run.checkpoints() if a.id == k.artifact_id), None)
        target = None if art is None else self.run.remove_artifact(art, "set_aside")
        if target is not None:
            warnings.warn(f"checkpoint of step {k.step} failed verification; set aside as "
                          f"{target}, resuming from an earlier one", stacklevel=3)

    def _read(self, k: Kept) -> dict[str, Any]:
        art = next((a for a in self.run.checkpoints() if a.id == k.artifact_id), None)
        if art is None:
            raise SpecError(f"checkpoint {k.path}", "a checkpoint the store records", "none")
        return safe_load(self.run.read_artifact(art), k.path)

    def _score(self, step: int) -> tuple[float | None, bool]:
        if self.scorer is None:
            return None, False
        self.run.flush()
        metrics = self.run.points(step)
        if any(name not in metrics for name in self.scorer.needs):
            return None, False
        value, feasible = self.scorer.evaluate(metrics)
        return (value, feasible) if math.isfinite(value) else (None, False)


def load_verified(root: ArtifactRoot, path: str, sha256: str) -> dict[str, Any]:
    """A checkpoint's state, only if its sha256 matches and the safe loader accepts it.

    Never falls back to a full unpickler: a file holding arbitrary Python objects is refused.
    """
    return safe_load(root.read_verified(path, sha256), path)  # SpecError on a mismatch


def safe_load(data: bytes, path: str) -> dict[str, Any]:
    """A checkpoint's state from verified bytes, with the safe loader only."""
    try:
        state = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise SpecError(f"checkpoint {path}",
                        "tensors, numbers and strings that torch.load(weights_only=True) accepts",
                        f"{type(exc).__name__}: {first}"[:300],
                        "It was not loaded and nothing in it ran. Only load checkpoints you "
                        "trust, and never with weights_only=False.") from None
    if not isinstance(state, dict):
        raise SpecError(f"checkpoint {path}", "a dict of training state", type(state).__name__)
    return state


def _load_into(state: dict[str, Any], model: torch.nn.Module,
               optimizer: torch.optim.Optimizer | None, generator: torch.Generator | None,
               path: str) -> None:
    """Check that the state fits, then load; a mismatch changes nothing."""
    weights = state.get("model", state)
    own = model.state_dict()
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    shapes = [k for k in own if k in weights and hasattr(weights[k], "shape")
              and tuple(weights[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        raise SpecError(f"checkpoint {path}", "weights that fit this model",
                        {"missing": missing[:5], "unexpected": unexpected[:5],
                         "shape mismatch": shapes[:5]},
                        "Is it from another architecture or width? The model was not changed.")
    if optimizer is not None and "optimizer" not in state:
        raise SpecError(f"checkpoint {path}", "an optimizer state", "none")
    model.load_state_dict(weights)
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    if generator is not None and "generator" in state:
        generator.set_state(state["generator"])


def _kept(a: ArtifactRecord) -> Kept:
    score = a.meta.get("score")
    return Kept(int(a.step or 0), None if score is None else float(score),
                bool(a.meta.get("feasible", score is not None)), a.id, a.path, a.sha256)

