"""One model per decision kind: what each recorded decision holds, validated on write and read.

A decision is a fact the project's process depends on (the baseline, a promotion, the splits, a
stability check, a person's note ...). ``Store.add_decision(kind, summary, payload)`` validates
``payload`` with the kind's model before anything is written, and ``Store.decisions()`` hands
back each decision with its payload parsed into that model, so readers use typed attributes,
never keys. A new kind of decision is a new model here.

>>> parse_payload("note", {"item": "4.3.strategy", "text": "end-to-end"}).text
'end-to-end'
>>> parse_payload("note", {"item": "4.3.strategy"})  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
tunebook.core.errors.SpecError: decision note: text: expected this required key ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from tunebook.core.errors import SpecError


class Payload(BaseModel):
    """What one kind of decision records (frozen; unknown keys refused)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: ClassVar[str]


class NotePayload(Payload):
    """A person's answer to a checklist item (``tunebook note``)."""

    kind: ClassVar[str] = "note"
    item: str
    text: str


class BaselinePayload(Payload):
    """The baseline run and its checks (``tunebook baseline``)."""

    kind: ClassVar[str] = "baseline"
    verdict: dict[str, Any]
    config: dict[str, Any]
    architecture: dict[str, Any] | None = None
    trial_id: int


class PromotionPayload(Payload):
    """A candidate against the baseline over seeds, and the verdict (``tunebook promote``)."""

    kind: ClassVar[str] = "promotion"
    promoted: bool
    verdict: str
    config: dict[str, Any]
    trial_id: int
    round: str
    promotion_round: str
    baseline_config: dict[str, Any]
    new_baseline: dict[str, Any]
    previous_baseline_trial: int | None = None
    changed: dict[str, Any]
    seed_trials: dict[str, list[int]]
    unhealthy: dict[str, list[str]]
    architecture: dict[str, Any] | None = None
    test: dict[str, Any] | None = None


class SplitsPayload(Payload):
    """Splits recorded by id with the data's hash (``tunebook data split``)."""

    kind: ClassVar[str] = "splits"
    path: str
    sha256: str
    input: dict[str, Any]
    columns: dict[str, Any]
    config: dict[str, Any]
    counts: dict[str, int]
    warnings: list[str] = []


class DataReportPayload(Payload):
    """The data report's problems and its full result (``tunebook data report``)."""

    kind: ClassVar[str] = "data_report"
    problems: list[str]
    report: dict[str, Any]


class MismatchPayload(Payload):
    """A domain classifier between two splits (``tunebook data mismatch``)."""

    kind: ClassVar[str] = "mismatch"
    auc: float | None
    auc_std: float | None
    n_a: int
    n_b: int
    verdict: str
    a: str = "train"
    b: str = "dev"
    top_features: list[dict[str, Any]] = []
    method: str = ""
    features_from: str = "table"


class StabilityPayload(Payload):
    """The lr probe, warmup scan and clipping proposal (``tunebook stability``)."""

    kind: ClassVar[str] = "stability"
    trial_id: int
    round: str
    recommended_warmup: int | None = None
    warmup_ignored: bool = False      # train() never read warmup_steps: a warmup changed nothing
    clip_threshold: float | None = None
    probe_unstable: bool | None = None


class StepsPayload(Payload):
    """The steps-to-fit estimate from a probe (``tunebook steps``)."""

    kind: ClassVar[str] = "steps"
    metric: str
    probe_steps: int
    within: float
    fit: dict[str, Any] | None = None
    steps_needed: int | None = None
    recommended: int
    extrapolated: bool
    notes: list[str] = []
    round: str | None = None
    trial_id: int
    decision_id: int | None = None


class BatchSizePayload(Payload):
    """A batch-size scan (``tunebook batch-size``)."""

    kind: ClassVar[str] = "batch_size"
    entry: str
    scan: dict[str, Any]
    plot: str | None = None


class InputProfilePayload(Payload):
    """An input-pipeline profile (``tunebook profile-input``)."""

    kind: ClassVar[str] = "input_profile"
    entry: str
    batch_size: int
    profile: dict[str, Any]


class RescorePayload(Payload):
    """A round re-scored without retraining (``tunebook round rescore --record``)."""

    kind: ClassVar[str] = "rescore"
    round: str
    old_scorer: dict[str, Any]
    new_scorer: dict[str, Any]
    answers: list[dict[str, Any]]
    rank_agreement: float | None = None
    stored_scores: str


class ImportPayload(Payload):
    """Trials imported from another tool (``tunebook import``): where from, and the source's own
    description of itself, kept as the source gave it."""

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: ClassVar[str] = "import"
    source: str


DECISIONS: dict[str, type[Payload]] = {m.kind: m for m in (
    NotePayload, BaselinePayload, PromotionPayload, SplitsPayload, DataReportPayload,
    MismatchPayload, StabilityPayload, StepsPayload, BatchSizePayload, InputProfilePayload,
    RescorePayload, ImportPayload)}


def parse_payload(kind: str, payload: Payload | Mapping[str, Any]) -> Payload:
    """``payload`` as the model of ``kind``; a clear error naming the field otherwise."""
    model = DECISIONS.get(kind)
    if model is None:
        raise SpecError("decision kind", f"one of {sorted(DECISIONS)}", kind,
                        "A new kind of decision needs its model in tunebook.core.decisions.")
    if isinstance(payload, model):
        return payload
    if isinstance(payload, Payload):
        raise SpecError(f"decision {kind}", f"a {model.__name__}", type(payload).__name__)
    try:
        return model.model_validate(dict(payload))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "missing":
            raise SpecError(f"decision {kind}: {where}", "this required key", "nothing") from None
        if err["type"] == "extra_forbidden":
            raise SpecError(f"decision {kind}: {where}", f"a key of {model.__name__} "
                            f"({', '.join(model.model_fields)})", where) from None
        raise SpecError(f"decision {kind}: {where}", err["msg"].lower(),
                        err.get("input")) from None
