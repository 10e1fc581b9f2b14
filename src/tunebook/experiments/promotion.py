"""Promotion (checklist 3.4): re-train candidate and baseline over seeds, judge, record.

The judging is pure and lives in :mod:`tunebook.analysis.promotion` (``seed_test``, ``decide``);
this module chooses the two arms, runs them as a one-off round of kind ``promotion`` and records
the decision with its evidence.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

from tunebook.analysis.baseline import current_baseline
from tunebook.analysis.promotion import PromotionResult, decide, judge, plan_seeds
from tunebook.analysis.selection import fresh_round_name, trial_in_round
from tunebook.core.errors import NotFoundError, SpecError
from tunebook.core.spec import ProjectSpec, RoundSpec
from tunebook.experiments.oneoff import Decision, Execution, Finished, one_off
from tunebook.store import Store


def promote(store: Store, project: ProjectSpec, project_dir: str | Path, round_name: str, *,
            trial_id: int | None = None, seeds: int | None = None, workers: int = 2,
            executor: str = "processes", show_progress: bool = True) -> PromotionResult:
    """Re-train the round's best (or ``trial_id``) and the baseline over seeds; decide; record.

    >>> promote(store, project, ".", "width", seeds=5).verdict  # doctest: +SKIP
    'promoted'
    """
    k = project.promotion.seeds if seeds is None else seeds
    if k < 2:
        raise SpecError("--seeds", "an int >= 2 (seed variance needs two runs per arm)", k)
    candidate = trial_in_round(store, round_name, trial_id)
    if candidate.status != "completed":
        raise SpecError(f"trial {candidate.id}", "a completed trial as the candidate",
                        candidate.status, "Pick a completed one with --trial ID "
                        f"(tunebook trials {round_name}).")
    base = current_baseline(store)
    if base is None:
        raise NotFoundError("no baseline is recorded in this store, so there is nothing to "
                            "compare against. Run `tunebook baseline` first.")
    base_config = dict(base.config)
    changed = {key: [base_config.get(key), candidate.config.get(key)]
               for key in sorted(set(base_config) | set(candidate.config))
               if base_config.get(key) != candidate.config.get(key)}
    if not changed:
        raise SpecError(f"trial {candidate.id} config", "a config that differs from the "
                        "baseline's", "the baseline's own config",
                        "It is already the baseline; pick another trial with --trial ID.")
    name = fresh_round_name(store, f"promote-{round_name}")
    spec = RoundSpec(name=name, budget=k, seed=project.seed,
                     question=f"Does trial {candidate.id} of {round_name} beat the baseline "
                              f"over {k} seeds?")
    seed_list = [project.seed * 1000 + 1 + i for i in range(k)]
    items = plan_seeds(candidate.config, base_config, seed_list, candidate.id,
                       base.trial_id)

    def judged(done: Finished) -> tuple[PromotionResult, Decision]:
        scores, ids, bad = judge(store, done.record, project)
        result = decide(project, done.record, round_name, candidate.id, candidate.config,
                        base_config, changed, scores, ids, bad)
        payload = {
            "promoted": result.promoted, "verdict": result.verdict,
            "config": candidate.config, "trial_id": candidate.id, "round": round_name,
            "promotion_round": name, "baseline_config": base_config,
            "new_baseline": candidate.config if result.promoted else base_config,
            "previous_baseline_trial": base.trial_id, "changed": changed,
            "seed_trials": ids, "unhealthy": bad, "architecture": base.architecture,
            "test": asdict(result.test) if result.test else None,
        }
        summary = (f"trial {candidate.id} of {round_name}: {result.verdict}"
                   + (f" ({result.test.reason})" if result.test else ""))
        return result, Decision("promotion", summary, payload)

    result, did = one_off(store, project, project_dir, spec, judged, kind="promotion",
                          items=items, trial_kind="seed",
                          execution=Execution(workers, executor, show_progress))
    return replace(result, decision_id=did)
