"""Asynchronous promotion of a short-then-long round (ASHA, Li et al. 2020), as pure rules.

``fidelity: {promotion: asynchronous}`` promotes without waiting for a stage (a *rung*) to
close. Whenever a worker looks for work, a finished trial of rung k goes on to rung k + 1 if it
ranks in the top ``keep`` share of the trials finished so far at rung k (per target group, by
the round's score and goal; failed, diverged and pruned trials count as the worst) and has not
been promoted yet. Top rungs are promoted first; otherwise a new config starts at rung 1, until
the budget of rung-1 configs is used.

The end rule: once rung k can get no more trials (every rung-1 config of the budget has
finished; for k > 1, rung k - 1 is complete and all its promotions are queued) and all its
trials have finished, the quota becomes the synchronous one, ``ceil(keep * n)`` of its ``n``
trials, and those of that top share not yet promoted go on. So the round ends with the best
configs of every rung at full length, as a synchronous round would, plus any promoted earlier
while they led.

These functions only decide; ``rounds.fidelity`` queues what they return, and the store's
per-parent budget makes each promotion happen exactly once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tunebook.core.trial import FINISHED, TrialRecord

_EPS = 1e-9  # 0.1 * 30 = 3.0000000000000004 must not round up to 4


def rank(trials: Sequence[TrialRecord], goal: str) -> list[TrialRecord]:
    """Finished trials best first: completed with a score (feasible first, by score, then id),
    then every other finished trial (failed, diverged, pruned: the worst)."""
    sign = -1.0 if goal == "max" else 1.0

    def key(t: TrialRecord) -> tuple[bool, bool, float, int]:
        ok = promotable(t)
        return (not ok, not t.feasible, sign * float(t.score or 0.0) if ok else 0.0, t.id)

    return sorted((t for t in trials if t.status in FINISHED), key=key)


def promotable(t: TrialRecord) -> bool:
    """A trial that may go on: completed with a score (a failed one never does)."""
    return t.status == "completed" and t.score is not None


@dataclass(frozen=True)
class Rung:
    """One rung of one target group as the asynchronous rule sees it."""

    number: int                      # 1 for the shortest
    trials: tuple[TrialRecord, ...]  # the rung's trials, any status
    complete: bool                   # no trial will join it and all of its trials finished
    due: tuple[TrialRecord, ...]     # its trials to promote to the next rung now, best first


def rungs(by_rung: Sequence[Sequence[TrialRecord]], budget: int, keep: float,
          goal: str) -> list[Rung]:
    """The rungs of one target group, each with the trials due for promotion now.

    ``by_rung[k]`` holds the trials of rung ``k + 1`` (any status); ``budget`` is the number of
    rung-1 configs of the group.

    >>> rungs([[], []], 4, 0.5, "max")[0].complete
    False
    """
    out: list[Rung] = []
    complete = len(by_rung[0]) >= budget and all(t.status in FINISHED for t in by_rung[0])
    for k, mine in enumerate(by_rung):
        due: tuple[TrialRecord, ...] = ()
        if k + 1 < len(by_rung):
            done = rank(mine, goal)
            share = keep * len(done)
            quota = math.ceil(share - _EPS) if complete else math.floor(share + _EPS)
            promoted = {t.parent_id for t in by_rung[k + 1]}
            due = tuple(t for t in done[:quota] if promotable(t) and t.id not in promoted)
        out.append(Rung(k + 1, tuple(mine), complete, due))
        if k + 1 < len(by_rung):
            nxt = by_rung[k + 1]
            complete = complete and not due and all(t.status in FINISHED for t in nxt)
    return out


def still_to_come(group: Sequence[Rung], budget: int, keep: float) -> int:
    """Trials the group's later rungs are expected to gain beyond those that exist.

    Exact (0) once every rung is complete; before that, the promotions due now plus what the
    synchronous rule would still promote, so a round's progress total never says done early.

    >>> still_to_come(rungs([[], []], 4, 0.5, "max"), 4, 0.5)
    2
    """
    extra = 0
    expected = float(max(budget, len(group[0].trials)))
    for cur, nxt in zip(group, group[1:], strict=False):
        have = len(nxt.trials) + len(cur.due)
        want = have if cur.complete else max(have, math.ceil(keep * expected - _EPS))
        extra += want - len(nxt.trials)
        expected = want
    return extra


def finished(group: Sequence[Rung]) -> bool:
    """Every rung of the group is complete: nothing runs and nothing is left to promote."""
    return all(r.complete for r in group)
