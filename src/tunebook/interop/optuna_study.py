"""Rounds as Optuna studies and back.

Export: one study per round, a trial per finished tunebook trial, with the round's ranges as
Optuna distributions, the score at each eval step as intermediate values, and tunebook's own
facts (seed, stage, status, roles) as user attributes, so ``optuna.load_study`` and
optuna-dashboard show the round. Import: any study's finished trials become a round whose
curves are the intermediate values, so the round's analyses run on it.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from tunebook.core.errors import SpecError
from tunebook.core.score import metric_key
from tunebook.core.space import Param
from tunebook.core.spec import Metric, ProjectSpec
from tunebook.interop.dump import Exported, RoundDump, plain
from tunebook.interop.importer import (
    Imported,
    ImportedTrial,
    Roles,
    round_params,
    scored_project,
    write_round,
)
from tunebook.store import Store, redact

ATTR = "tunebook"  # the study's user attribute that describes the round it came from
_STATES = {"completed": "COMPLETE", "failed": "FAIL", "diverged": "FAIL", "pruned": "PRUNED"}


def _optuna() -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def distribution(param: Param) -> Any:
    """The Optuna distribution of a target or nuisance hyperparameter."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if param.role == "target":
        return CategoricalDistribution([plain(v) for v in param.values or []])
    if param.kind == "choice":
        return CategoricalDistribution([plain(v) for v in param.choices or []])
    assert param.low is not None and param.high is not None
    if param.kind == "int":
        return IntDistribution(int(param.low), int(param.high), log=param.scale == "log")
    return FloatDistribution(param.low, param.high, log=param.scale == "log")


def _when(ts: float | None) -> dt.datetime | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts)


def export_optuna(dump: RoundDump, storage: str, study_name: str | None = None) -> Exported:
    """Write the round as a new study ``study_name`` (default: the round's name) in ``storage``."""
    optuna = _optuna()
    from optuna.trial import FrozenTrial, TrialState

    name = study_name or dump.record.name
    if name in optuna.get_all_study_names(storage):
        raise SpecError("--study", f"a study name not used in {redact(storage)}", name,
                        "Name another with --study (an export never overwrites a study).")
    scorer = dump.scorer
    score_name = dump.project.score if isinstance(dump.project.score, str) else "score"
    study = optuna.create_study(storage=storage, study_name=name,
                                direction="maximize" if scorer.goal == "max" else "minimize")
    dists = {k: distribution(p) for k, p in dump.spec.params.items() if p.role != "fixed"}
    study.set_user_attr(ATTR, {"round": dump.record.name, "question": dump.record.question,
                               "roles": dump.roles, "score": metric_key(score_name),
                               "goal": scorer.goal})
    frozen: list[Any] = []
    skipped: list[str] = []
    for t in dump.trials:
        curve = dump.score_curve(t.id)
        if t.status not in _STATES:
            skipped.append(f"trial {t.id}: {t.status}, not finished")
            continue
        state = _STATES[t.status]
        if state == "COMPLETE" and t.score is None:
            state = "FAIL"  # Optuna needs a value for a complete trial; it had no eval step
        params = {k: plain(t.config[k]) for k in dists if k in t.config}
        attrs: dict[str, Any] = {
                 "seed": t.seed, "stage": t.kind, "status": t.status, "trial_id": t.id,
                 "group": t.group, "feasible": t.feasible, "best_step": t.best_step,
                 "fixed": {k: plain(v) for k, v in t.config.items() if k not in dists},
                 "checkpoints": list(dump.checkpoints.get(t.id, ()))}
        if t.error:
            attrs["error"] = t.error.strip().splitlines()[-1][:500]
        frozen.append(FrozenTrial(
            number=len(frozen), trial_id=len(frozen), state=TrialState[state],
            value=t.score if state == "COMPLETE" else None,
            datetime_start=_when(t.started_at), datetime_complete=_when(t.finished_at),
            params=params, distributions={k: dists[k] for k in params}, user_attrs=attrs,
            system_attrs={}, intermediate_values={s: v for s, v in curve.items()}))
    study.add_trials(frozen)
    return Exported(dump.record.name, "optuna", redact(storage), name, len(frozen),
                    tuple(skipped))


def _range(dist: Any) -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return {"type": "choice", "choices": list(dist.choices)}
    kind = "int" if isinstance(dist, IntDistribution) else "float"
    return {"type": kind, "low": dist.low, "high": dist.high,
            "scale": "log" if dist.log else "linear"}


