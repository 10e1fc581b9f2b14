"""Run tables exported by MLflow or W&B (CSV) as a round.

Column conventions (one row per run):

* MLflow (``mlflow.search_runs(...).to_csv`` or the UI's "Download CSV"): ``params.<name>``
  are hyperparameters, ``metrics.<key>`` metric values (``dev/accuracy`` or ``dev_accuracy``),
  ``status`` (FINISHED, FAILED, KILLED), ``run_id``; tunebook's own tags
  (``tags.tunebook.seed``, ``tags.tunebook.status``, ``tags.tunebook.role.<name>``,
  ``tags.tunebook.last_step``) are used when present.
* W&B (the runs table as ``config.<name>`` / ``summary.<key>`` columns, what
  ``pandas.json_normalize`` makes of the public API's ``run.config`` and ``run.summary``):
  ``config.<name>`` are hyperparameters, ``summary.<key>`` metric values, ``state``
  (finished, failed, crashed, killed), ``name`` or ``id``; ``summary._step`` gives the step.

A run table holds one value per metric, so each trial's curve is one point: at the run's last
step when the table says it, else step 1. Runs still running are not imported.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from tunebook.core.errors import SpecError
from tunebook.core.score import metric_key
from tunebook.core.spec import ProjectSpec
from tunebook.interop.importer import (
    Imported,
    ImportedTrial,
    Roles,
    round_params,
    scored_project,
    write_round,
)
from tunebook.store import Store

_MLFLOW = {"FINISHED": "completed", "FAILED": "failed", "KILLED": "pruned"}
_WANDB = {"finished": "completed", "failed": "failed", "crashed": "failed",
          "killed": "pruned"}


def _value(text: str) -> Any:
    """A cell as a number, bool, list or string (MLflow keeps params as text)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _number(text: str) -> float | None:
    try:
        x = float(text)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def read_table(path: str | Path) -> tuple[str, list[ImportedTrial], tuple[str, ...],
                                          dict[str, str]]:
    """The table's flavour, its finished runs as trials, what was skipped, and tagged roles."""
    p = Path(path)
    if not p.is_file():
        raise SpecError("FILE", "a CSV run table", str(p), "No such file.")
    with p.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    columns = list(rows[0]) if rows else []
    if any(c.startswith("params.") for c in columns):
        flavour, cfg, met = "mlflow", "params.", "metrics."
    elif any(c.startswith("config.") for c in columns):
        flavour, cfg, met = "wandb", "config.", "summary."
    else:
        raise SpecError("FILE", "MLflow columns (params.x, metrics.y) or W&B columns "
                        "(config.x, summary.y)", columns[:6] or "an empty table")
    trials: list[ImportedTrial] = []
    skipped: list[str] = []
    roles: dict[str, str] = {}
    for i, row in enumerate(rows):
        ident = row.get("run_id") or row.get("name") or row.get("Name") or row.get("id") or str(i)
        if flavour == "mlflow":
            state = row.get("status", "FINISHED")
            status = _MLFLOW.get(state)
            told = row.get("tags.tunebook.status")
            status = told if status and told in ("completed", "failed", "diverged",
                                                  "pruned") else status
        else:
            state = row.get("state") or row.get("State") or "finished"
            status = _WANDB.get(state)
        if status is None:
            skipped.append(f"run {ident}: {state}, not finished")
            continue
        config = {c[len(cfg):]: _value(v) for c, v in row.items()
                  if c.startswith(cfg) and v not in ("", None)}
        values = {metric_key(c[len(met):]): x for c, v in row.items()
                  if c.startswith(met) and not c[len(met):].startswith("_")
                  and (x := _number(v or "")) is not None}
        step_text = row.get("tags.tunebook.last_step") or row.get("summary._step") or "1"
        step = int(float(step_text)) if _number(step_text) is not None else 1
        seed = row.get("tags.tunebook.seed") or str(config.get("seed", i))
        for c, v in row.items():
            if c.startswith("tags.tunebook.role.") and v:
                roles[c[len("tags.tunebook.role."):]] = v
        trials.append(ImportedTrial(
            config=config, seed=int(float(seed)), status=status,
            curve={step: values} if values else {}, source_id=ident,
            error=row.get("tags.tunebook.error") or None, meta={"run": ident}))
    return flavour, trials, tuple(skipped), roles


def import_table(store: Store, project: ProjectSpec, path: str | Path, round_name: str,
                 roles: Roles) -> Imported:
    """Record the table's finished runs as the round ``round_name``."""
    flavour, trials, skipped, tagged = read_table(path)
    if not (roles.target or roles.nuisance or roles.fixed) and tagged:
        roles = Roles(*(tuple(k for k, r in tagged.items() if r == want)
                        for want in ("target", "nuisance", "fixed")))
    params = round_params(trials, roles)
    metrics = {k for t in trials for v in t.curve.values() for k in v}
    done = write_round(store, scored_project(project, metrics), round_name,
                       f"imported from the {flavour} run table {Path(path).name}", params,
                       trials, flavour, {"file": str(Path(path).resolve()),
                                         "skipped": list(skipped)})
    return Imported(done.round, done.source, done.trials, done.roles, skipped)
