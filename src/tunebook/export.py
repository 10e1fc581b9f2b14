"""A round's trials as CSV or JSON: one row per trial with config, outcome and best metrics."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from tunebook.store import Store
from tunebook.trial import RoundRecord


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
        return json.dumps({"round": record.to_dict(), "trials": rows}, indent=2, default=str) + "\n"
    fields: list[str] = []
    for r in rows:
        fields.extend(k for k in r if k not in fields)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