def read_study(storage: str, study_name: str, metric: str) -> tuple[
        list[ImportedTrial], dict[str, dict[str, Any]], tuple[str, ...], dict[str, Any]]:
    """The study's finished trials, the ranges of its params, what was skipped, its attrs."""
    optuna = _optuna()
    names = optuna.get_all_study_names(storage)
    if study_name not in names:
        raise SpecError("--study", f"a study in {redact(storage)} among {names}", study_name)
    study = optuna.load_study(study_name=study_name, storage=storage)
    if len(study.directions) != 1:
        raise SpecError("--study", "a single-objective study", f"{len(study.directions)} "
                        "objectives")
    trials: list[ImportedTrial] = []
    skipped: list[str] = []
    ranges: dict[str, dict[str, Any]] = {}
    for ft in study.get_trials(deepcopy=False):
        attrs = ft.user_attrs
        state = ft.state.name
        if state not in ("COMPLETE", "FAIL", "PRUNED"):
            skipped.append(f"trial {ft.number}: {state.lower()}, not finished")
            continue
        default = {"COMPLETE": "completed", "FAIL": "failed", "PRUNED": "pruned"}[state]
        status = attrs.get("status", default) if attrs.get("status") in _STATES else default
        curve = {int(s): {metric: float(v)} for s, v in ft.intermediate_values.items()
                 if v is not None and math.isfinite(v)}
        if not curve and ft.value is not None and math.isfinite(ft.value):
            curve = {1: {metric: float(ft.value)}}  # nothing reported: the final value only
        for k, d in ft.distributions.items():
            ranges.setdefault(k, _range(d))
        fixed = attrs.get("fixed") if isinstance(attrs.get("fixed"), dict) else {}
        trials.append(ImportedTrial(
            config={**fixed, **ft.params}, seed=int(attrs.get("seed", ft.number)),
            status=status, curve=curve, source_id=str(ft.number),
            error=attrs.get("error") or ft.system_attrs.get("fail_reason"),
            meta={"optuna_number": ft.number}))
    return trials, ranges, tuple(skipped), {"direction": study.direction.name.lower(),
                                            **(study.user_attrs.get(ATTR) or {})}


def import_optuna(store: Store, project: ProjectSpec, storage: str, study: str,
                  round_name: str, roles: Roles, metric: str | None = None) -> Imported:
    """Record the study's finished trials as the round ``round_name``.

    ``metric`` names what the study's values measure (e.g. ``dev/accuracy``): by default the
    metric tunebook exported it with, else the project's score when that is one metric.
    """
    optuna = _optuna()
    known = optuna.get_all_study_names(storage)
    if study not in known:
        raise SpecError("--study", f"a study in {redact(storage)} among {known}", study)
    attrs = (optuna.load_study(study_name=study, storage=storage).user_attrs.get(ATTR) or {})
    key = metric or attrs.get("score") or (
        metric_key(project.score) if isinstance(project.score, str) else None)
    if key is None or "/" not in metric_key(key):
        raise SpecError("--metric", "the metric the study's values measure, as split/name "
                        "(e.g. dev/accuracy)", key)
    key = metric_key(key)
    trials, ranges, skipped, info = read_study(storage, study, key)
    if not (roles.target or roles.nuisance or roles.fixed) and attrs.get("roles"):
        # a study tunebook exported: its roles come back unless the user names others
        roles = Roles(*(tuple(k for k, r in attrs["roles"].items() if r == want)
                        for want in ("target", "nuisance", "fixed")))
    extra = {k for t in trials for k in t.config if k not in ranges}
    roles = Roles(roles.target, roles.nuisance,
                  roles.fixed + tuple(sorted(extra - set(roles.target) - set(roles.nuisance)
                                             - set(roles.fixed))))
    params = round_params(trials, roles, ranges)
    goal = "max" if info["direction"] == "maximize" else "min"
    split, name = key.split("/", 1)
    metrics = list(project.metrics)
    if key not in project.metric_keys:
        metrics.append(Metric(name=name, split=split, goal=goal))  # type: ignore[arg-type]
    judged = scored_project(project.model_copy(update={"metrics": metrics, "score": key}), {key})
    done = write_round(store, judged, round_name, f"imported from Optuna study {study}",
                       params, trials, "optuna",
                       {"storage": redact(storage), "study": study, "metric": key,
                        "skipped": list(skipped)})
    return Imported(done.round, done.source, done.trials, done.roles, skipped)
