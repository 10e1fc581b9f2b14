"""A round's trials as rows: the CLI tables, the demo, agent tools, and CSV or JSON dumps."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from tunebook.core.jsonable import to_jsonable
from tunebook.core.trial import RoundRecord, TrialRecord
from tunebook.rounds.lifecycle import ranked
from tunebook.store import Store


def round_rows(store: Store, record: RoundRecord) -> list[dict[str, Any]]:
    rows = []
    for t in store.trials(record.id):
        row: dict[str, Any] = {"trial_id": t.id, "number": t.number, "kind": t.kind,
                               "status": t.status, "seed": t.seed, "best_step": t.best_step,
                               "score": t.score, "feasible": t.feasible,
                               "duration_s": t.duration, "attempts": t.attempts}
        row.update({f"config.{k}": v for k, v in t.config.items()})
        row.update({f"target.{k}": v for k, v in t.group.items()})
        row.update({f"best.{k}": v for k, v in t.best_metrics.items()})
        rows.append(row)
    return rows


def export_round(store: Store, record: RoundRecord, fmt: str = "csv") -> str:
    rows = round_rows(store, record)
    if fmt == "json":
        return json.dumps(to_jsonable({"round": record.to_dict(), "trials": rows}), indent=2) + "\n"
    fields: list[str] = []
    for r in rows:
        fields.extend(k for k in r if k not in fields)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def varying(record: RoundRecord) -> list[str]:
    return [k for k, p in record.spec.params.items() if p.role in ("target", "nuisance")]


def trial_rows(record: RoundRecord, trials: list[TrialRecord]) -> list[dict[str, Any]]:
    keys = varying(record)
    return [{"id": t.id, "number": t.number, "kind": t.kind, "status": t.status,
             "seed": t.seed, "config": {k: t.config.get(k) for k in keys} if keys else t.config,
             "best_step": t.best_step, "score": t.score, "feasible": t.feasible,
             "duration_s": t.duration, "error": (t.error or "").strip().splitlines()[-1:] or None}
            for t in trials]


def trials_payload(store: Store, record: RoundRecord, limit: int | None = None,
                   status: str | None = None) -> dict[str, Any]:
    project = record.project
    ts = ranked(store, record)
    if status:
        ts = [t for t in ts if t.status == status]
    best = next((t for t in ts if t.status == "completed" and t.feasible), None)
    score_name = project.score if isinstance(project.score, str) else project.score.formula
    return {
        "round": record.name, "question": record.question, "score_name": score_name,
        "goal": project.scorer().goal, "columns": varying(record),
        "trials": trial_rows(record, ts[:limit] if limit else ts),
        "best": None if best is None else {**trial_rows(record, [best])[0],
                                           "full_config": best.full_config},
    }
