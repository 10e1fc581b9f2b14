"""Write another tool's trials into the store as a round that every analysis can read.

A source (an Optuna study, a run table) is turned into ``ImportedTrial`` records; this module
decides the round's hyperparameters from the roles the user named, and writes the trials
through the store's public API: queued, claimed and finished like trials that ran here, so the
one status-transition rule and the best-step rule apply to them too.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tunebook.core.errors import SpecError
from tunebook.core.score import best_step
from tunebook.core.spec import ProjectSpec, parse_round
from tunebook.store import Store, group_key

# Finished statuses a source can give; queued/running trials of a source are not imported.
IMPORTABLE = ("completed", "failed", "diverged", "pruned")


@dataclass(frozen=True)
class Roles:
    """The roles the user named; every other hyperparameter of the source is a nuisance."""

    target: tuple[str, ...] = ()
    nuisance: tuple[str, ...] = ()
    fixed: tuple[str, ...] = ()

    def check(self, known: Sequence[str]) -> None:
        import difflib

        named = [*self.target, *self.nuisance, *self.fixed]
        for flag, names in (("--target", self.target), ("--nuisance", self.nuisance),
                            ("--fixed", self.fixed)):
            for n in names:
                if n not in known:
                    near = difflib.get_close_matches(n, list(known), n=1)
                    raise SpecError(flag, f"a hyperparameter of the source among {sorted(known)}",
                                    n, f"Did you mean '{near[0]}'?" if near else "")
        twice = sorted({n for n in named if named.count(n) > 1})
        if twice:
            raise SpecError("roles", "each hyperparameter in one of --target/--nuisance/--fixed",
                            twice)

    def of(self, name: str) -> str:
        if name in self.target:
            return "target"
        return "fixed" if name in self.fixed else "nuisance"


@dataclass(frozen=True)
class ImportedTrial:
    """One trial of the source, as tunebook will record it."""

    config: dict[str, Any]
    seed: int
    status: str  # one of IMPORTABLE
    curve: dict[int, dict[str, float]]  # step -> metric -> value
    source_id: str  # the source's own id (Optuna trial number, MLflow run id, W&B name)
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Imported:
    """What an import wrote."""

    round: str
    source: str
    trials: int
    roles: dict[str, str]
    skipped: tuple[str, ...] = ()


def _range(name: str, values: list[Any]) -> dict[str, Any]:
    """A nuisance range covering the values seen (when the source does not say its range)."""
    if all(isinstance(v, (bool, str)) for v in values):
        return {"type": "choice", "choices": sorted(set(values), key=str)}
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise SpecError(f"params.{name}", "numbers or strings", sorted(set(map(str, values))))
    lo, hi = min(values), max(values)
    kind = "int" if all(float(v).is_integer() and isinstance(v, int) for v in values) else "float"
    # Ranges spanning two decades or more were almost surely searched on a log scale.
    scale = "log" if lo > 0 and hi / lo >= 100 else "linear"
    return {"type": kind, "low": lo, "high": hi, "scale": scale}


def round_params(trials: Sequence[ImportedTrial], roles: Roles,
                 ranges: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """The round file's ``params`` for the source's hyperparameters under the named roles."""
    names = list(dict.fromkeys(k for t in trials for k in t.config))
    roles.check(names)
    params: dict[str, dict[str, Any]] = {}
    for name in names:
        seen = [t.config[name] for t in trials if name in t.config]
        distinct = list(dict.fromkeys(seen))
        role = roles.of(name)
        if role == "nuisance" and name not in roles.nuisance and len(distinct) == 1 \
                and name not in (ranges or {}):
            role = "fixed"  # never named and never varied: a constant of the source's runs
        if role == "target":
            given = (ranges or {}).get(name) or {}
            if given.get("type") == "choice":  # the source's own order of the values compared
                distinct = [v for v in given["choices"] if v in distinct]
            else:
                with contextlib.suppress(TypeError):
                    distinct = sorted(distinct)
            params[name] = {"role": "target", "values": distinct}
        elif role == "fixed":
            if len(distinct) != 1:
                raise SpecError(f"--fixed {name}", "one value over every trial",
                                f"{len(distinct)} values ({distinct[:5]})",
                                "Name it --target or --nuisance instead.")
            params[name] = {"role": "fixed", "value": distinct[0]}
        else:
            params[name] = {"role": "nuisance", **((ranges or {}).get(name) or _range(name, seen))}
    return params


def scored_project(project: ProjectSpec, metrics: set[str]) -> ProjectSpec:
    """The project as the imported round judges it: constraints on metrics it lacks dropped."""
    keep = [c for c in project.constraints
            if project.scorer(constraints=[c]).constraints[0].metric in metrics]
    return project.model_copy(update={"constraints": keep})


def write_round(store: Store, project: ProjectSpec, name: str, question: str,
                params: dict[str, dict[str, Any]], trials: Sequence[ImportedTrial],
                source: str, provenance: dict[str, Any]) -> Imported:
    """Record the round and its finished trials, curves and outcomes."""
    if not trials:
        raise SpecError("source", "at least one finished trial to import", "none")
    groups: dict[str, int] = {}
    targets = [k for k, p in params.items() if p["role"] == "target"]
    for t in trials:
        key = group_key({k: t.config.get(k) for k in targets})
        groups[key] = groups.get(key, 0) + 1
    params = dict(params)
    length = params.get("max_train_steps")
    extra: dict[str, Any] = {}
    if length and length["role"] == "fixed" and isinstance(length["value"], int):
        # tunebook keeps the training length on the round, not among its hyperparameters
        extra["max_train_steps"] = params.pop("max_train_steps")["value"]
    spec = parse_round({"name": name, "question": question, "params": params,
                        "algorithm": "quasi_random", "budget": max(groups.values()), **extra},
                       f"the round imported from {source}")
    scorer = project.scorer()
    missing = [k for k in scorer.needs
               if not any(k in values for t in trials for values in t.curve.values())]
    if missing:
        raise SpecError("score", f"metrics the source has ({_metrics(trials)})", missing,
                        "Import a table with those columns, or name the metric with --metric.")
    record = store.create_round(spec, project)
    items = [{"group": {k: t.config.get(k) for k in targets}, "config": t.config,
              "seed": t.seed, "meta": {**t.meta, "imported": {"source": source,
                                                              "id": t.source_id}}}
             for t in trials]
    ids = store.add_trials(record.id, items)
    store.log_points([(tid, step, metric, value) for tid, t in zip(ids, trials, strict=True)
                      for step, values in t.curve.items() for metric, value in values.items()
                      if value is not None and math.isfinite(value)])
    for tid, t in zip(ids, trials, strict=True):
        got = store.claim(record.id, f"import:{source}", lease_s=3600.0)
        assert got is not None and got[0].id == tid, "a fresh round's queue is claimed in order"
        best = best_step(t.curve, scorer)
        store.finish(tid, got[1], t.status, error=t.error, best_step=best.step, score=best.score,
                     feasible=best.feasible if best.step is not None else None,
                     best_metrics=best.metrics)
    store.add_decision("import", f"{len(ids)} trials imported from {source}",
                       {"source": source, **provenance}, round_id=record.id)
    return Imported(record.name, source, len(ids), {k: p.role for k, p in spec.params.items()})


def _metrics(trials: Sequence[ImportedTrial]) -> str:
    keys = sorted({k for t in trials for values in t.curve.values() for k in values})
    return ", ".join(keys) or "none"
