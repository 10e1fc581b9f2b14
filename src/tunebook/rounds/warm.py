"""Warm starts and hand-picked configs: what a round takes from earlier rounds and from you.

``warm_start: [ROUND, ...]`` in a round file: the finished trials of those rounds whose
configs fit a target group of this round (the same fixed values, target values and training
length; every nuisance value inside this round's ranges) are told to the group's model before
it suggests anything. They are not this round's trials, so they never count against its
budget, and they shorten the quasi-random start of ``explore_exploit`` by as many trials.

``enqueue: [{...}, ...]``: configs (validated against the space when the round file is read)
queued first in each target group they name (or every group, when they name no target value).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tunebook.core.space import Space
from tunebook.core.spec import RoundSpec
from tunebook.core.trial import FINISHED, TrialRecord
from tunebook.rounds.fidelity import first_stage
from tunebook.search.base import Searcher
from tunebook.store import Store


def warm_trials(store: Store, spec: RoundSpec) -> list[TrialRecord]:
    """The finished full-length trials of the rounds ``spec`` warm-starts from."""
    out: list[TrialRecord] = []
    for name in spec.warm_start:
        record = store.round(name)  # a name not in the store: one line naming the rounds
        out += [t for t in store.trials(record.id)
                if t.status in FINISHED and not t.is_partial]
    return out


def _inside(space: Space, config: dict[str, Any]) -> bool:
    for name, p in space.nuisance.items():
        if name not in config:
            return False
        v = config[name]
        if p.kind == "choice":
            if v not in (p.choices or []):
                return False
            continue
        assert p.low is not None and p.high is not None
        if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
            return False
        if not p.low <= v <= p.high:
            return False
    return True


def compatible(prior: Sequence[TrialRecord], base: dict[str, Any], space: Space,
               group: dict[str, Any]) -> list[TrialRecord]:
    """The earlier trials a target group's model may learn from: every setting that is not
    searched equals this group's, and every searched one lies inside its ranges."""
    constant = {k: v for k, v in {**base, **space.fixed, **group}.items()
                if k not in space.nuisance}
    out = []
    for t in prior:
        config = {**t.config, **dict(t.meta.get("full") or {})}
        rest = {k: v for k, v in config.items() if k not in space.nuisance}
        if rest == constant and _inside(space, config):
            out.append(t)
    return out


def warm(searcher: Searcher, trials: Sequence[TrialRecord]) -> None:
    """Tell a model-based searcher about earlier trials; others have no model to inform."""
    tell = getattr(searcher, "warm", None)
    if tell is not None and trials:
        tell(list(trials))


def enqueued(base: dict[str, Any], spec: RoundSpec, group: dict[str, Any],
             space: Space) -> list[dict[str, Any]]:
    """The hand-picked configs of one target group, as queue items (at most the budget)."""
    items: list[dict[str, Any]] = []
    for i, entry in enumerate(spec.enqueue):
        if any(k in entry and entry[k] != v for k, v in group.items()):
            continue  # it names another target value
        if any(k not in entry for k in space.nuisance):
            continue  # a conditional hyperparameter of this group it does not set
        config = {**base, **space.fixed, **group,
                  **{k: entry[k] for k in space.nuisance}}
        items.append(first_stage(spec, {"group": group, "config": config,
                                        "seed": spec.seed * 100_003 + len(items),
                                        "meta": {"enqueued": i}}))
    return items[:spec.budget]
