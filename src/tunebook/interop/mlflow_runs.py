"""A round as MLflow runs: one run per finished trial, found by ``mlflow.search_runs``.

Params are the trial's config; every curve is a metric history by step; tags carry the round,
each hyperparameter's role, the trial's status, seed, stage and checkpoint paths. Runs are
written with ``MlflowClient`` against the tracking URI the user named (no global state).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from collections.abc import Iterator
from typing import Any

from tunebook.core.errors import MissingExtraError, SpecError
from tunebook.interop.dump import Exported, RoundDump
from tunebook.store import redact

_STATUS = {"completed": "FINISHED", "failed": "FAILED", "diverged": "FAILED",
           "pruned": "KILLED"}
_BATCH = 1000  # MLflow's log_batch takes at most 1,000 metrics per call


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """MLflow logs its database set-up at INFO on first use; a CLI command should not."""
    loggers = [logging.getLogger(n) for n in ("mlflow", "alembic")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(max(lg.level, logging.WARNING))
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _client(uri: str) -> Any:
    try:
        from mlflow import MlflowClient
    except ImportError:
        raise MissingExtraError("mlflow", "interop") from None
    return MlflowClient(tracking_uri=uri)


def _ms(ts: float | None) -> int | None:
    return None if ts is None else int(ts * 1000)


def export_mlflow(dump: RoundDump, uri: str, experiment: str | None = None) -> Exported:
    """Write the round's finished trials as runs of ``experiment`` (default: the round's name)."""
    with _quiet():
        return _export(dump, uri, experiment)


def _export(dump: RoundDump, uri: str, experiment: str | None) -> Exported:
    from mlflow.entities import Metric, Param

    client = _client(uri)
    name = experiment or dump.record.name
    exp = client.get_experiment_by_name(name)
    if exp is None:
        exp_id = client.create_experiment(name, tags={"tunebook.round": dump.record.name,
                                                      "tunebook.question": dump.record.question})
    else:
        exp_id = exp.experiment_id
        there = client.search_runs([exp_id], f"tags.`tunebook.round` = '{dump.record.name}'",
                                   max_results=1)
        if there:
            raise SpecError("--study", f"an MLflow experiment without runs of round "
                            f"{dump.record.name}", name,
                            "Name another experiment with --study (an export never "
                            "duplicates runs).")
    roles = {f"tunebook.role.{k}": r for k, r in dump.roles.items()}
    written, skipped = 0, []
    for t in dump.trials:
        if t.status not in _STATUS:
            skipped.append(f"trial {t.id}: {t.status}, not finished")
            continue
        tags = {"tunebook.round": dump.record.name, "tunebook.status": t.status,
                "tunebook.seed": str(t.seed), "tunebook.stage": t.kind,
                "tunebook.trial_id": str(t.id), "tunebook.group": json.dumps(t.group),
                "tunebook.checkpoints": json.dumps(list(dump.checkpoints.get(t.id, ()))),
                **roles}
        steps = dump.curves.get(t.id, {})
        if steps:  # the step of the values a run table shows (each metric's last)
            tags["tunebook.last_step"] = str(max(steps))
        if t.best_step is not None:
            tags["tunebook.best_step"] = str(t.best_step)
        if t.error:
            tags["tunebook.error"] = t.error.strip().splitlines()[-1][:1000]
        run = client.create_run(exp_id, start_time=_ms(t.started_at or t.created_at), tags=tags,
                                run_name=f"{dump.record.name}-{t.number}")
        rid = run.info.run_id
        stamp = _ms(t.finished_at or t.started_at or t.created_at) or 0
        metrics = [Metric(key, float(v), stamp, int(step))
                   for step, values in sorted(dump.curves.get(t.id, {}).items())
                   for key, v in values.items() if v is not None and math.isfinite(v)]
        params = [Param(k, json.dumps(v) if not isinstance(v, str) else v)
                  for k, v in t.config.items()]
        for i in range(0, max(len(metrics), len(params), 1), _BATCH):
            client.log_batch(rid, metrics=metrics[i:i + _BATCH], params=params[i:i + 100])
        for i in range(100, len(params), 100):
            client.log_batch(rid, params=params[i:i + 100])
        client.set_terminated(rid, _STATUS[t.status], end_time=_ms(t.finished_at))
        written += 1
    return Exported(dump.record.name, "mlflow", redact(uri), name, written, tuple(skipped))
