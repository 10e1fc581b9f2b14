"""The baseline run (checklist 2.4): train the baseline config once, check it, record it.

The checks themselves are pure reads in :mod:`tunebook.analysis.baseline`.
"""

from __future__ import annotations

from pathlib import Path

from tunebook.analysis.baseline import (
    BaselineVerdict,
    Chance,
    CurrentBaseline,
    chance_level,
    check,
    current_baseline,
    loss_stability,
    predictions_artifact,
    read_predictions,
)
from tunebook.core.spec import ProjectSpec, RoundSpec
from tunebook.experiments.oneoff import Decision, Execution, Finished, numbered_name, one_off
from tunebook.store import Store


def run_baseline(store: Store, project: ProjectSpec, project_dir: str | Path,
                 seed: int | None = None, show_progress: bool = True) -> BaselineVerdict:
    """Train the project's baseline config once, check it, and record the verdict."""
    name = numbered_name(store, "baseline", "baseline")
    spec = RoundSpec(name=name, question="Is the baseline better than chance and stable?",
                     budget=1, seed=project.seed if seed is None else seed)

    def judge(done: Finished) -> tuple[BaselineVerdict, Decision]:
        trial = done.trials[0]
        verdict = check(store, trial, project, project_dir)
        arch = project.baseline.architecture
        summary = f"baseline trial {trial.id}: " + ("ok" if verdict.ok else
                                                    "; ".join(verdict.problems))
        return verdict, Decision("baseline", summary, {
            "verdict": verdict.to_dict(), "config": trial.config,
            "architecture": arch.model_dump() if arch else None, "trial_id": trial.id})

    verdict, _ = one_off(store, project, project_dir, spec, judge, kind="baseline",
                         execution=Execution(show_progress=show_progress))
    return verdict


__all__ = ["BaselineVerdict", "Chance", "CurrentBaseline", "chance_level", "check",
           "run_baseline",
           "current_baseline", "loss_stability", "predictions_artifact", "read_predictions"]
