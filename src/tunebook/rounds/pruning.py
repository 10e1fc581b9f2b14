"""Early stopping of clearly hopeless trials (off unless a round sets ``early_stop:``).

The rule, checked at each eval step past ``after`` of the trial's length: take the finished
(completed) trials of the same round, target value, kind and length ("peers"), and each one's
best feasible score up to the same step. When at least ``min_peers`` peers have a value and at
least ``ceil((1 - quantile) * peers)`` of them are strictly better than this trial's best so far,
the trial is stopped: ``run.log`` raises ``TrialPruned`` and the trial ends ``pruned`` with the
rule and the numbers in its error text. ``quantile: 0.5`` is the median stopping rule; the
default 0.25 stops only trials behind three quarters of their peers.

Peers are read when the trial first reaches ``after`` and again at most every ``REFRESH_S``, so a
pruned trial's curve and reason stay reproducible from the store.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from tunebook.core.score import Scorer
from tunebook.core.spec import EarlyStop
from tunebook.store import group_key

if TYPE_CHECKING:
    from tunebook.core.trial import RoundRecord, TrialRecord
    from tunebook.store import Store

REFRESH_S = 10.0


def best_so_far(curve: Mapping[int, Mapping[str, float]], scorer: Scorer
                ) -> list[tuple[int, float | None]]:
    """``[(eval step, best feasible score up to it)]``; None before any feasible step.

    >>> from tunebook.core.score import parse_formula
    >>> s = Scorer("max", parse_formula("dev_accuracy", {"dev/accuracy"}))
    >>> best_so_far({5: {"dev/accuracy": 0.5}, 10: {"dev/accuracy": 0.4}}, s)
    [(5, 0.5), (10, 0.5)]
    """
    out: list[tuple[int, float | None]] = []
    best: float | None = None
    for step in sorted(curve):
        values = curve[step]
        if any(k not in values for k in scorer.needs):
            continue
        score, feasible = scorer.evaluate(values)
        if feasible and (best is None or scorer.better(score, best)):
            best = score
        out.append((step, best))
    return out


def _at(series: list[tuple[int, float | None]], step: int) -> tuple[bool, float | None]:
    """(has an eval step <= step, best so far there)."""
    found, value = False, None
    for s, v in series:
        if s > step:
            break
        found, value = True, v
    return found, value


class Pruner:
    """Called by ``Run.log`` with each step's metrics; returns a reason to stop, or None."""

    def __init__(self, store: Store, trial: TrialRecord, scorer: Scorer, rule: EarlyStop,
                 max_steps: int) -> None:
        self.store, self.trial, self.scorer, self.rule = store, trial, scorer, rule
        self.max_steps = max_steps
        self.start = math.ceil(rule.after * max_steps)
        self._needs = frozenset(scorer.needs)
        self._pending: dict[int, dict[str, float]] = {}
        self._best: float | None = None
        self._peers: list[list[tuple[int, float | None]]] | None = None
        self._loaded = 0.0

    def _load_peers(self) -> list[list[tuple[int, float | None]]]:
        now = time.monotonic()
        if self._peers is None or now - self._loaded > REFRESH_S:
            key = group_key(self.trial.group)
            length = self.trial.config.get("max_train_steps")
            ids = [t.id for t in self.store.trials(self.trial.round_id, status="completed",
                                                  kind=self.trial.kind)
                   if t.id != self.trial.id and group_key(t.group) == key
                   and t.config.get("max_train_steps") == length]
            curves = self.store.curves(ids)
            self._peers = [best_so_far(curves.get(i, {}), self.scorer) for i in ids]
            self._loaded = now
        return self._peers

    def __call__(self, step: int, metrics: Mapping[str, float]) -> str | None:
        if not self._needs.intersection(metrics):
            return None
        seen = self._pending.setdefault(step, {})
        seen.update((k, v) for k, v in metrics.items() if k in self._needs)
        if len(seen) < len(self._needs):
            return None  # the step's other metrics are logged by a later call
        del self._pending[step]
        score, feasible = self.scorer.evaluate(seen)
        if feasible and (self._best is None or self.scorer.better(score, self._best)):
            self._best = score
        if step < self.start:
            return None
        values = [v for found, v in (_at(p, step) for p in self._load_peers()) if found]
        if len(values) < self.rule.min_peers:
            return None
        mine = self._best
        better = sum(v is not None and (mine is None or self.scorer.better(v, mine))
                     for v in values)
        need = math.ceil((1 - self.rule.quantile) * len(values) - 1e-9)
        if better < need:
            return None
        shown = "none feasible" if mine is None else f"{mine:.4g}"
        return (f"pruned at step {step} of {self.max_steps}: best score so far {shown} is "
                f"worse than {better} of {len(values)} finished trials of this target value "
                f"and stage at the same step (early_stop: after {self.rule.after:g}, "
                f"quantile {self.rule.quantile:g}, min_peers {self.rule.min_peers})")


def make_pruner(store: Store, record: RoundRecord, trial: TrialRecord,
                scorer: Scorer) -> Pruner | None:
    """The round's pruner for ``trial``, or None when the round has no ``early_stop``."""
    rule = record.spec.early_stop
    steps = trial.config.get("max_train_steps")
    if rule is None or not isinstance(steps, int) or steps < 1:
        return None
    return Pruner(store, trial, scorer, rule, steps)
