"""Bias, variance, data mismatch and overfitting to dev, from a trial's errors per split.

The error ladder (checklist 3.3 and 4.1)::

    target error  --avoidable bias-->  train  --variance-->  train_dev
                  --data mismatch-->   dev    --overfitting to dev-->  test

How an *error* is read from the metrics a trial logged: pick one metric name (``--metric``,
default the project's score metric, else ``error``, else ``accuracy``); for each split the
value at the trial's best step, ``<split>/<name>``, becomes an error by the metric's goal:

* goal ``min`` (an error rate, a loss): the error is the value itself;
* goal ``max`` (accuracy, F1, AUC...): the error is ``1 - value``, and the value must lie in
  [0, 1].

The target error is ``task.target_error`` (human-level or Bayes error) unless one is passed.
Without a train_dev split, dev - train is reported as variance that may include mismatch.
The largest gap picks the checklist's actions.

Each gap carries a 95% interval when the errors are shares (goal ``max`` metrics in [0, 1], or
an error rate) and the splits' sizes are known: from the trial's stored predictions (their row
count per split) or a logged ``<split>/examples``. A share's interval is Wilson's; a gap between
two splits uses Newcombe's hybrid score interval (Wilson on each side); a gap to the target
error uses the train error's. A gap whose interval holds 0 is not told apart from no gap: it
never becomes the largest, and a finding says which split is too small to tell.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tunebook.analysis.findings import Finding
from tunebook.core.decisions import MismatchPayload
from tunebook.core.errors import SpecError
from tunebook.core.score import SPLITS, Goal, metric_key
from tunebook.core.spec import ProjectSpec
from tunebook.core.trial import TrialRecord
from tunebook.store import Store

GAPS = ("avoidable_bias", "variance", "mismatch", "dev_overfit")

ACTIONS: dict[str, str] = {
    "avoidable_bias": "High bias: try a larger or deeper model; a better architecture or "
                      "features; train longer or slightly increase the lr; reduce "
                      "regularization.",
    "variance": "High variance: collect more training data; use stronger regularization (L2, "
                "dropout, data augmentation); or a smaller model.",
    "mismatch": "Data mismatch: collect training data closer to dev/test; reweight training "
                "samples (domain reweighting); try domain adaptation. Run `tunebook errors` "
                "on dev to see how dev differs.",
    "dev_overfit": "Overfitting to dev: many decisions were taken on the same dev set. Get a "
                   "bigger or fresh dev set drawn like test, and select less often on it.",
}
LABELS: dict[str, str] = {
    "avoidable_bias": "avoidable bias (train - target)",
    "variance": "variance (train_dev - train)",
    "mismatch": "data mismatch (dev - train_dev)",
    "dev_overfit": "overfitting to dev (test - dev)",
}
# A domain classifier this good at telling train from dev means the splits differ visibly.
MISMATCH_AUC = 0.75


@dataclass(frozen=True)
class Diagnosis:
    """The error ladder of one trial and the gap that decides what to do next."""

    trial_id: int | None
    metric: str                       # the metric name read on each split, e.g. "accuracy"
    rule: str                         # how a value becomes an error, e.g. "1 - accuracy"
    target: float | None
    errors: dict[str, float | None]   # split -> error (None: the split was not logged)
    gaps: dict[str, float | None]     # GAPS -> size (None: cannot be measured)
    largest: str | None               # the gap that picks the actions; None when none > tol
    mismatch_auc: float | None = None
    findings: list[Finding] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)      # split -> examples evaluated
    intervals: dict[str, tuple[float, float] | None] = field(default_factory=dict)  # 95%


Z95 = 1.959964


def wilson(p: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval of a share ``p`` observed on ``n`` examples.

    >>> [round(v, 3) for v in wilson(0.1, 180)]
    [0.064, 0.153]
    """
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def gap_interval(hi: float, n_hi: int, lo: float, n_lo: int | None) -> tuple[float, float]:
    """Newcombe's interval of ``hi - lo`` (two shares); ``n_lo`` None: ``lo`` is exact.

    >>> [round(v, 3) for v in gap_interval(0.15, 180, 0.05, 1000)]
    [0.053, 0.161]
    """
    d = hi - lo
    l1, u1 = wilson(hi, n_hi)
    if n_lo is None:
        return l1 - lo, u1 - lo
    l2, u2 = wilson(lo, n_lo)
    return d - math.sqrt((hi - l1) ** 2 + (u2 - lo) ** 2), \
        d + math.sqrt((u1 - hi) ** 2 + (lo - l2) ** 2)


