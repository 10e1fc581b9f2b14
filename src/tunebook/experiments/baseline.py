"""The baseline run and the checks the checklist asks of it (section 2.4).

The dev metric must be clearly better than chance, computed from the dev labels the run saved
with its predictions (majority class and uniform guessing for classification, the mean
predictor for regression), and training must be stable (no non-finite values, loss falls, and
no irregular spikes or rise by the one instability rule, :mod:`tunebook.analysis.judgements`).
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tunebook.analysis.judgements.instability import read_loss
from tunebook.core.decisions import BaselinePayload, PromotionPayload
from tunebook.core.spec import ProjectSpec, RoundSpec
from tunebook.core.trial import ArtifactRecord, TrialRecord
from tunebook.store import Store
from tunebook.workers.execute import artifact_root, run_round

LOSS_KEYS = ("train/loss",)


@dataclass(frozen=True)
class Chance:
    kind: str                   # "classification" | "regression"
    n: int
    majority: float | None = None   # accuracy of always predicting the most frequent class
    uniform: float | None = None    # accuracy of guessing uniformly among classes
    model: float | None = None      # the model's accuracy (or R^2) on the same predictions
    mean_mse: float | None = None   # MSE of always predicting the mean label
    model_mse: float | None = None
    margin: float | None = None     # how far above chance counts as "clearly"
    better: bool = False


@dataclass(frozen=True)
class BaselineVerdict:
    trial_id: int
    status: str
    score: float | None
    best_step: int | None
    chance: Chance | None
    stable: bool
    loss_first: float | None
    loss_last: float | None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def read_predictions(store: Store, trial: TrialRecord, project_dir: str | Path,
                     split: str = "dev") -> list[dict[str, str]] | None:
    """The rows of the trial's stored predictions for ``split`` (latest step), if any."""
    art = predictions_artifact(store, trial, split)
    if art is None:
        return None
    data = artifact_root(project_dir).read_verified(art.path, art.sha256)
    return list(csv.DictReader(io.StringIO(data.decode())))


def predictions_artifact(store: Store, trial: TrialRecord,
                         split: str = "dev") -> ArtifactRecord | None:
    """The trial's predictions file for ``split`` that judgements read: the one saved at the
    trial's best step when there is one, else the latest (its ``step`` says which model made
    it; None: saved without a step, by the plain API at whatever point train() called it)."""
    arts = [a for a in store.artifacts(trial.id, "predictions") if a.meta.get("split") == split]
    if not arts:
        return None
    at_best = [a for a in arts if trial.best_step is not None and a.step == trial.best_step]
    return max(at_best or arts, key=lambda a: (a.step or 0, a.id))


def chance_level(rows: list[dict[str, str]], task_type: str) -> Chance:
    labels = [r["label"] for r in rows]
    n = len(labels)
    if task_type == "regression":
        y = [float(v) for v in labels]
        p = [float(r["prediction"]) for r in rows]
        mean = sum(y) / n
        mean_mse = sum((v - mean) ** 2 for v in y) / n
        model_mse = sum((a - b) ** 2 for a, b in zip(y, p, strict=True)) / n
        r2 = 1 - model_mse / mean_mse if mean_mse > 0 else 0.0
        # "Clearly better" for regression: explains at least 10% of the variance.
        return Chance("regression", n, model=r2, mean_mse=mean_mse, model_mse=model_mse,
                      margin=0.1, better=r2 >= 0.1)
    counts = Counter(labels)
    majority = max(counts.values()) / n
    uniform = 1 / len(counts)
    acc = sum(r["label"] == r["prediction"] for r in rows) / n
    floor = max(majority, uniform)
    # Three binomial standard errors above the better chance rule: not luck at this n.
    margin = 3 * math.sqrt(floor * (1 - floor) / n)
    return Chance("classification", n, majority=majority, uniform=uniform, model=acc,
                  margin=margin, better=acc > floor + margin)


def loss_stability(curve: Mapping[int, Mapping[str, float]],
                   status: str = "completed") -> tuple[bool, list[str]]:
    """Whether the baseline trained stably, by the one instability rule (and why not).

    The rule is :func:`tunebook.analysis.judgements.instability.read_loss`, the same that
    ``tunebook analyze`` and ``tunebook stability`` read; a non-finite metric or a diverged
    trial is unstable too.
    """
    pts = [(s, curve[s][k]) for s in sorted(curve) for k in LOSS_KEYS if k in curve[s]]
    reading = read_loss([s for s, _ in pts], [v for _, v in pts])
    nonfinite = any(not math.isfinite(v) for m in curve.values() for v in m.values())
    stable = not nonfinite and status != "diverged" and not reading.unstable
    signals = [x for x in reading.signals() if x != "diverged"]
    return stable, ([f"training is unstable: {'; '.join(signals)}"] if signals else [])


