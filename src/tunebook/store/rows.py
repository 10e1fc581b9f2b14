"""Between Python and the tables: group keys and row-to-record mapping (JSON values through
:func:`tunebook.core.jsonable.to_jsonable`)."""

from __future__ import annotations

import json
import math
import time
from typing import Any, cast

from tunebook.core.errors import SpecError, StoreError
from tunebook.core.jsonable import to_jsonable
from tunebook.core.spec import parse_project, parse_round
from tunebook.core.trial import ROUND_KINDS, TRIAL_KINDS, RoundRecord, TrialKind, TrialRecord


def group_key(group: dict[str, Any]) -> str:
    """A canonical string for a target group (dict key order does not matter)."""
    return json.dumps(group, sort_keys=True, default=str)


def dumps(obj: Any) -> str:
    """The JSON text the store writes for ``obj`` (what ``to_jsonable`` then ``json.dumps``
    give), without walking values that are already plain JSON (every queued trial's config)."""
    try:
        return json.dumps(obj, allow_nan=False)
    except (TypeError, ValueError):  # NumPy values, NaN, sets...: the one conversion rule
        return json.dumps(to_jsonable(obj))


def finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def clean(d: dict[str, float]) -> dict[str, float | None]:
    return {k: finite(v) for k, v in d.items()}


def with_history(meta_: dict[str, Any] | None, attempt: int, worker: str | None,
                  reason: str) -> dict[str, Any]:
    """The trial's meta with one more entry in its failure history (kept, never replaced)."""
    out = dict(meta_ or {})
    out["history"] = [*out.get("history", []), {"attempt": attempt, "worker": worker,
                                                "reason": reason, "at": time.time()}]
    return out


def pk(result: Any) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def round_record(r: Any) -> RoundRecord:
    """A round row with its specs parsed: a row that no longer validates is named, not used."""
    try:
        spec = parse_round(r["spec"], f"round {r['name']}")
        project = parse_project(r["project"], f"round {r['name']} project")
    except SpecError as exc:
        raise StoreError(f"the store's round {r['name']!r} holds a spec that does not validate: "
                         f"{exc}") from None
    return RoundRecord(id=r["id"], name=r["name"], question=r["question"], spec=spec,
                       project=project, kind=_known(r["kind"], ROUND_KINDS, "round kind"),
                       created_at=r["created_at"])


def _known(value: str, known: tuple[str, ...], what: str) -> Any:
    if value not in known:
        raise StoreError(f"the store holds an unknown {what} {value!r} (known: {list(known)})")
    return value


def trial_record(r: Any) -> TrialRecord:
    return TrialRecord(
        id=r["id"], round_id=r["round_id"], round=r["round_name"], number=r["number"],
        group=r["grp"] or {}, config=r["config"], seed=r["seed"], status=r["status"],
        kind=cast(TrialKind, _known(r["kind"], TRIAL_KINDS, "trial kind")),
        worker=r["worker"], attempts=r["attempts"], created_at=r["created_at"],
        started_at=r["started_at"], finished_at=r["finished_at"], error=r["error"],
        best_step=r["best_step"], score=r["score"], feasible=r["feasible"],
        best_metrics=r["best_metrics"] or {}, parent_id=r["parent_id"], meta=r["meta"] or {},
    )