def _intervals(errors: Mapping[str, float | None], sizes: Mapping[str, int],
               target: float | None, shares: bool) -> dict[str, tuple[float, float] | None]:
    pairs = {"avoidable_bias": ("train", None), "variance": ("train_dev", "train"),
             "mismatch": ("dev", "train_dev"), "dev_overfit": ("test", "dev")}
    out: dict[str, tuple[float, float] | None] = {}
    for gap, (a, b) in pairs.items():
        if gap == "variance" and errors.get("train_dev") is None:
            a = "dev"
        ea, na = errors.get(a), sizes.get(a)
        if not shares or ea is None or not na:
            out[gap] = None
            continue
        if b is None:
            out[gap] = None if target is None else gap_interval(ea, na, target, None)
            continue
        eb, nb = errors.get(b), sizes.get(b)
        out[gap] = None if eb is None or not nb else gap_interval(ea, na, eb, nb)
    return out


def error_rule(project: ProjectSpec, metric: str | None = None) -> tuple[str, Goal]:
    """The metric name to read per split and its goal.

    >>> from tunebook.core.spec import parse_project  # doctest: +SKIP
    >>> error_rule(project)  # doctest: +SKIP
    ('accuracy', 'max')
    """
    names: dict[str, Goal] = {}
    for m in project.metrics:  # dev's goal wins when splits disagree
        if m.name not in names or m.split == "dev":
            names[m.name] = m.goal
    if metric is None:
        if isinstance(project.score, str) and "/" in metric_key(project.score):
            chosen = metric_key(project.score).split("/", 1)[1]
        else:
            chosen = next((n for n in ("error", "accuracy") if n in names), "")
        if chosen not in names:
            raise SpecError("--metric", f"a metric name among {sorted(names)}", None,
                            "The score is a formula: name the metric to read as an error, "
                            "e.g. --metric accuracy.")
        return chosen, names[chosen]
    name = metric_key(metric)
    name = name.split("/", 1)[1] if "/" in name else name
    if name not in names:
        import difflib

        near = difflib.get_close_matches(name, sorted(names), n=1)
        raise SpecError("--metric", f"a metric name among {sorted(names)}", metric,
                        f"Did you mean '{near[0]}'?" if near else "")
    return name, names[name]