def check(store: Store, trial: TrialRecord, project: ProjectSpec,
          project_dir: str | Path) -> BaselineVerdict:
    problems: list[str] = []
    if trial.status != "completed":
        why = (trial.error or "").strip().splitlines()
        problems.append(f"the baseline trial ended {trial.status}: "
                        f"{why[-1] if why else 'no error recorded'}")
    elif trial.score is None:
        problems.append("the baseline trial has no score: no eval step logged the score's "
                        "metrics")
    curve = store.curve(trial.id)
    losses = [curve[s][k] for s in sorted(curve) for k in LOSS_KEYS if k in curve[s]]
    nonfinite = [v for s in curve.values() for v in s.values() if not math.isfinite(v)]
    first = last = None
    stable, unstable_why = loss_stability(curve, trial.status)
    problems += unstable_why
    if losses:
        k = max(1, len(losses) // 10)
        first, last = sum(losses[:k]) / k, sum(losses[-k:]) / k
        if not last < first:  # a pipeline problem (no learning), unstable only if it rose
            problems.append(f"training loss did not fall (first 10% mean {first:.4g}, "
                            f"last 10% mean {last:.4g})")
    else:
        problems.append("no train_loss logged: cannot tell whether training is stable")
    if nonfinite:
        problems.append(f"{len(nonfinite)} non-finite metric values")
    chance = None
    rows = read_predictions(store, trial, project_dir)
    if rows:
        chance = chance_level(rows, project.task.type)
        if not chance.better:
            problems.append(f"dev is not clearly better than chance ({chance})")
    else:
        problems.append("no dev predictions saved (run.save_predictions): chance level unknown")
    return BaselineVerdict(trial.id, trial.status, trial.score, trial.best_step, chance,
                           stable, first, last, problems)


def run_baseline(store: Store, project: ProjectSpec, project_dir: str | Path,
                 seed: int | None = None, show_progress: bool = True) -> BaselineVerdict:
    """Train the project's baseline config once, check it, and record the verdict."""
    from tunebook.rounds.lifecycle import create_round

    n = sum(1 for r in store.rounds() if r.kind == "baseline")
    name = "baseline" if n == 0 else f"baseline-{n + 1}"
    spec = RoundSpec(name=name, question="Is the baseline better than chance and stable?",
                     budget=1, seed=project.seed if seed is None else seed)
    record = create_round(store, project, spec, kind="baseline")
    run_round(store, name, project_dir, workers=1, executor="inline", show_progress=show_progress)
    trial = store.trials(record.id)[0]
    verdict = check(store, trial, project, project_dir)
    arch = project.baseline.architecture
    store.add_decision(
        "baseline", f"baseline trial {trial.id}: " + ("ok" if verdict.ok else
                                                      "; ".join(verdict.problems)),
        {"verdict": verdict.to_dict(), "config": trial.config,
         "architecture": arch.model_dump() if arch else None, "trial_id": trial.id},
        round_id=record.id)
    return verdict


@dataclass(frozen=True)
class CurrentBaseline:
    """The project's current baseline: from the latest baseline run or promotion that won."""

    config: dict[str, Any]
    trial_id: int
    architecture: dict[str, Any] | None
    promoted: bool          # it came from a promotion, not from `tunebook baseline`
    decision_id: int


def current_baseline(store: Store) -> CurrentBaseline | None:
    """The latest baseline decision, or later promotion that promoted, as the baseline."""
    found: CurrentBaseline | None = None
    for d in store.decisions():  # oldest first: the last one standing wins
        p = d.payload
        if isinstance(p, BaselinePayload):
            found = CurrentBaseline(dict(p.config), p.trial_id, p.architecture, False, d.id)
        elif isinstance(p, PromotionPayload) and p.promoted:
            found = CurrentBaseline(dict(p.new_baseline), p.trial_id, p.architecture, True,
                                    d.id)
    return found


__all__ = ["BaselineVerdict", "Chance", "CurrentBaseline", "chance_level", "check",
           "current_baseline", "predictions_artifact", "read_predictions", "run_baseline"]
