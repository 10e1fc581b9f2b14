"""Label quality: which dev errors look mislabelled, and when they are a problem worth fixing.

A **suspect** (an error that looks like a label error rather than a model error):

1. the model is confidently wrong: its confidence is at least the mean confidence of its
   *correct* predictions of the same predicted class (confident learning's per-class
   threshold, on the one confidence the predictions file keeps); and
2. other models confirm it: at least ``MIN_OTHERS`` other trials' predictions of the same
   example (every trial in the store with predictions of the split, not only the same round)
   and at least ``AGREEMENT`` of them name the same wrong class. Without them an error is never
   a suspect: confidence alone cannot tell a wrong label from a hard example.

**Label quality is a problem** (the one verdict read by ``tunebook errors``, the checklist's
item 4.2 and ``tunebook advise``) when the suspects are at least ``LABEL_SHARE`` of the dev
examples *and* they look like flipped labels of ordinary examples rather than hard examples.
A wrong label on an ordinary example leaves the model exactly as sure as on the correct
predictions of that class; a hard example (two classes that genuinely overlap, an overconfident
model that overfits) is predicted wrongly with *less* confidence than its class's correct
predictions, however high. The test (a per-class confusion baseline): the log-odds
``-log(1 - confidence)`` of the suspects against those of the correct predictions above the
same per-class thresholds, one-sided Mann-Whitney U; ``p < TYPICAL_P`` says the suspects are
the less sure tail: hard examples, not label errors. Measured on the judgement corpus
(``benchmarks/judgements``): planted dev-label noise gives p 0.3-0.7, clean overlapping classes
and an overfit tiny-data model give p < 0.01.

cleanlab's ``find_label_issues`` needs every class's probability per example; the predictions
file keeps only the top confidence, so the rule above is used instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MIN_OTHERS = 2
AGREEMENT = 0.5
LABEL_SHARE = 0.01
TYPICAL_P = 0.01


@dataclass(frozen=True)
class Suspect:
    """An error that looks like a label error rather than a model error."""

    id: str
    label: str
    prediction: str
    confidence: float
    threshold: float            # mean confidence of correct predictions of this class
    agreement: float | None     # share of other models predicting the same wrong class
    others: int                 # how many other models' predictions were compared


@dataclass(frozen=True)
class LabelVerdict:
    """The label-quality judgement of one trial's dev predictions."""

    problem: bool
    suspects: int               # confirmed suspects
    examples: int
    typical_p: float | None     # Mann-Whitney p: suspects less sure than correct predictions
    models: int                 # other models that could confirm (max over examples)
    reason: str


def _float(x: str | None) -> float | None:
    try:
        v = float(x) if x not in (None, "") else None
    except ValueError:
        return None
    return v if v is not None and math.isfinite(v) else None


def _thresholds(rows: Sequence[Mapping[str, str]]) -> tuple[dict[str, float], float] | None:
    right: dict[str, list[float]] = {}
    for r in rows:
        c = _float(r.get("confidence"))
        if c is not None and r["label"] == r["prediction"]:
            right.setdefault(r["prediction"], []).append(c)
    every = [c for cs in right.values() for c in cs]
    if not every:
        return None
    return {k: sum(v) / len(v) for k, v in right.items()}, sum(every) / len(every)


def find_suspects(rows: Sequence[Mapping[str, str]],
                  others: Mapping[str, Sequence[str]] | None = None) -> list[Suspect]:
    """Errors that look mislabelled: confidently wrong and confirmed by other models.

    >>> rows = [{"id": str(i), "label": "a", "prediction": "a", "confidence": "0.9"}
    ...         for i in range(5)] + [{"id": "x", "label": "b", "prediction": "a",
    ...                                "confidence": "0.99"}]
    >>> [s.id for s in find_suspects(rows, {"x": ["a", "a"]})]
    ['x']
    >>> find_suspects(rows)   # no other model: never a suspect on confidence alone
    []
    """
    if not rows or "confidence" not in rows[0]:
        return []
    th = _thresholds(rows)
    if th is None:
        return []
    per_class, fallback = th
    out = []
    for r in rows:
        c = _float(r.get("confidence"))
        if c is None or r["label"] == r["prediction"]:
            continue
        threshold = per_class.get(r["prediction"], fallback)
        if c < threshold - 1e-12:
            continue
        theirs = list((others or {}).get(r["id"], ()))
        if len(theirs) < MIN_OTHERS:
            continue
        agreement = sum(p == r["prediction"] for p in theirs) / len(theirs)
        if agreement < AGREEMENT:
            continue  # other models side with the label: a model error, not a label error
        out.append(Suspect(r["id"], r["label"], r["prediction"], c, threshold, agreement,
                           len(theirs)))
    out.sort(key=lambda s: (-(s.agreement or 0.0), -s.confidence, s.id))
    return out


def typicality(rows: Sequence[Mapping[str, str]], suspects: Sequence[Suspect]) -> float | None:
    """One-sided p that the suspects are less sure than the correct confident predictions.

    Both sides are read as log-odds ``-log(1 - confidence)`` above their per-class thresholds.
    None when either side has fewer than 2 values.
    """
    from scipy.stats import mannwhitneyu

    th = _thresholds(rows) if rows and "confidence" in rows[0] else None
    if th is None or len(suspects) < 2:
        return None
    per_class, fallback = th
    ref = []
    for r in rows:
        c = _float(r.get("confidence"))
        if c is not None and r["label"] == r["prediction"] \
                and c >= per_class.get(r["prediction"], fallback) - 1e-12:
            ref.append(_logodds(c))
    if len(ref) < 2:
        return None
    sus = [_logodds(s.confidence) for s in suspects]
    return float(mannwhitneyu(sus, ref, alternative="less").pvalue)


def _logodds(c: float) -> float:
    return -math.log(max(1.0 - c, 1e-12))


def label_verdict(rows: Sequence[Mapping[str, str]], suspects: Sequence[Suspect],
                  others: Mapping[str, Sequence[str]] | None = None) -> LabelVerdict:
    """Whether the confirmed suspects make label quality a problem (module docstring)."""
    n = len(rows)
    models = max((len(v) for v in (others or {}).values()), default=0)
    k = len(suspects)
    if models < MIN_OTHERS:
        return LabelVerdict(False, k, n, None, models,
                            f"only {models} other model(s) predicted these examples: at least "
                            f"{MIN_OTHERS} are needed to confirm a suspect")
    if not n or k / n < LABEL_SHARE:
        return LabelVerdict(False, k, n, None, models,
                            f"{k} confirmed suspects among {n} dev examples: under "
                            f"{LABEL_SHARE:.0%}")
    p = typicality(rows, suspects)
    if p is not None and p < TYPICAL_P:
        return LabelVerdict(False, k, n, p, models,
                            f"{k} confirmed suspects, but predicted less surely than the "
                            f"correct predictions (p = {p:.2g}): hard examples or an "
                            "overconfident model, not label errors")
    return LabelVerdict(True, k, n, p, models,
                        f"{k} confirmed suspects among {n} dev examples ({k / n:.1%}), as sure "
                        "as the correct predictions of their class: flipped labels")


__all__ = ["LABEL_SHARE", "LabelVerdict", "Suspect", "find_suspects", "label_verdict",
           "typicality"]