def diagnose(metrics: Mapping[str, float], metric: str, goal: Goal,
             target: float | None = None, *, trial_id: int | None = None,
             mismatch_auc: float | None = None, tolerance: float = 0.0,
             sizes: Mapping[str, int] | None = None) -> Diagnosis:
    """The error ladder from ``split/metric`` values; the largest gap picks the actions.

    >>> d = diagnose({"train/accuracy": 0.80, "dev/accuracy": 0.78}, "accuracy", "max", 0.01)
    >>> d.largest, round(d.gaps["avoidable_bias"], 2)
    ('avoidable_bias', 0.19)
    """
    errors: dict[str, float | None] = {}
    for split in SPLITS:
        value = metrics.get(f"{split}/{metric}")
        if value is None or not math.isfinite(float(value)):
            errors[split] = None
            continue
        v = float(value)
        if goal == "max" and not 0.0 <= v <= 1.0:
            raise SpecError(f"{split}/{metric}", "a value in [0, 1] to read as error = 1 - value",
                            v, "Name an error-like metric instead: --metric loss (or error).")
        errors[split] = 1.0 - v if goal == "max" else v
    missing = [s for s in ("train", "dev") if errors[s] is None]
    if missing:
        have = sorted(k for k in metrics if k.endswith(f"/{metric}")) or sorted(metrics)
        raise SpecError(f"trial {trial_id}" if trial_id is not None else "metrics",
                        f"{', '.join(f'{s}/{metric}' for s in missing)} at the best step "
                        "(diagnosis needs at least train and dev)", have,
                        "Log it at eval steps, e.g. run.log(step, "
                        + ", ".join(f"{s}_{metric}=..." for s in missing)
                        + "), then re-run the trial (tunebook baseline, or tunebook round run "
                        "NAME); make a train_dev split too to separate variance from mismatch.")
    gaps = _gaps(errors, target)
    n_of = {s: int(v) for s, v in (sizes or {}).items() if v}
    for split in SPLITS:  # a logged "<split>/examples" counts when no predictions said
        logged = metrics.get(f"{split}/examples")
        if split not in n_of and logged is not None and math.isfinite(logged) and logged >= 1:
            n_of[split] = int(logged)
    shares = goal == "max" or all(0.0 <= e <= 1.0 for e in errors.values() if e is not None) \
        and metric in ("error", "error_rate", "err")
    intervals = _intervals(errors, n_of, target, shares)
    # A gap whose 95% interval holds zero is not told apart from no gap.
    told = {k: v for k, v in gaps.items() if v is not None
            and (intervals.get(k) is None or intervals[k][0] > 0)}  # type: ignore[index]
    largest = max(told, key=lambda k: told[k]) if told else None
    if largest is not None and told[largest] <= tolerance:
        largest = None
    rule = f"1 - {metric}" if goal == "max" else metric
    findings = _findings(errors, gaps, largest, target, rule, mismatch_auc, trial_id)
    findings += _uncertain(gaps, intervals, n_of, largest)
    return Diagnosis(trial_id, metric, rule, target, errors, gaps, largest, mismatch_auc,
                     findings, n_of, intervals)


def _uncertain(gaps: Mapping[str, float | None],
               intervals: Mapping[str, tuple[float, float] | None], sizes: Mapping[str, int],
               largest: str | None) -> list[Finding]:
    """Say which gaps the split sizes cannot tell from zero, or from the largest gap."""
    out = []
    vague = [k for k, v in gaps.items() if v is not None and v > 0
             and (ci := intervals.get(k)) is not None and ci[0] <= 0]
    if vague:
        parts = [f"{LABELS[k]} {gaps[k]:.3g} (95% interval {intervals[k][0]:+.3g} to "  # type: ignore[index]
                 f"{intervals[k][1]:+.3g})" for k in vague]  # type: ignore[index]
        small = ", ".join(f"{s} n={n}" for s, n in sizes.items())
        out.append(Finding(
            "diagnose.too_small", "info",
            "Too small to tell: " + "; ".join(parts) + f" (split sizes: {small}).",
            "Grow the smaller split (or evaluate on all of it) before acting on these gaps.",
            {"gaps": vague, "intervals": {k: intervals[k] for k in vague},
             "sizes": dict(sizes)}))
    if largest is not None and (ci := intervals.get(largest)) is not None:
        rivals = [k for k, v in gaps.items() if k != largest and v is not None
                  and (cj := intervals.get(k)) is not None and cj[1] >= ci[0] and v > 0]
        if rivals:
            out.append(Finding(
                "diagnose.close_call", "info",
                f"The largest gap, {LABELS[largest]}, cannot be told apart from "
                + ", ".join(LABELS[k] for k in rivals) + " at these split sizes (their 95% "
                "intervals overlap).", "Act on the largest gap, and re-diagnose after the "
                "change; a larger dev set would settle it.",
                {"largest": largest, "rivals": rivals,
                 "intervals": {k: intervals[k] for k in [largest, *rivals]}}))
    return out


def _gaps(errors: Mapping[str, float | None], target: float | None) -> dict[str, float | None]:
    train, td, dev, test = (errors.get(s) for s in SPLITS)
    assert train is not None and dev is not None
    return {
        "avoidable_bias": None if target is None else train - target,
        # Without train_dev, dev - train mixes variance and mismatch; it is reported as variance.
        "variance": (td if td is not None else dev) - train,
        "mismatch": None if td is None else dev - td,
        "dev_overfit": None if test is None else test - dev,
    }


def _findings(errors: Mapping[str, float | None], gaps: Mapping[str, float | None],
              largest: str | None, target: float | None, rule: str,
              auc: float | None, trial_id: int | None) -> list[Finding]:
    ev: dict[str, Any] = {"trial": trial_id, "errors": dict(errors), "gaps": dict(gaps),
                          "error": rule, "target": target}
    out: list[Finding] = []
    if largest is None:
        out.append(Finding("diagnose.no_gap", "info",
                           "No gap stands out: train, dev and test errors sit at the target.",
                           "Nothing to fix on bias/variance/mismatch; tighten the target or "
                           "move on to error analysis (tunebook errors).", ev))
    else:
        size = gaps[largest]
        assert size is not None
        note = ""
        if largest == "variance" and errors.get("train_dev") is None:
            note = " (no train_dev split: this gap may include data mismatch)"
        if largest == "mismatch" and auc is not None:
            note = f"; a domain classifier separates train from dev with AUC {auc:.2f}"
        out.append(Finding(f"diagnose.{largest}", "warning",
                           f"The largest gap is {LABELS[largest]}: {size:.4g}{note}.",
                           ACTIONS[largest], {**ev, "mismatch_auc": auc}))
    for name in GAPS:
        size = gaps[name]
        if name != largest and size is not None and largest is not None and size > 0:
            out.append(Finding(f"diagnose.{name}", "info",
                               f"Smaller gap: {LABELS[name]} = {size:.4g}.", ACTIONS[name], ev))
    if target is None:
        out.append(Finding("diagnose.no_target", "info",
                           "No target error: avoidable bias cannot be measured.",
                           "Set task.target_error in tunebook.yaml (human-level or Bayes error) "
                           "or pass --target.", ev))
    if auc is not None and auc >= MISMATCH_AUC and largest != "mismatch":
        out.append(Finding("diagnose.mismatch_auc", "info",
                           f"A domain classifier tells train from dev apart (AUC {auc:.2f}) "
                           "though mismatch is not the largest gap: the splits differ, but it "
                           "does not yet cost the most error.",
                           "Keep dev/test drawn like deployment; recheck after fixing the "
                           "largest gap.", {"mismatch_auc": auc}))
    return out


def latest_mismatch_auc(store: Store) -> float | None:
    """The AUC of the latest recorded domain-classifier check (``kind="mismatch"``), if any."""
    for d in reversed(store.decisions_of(MismatchPayload)):
        auc = d.payload.auc
        if auc is not None and math.isfinite(auc):
            return auc
    return None


def diagnose_trial(store: Store, project: ProjectSpec, trial: TrialRecord,
                   metric: str | None = None, target: float | None = None,
                   tolerance: float = 0.0) -> Diagnosis:
    """Diagnose a stored trial from its best-step metrics and the project's target error.

    >>> diagnose_trial(store, project, store.trial(1)).largest  # doctest: +SKIP
    'variance'
    """
    if trial.status != "completed" or not trial.best_metrics:
        raise SpecError(f"trial {trial.id}", "a completed trial with metrics at a best step",
                        trial.status, "Run it first (tunebook baseline, or tunebook round run "
                        f"{trial.round}); or pick another trial with --trial ID.")
    name, goal = error_rule(project, metric)
    tgt = project.task.target_error if target is None else target
    if tgt is not None and (not math.isfinite(tgt) or tgt < 0):
        raise SpecError("--target", "an error >= 0", tgt)
    sizes: dict[str, int] = {}
    for art in sorted(store.artifacts(trial.id, "predictions"), key=lambda a: (a.step or 0, a.id)):
        rows, split = art.meta.get("rows"), art.meta.get("split")
        if isinstance(rows, int) and rows > 0 and isinstance(split, str):
            sizes[split] = rows  # the latest predictions of each split
    return diagnose(trial.best_metrics, name, goal, tgt, trial_id=trial.id,
                    mismatch_auc=latest_mismatch_auc(store), tolerance=tolerance, sizes=sizes)
