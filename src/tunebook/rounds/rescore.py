"""Re-scoring a finished round under another score or constraints, without training again.

A quasi-random round is non-adaptive: its configs did not depend on the score, so its stored
curves answer "what is best under formula X?" as well as under the project's own score. This
recomputes every trial's best step, score and feasibility from its stored curve, and the best
trial per target value.

Decision: re-scoring never overwrites what is stored. A trial's stored best step and score stay
those of the project's scorer, which every other analysis (and ``best_trials``, which reads the
project's goal) relies on, so the original answer is always recoverable. The result is reported
alongside the original; with ``record=True`` it is also written as a decision (kind
``rescore``) holding the old and the new scorer and both answers, as evidence for a later
promotion or a change of the project's score.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from tunebook.core.errors import SpecError
from tunebook.core.score import (
    Goal,
    Scorer,
    best_step,
    formula_name,
    metric_key,
    parse_constraint,
    parse_formula,
)
from tunebook.core.spec import ProjectSpec, ScoreSpec
from tunebook.core.trial import RoundRecord, TrialRecord
from tunebook.store import Store, group_key


@dataclass(frozen=True)
class ScorerText:
    formula: str
    goal: str
    constraints: list[str]


def describe(project: ProjectSpec) -> ScorerText:
    s = project.score
    scorer = project.scorer()
    formula = s.formula if isinstance(s, ScoreSpec) else s
    return ScorerText(formula, scorer.goal, [str(c) for c in scorer.constraints])


def make_scorer(project: ProjectSpec, score: str | None = None, goal: str | None = None,
                constraints: list[str] | None = None) -> tuple[Scorer, ScorerText]:
    """A scorer from command-line text, checked against the project's metrics.

    ``score`` is a metric (``dev/loss``, its goal is the metric's) or a formula of metrics
    written ``split_name`` (then ``goal`` is needed). ``constraints=None`` keeps the project's;
    ``[]`` drops them.

    >>> make_scorer(project, "dev_accuracy - 0.001 * dev_latency_ms", "max")  # doctest: +SKIP
    """
    if goal is not None and goal not in ("max", "min"):
        raise SpecError("--goal", "max or min", goal)
    known = project.metric_keys
    base = describe(project)
    text = base.formula if score is None else score.strip()
    key = metric_key(text)
    metric_goals = {m.key: m.goal for m in project.metrics}
    # Unknown metric names first: a typo should be named as such, not as a missing goal.
    formula = parse_formula(formula_name(key) if key in known else text, known, "--score")
    if goal is not None:
        chosen = goal
    elif score is None:
        chosen = base.goal
    elif key in metric_goals:  # one metric: its own goal
        chosen = metric_goals[key]
    else:
        raise SpecError("--goal", "max or min for a formula score", None,
                        f"'{text}' is not one metric, so say whether higher or lower is better.")
    texts = base.constraints if constraints is None else constraints
    cons = tuple(parse_constraint(c, known, f"--constraint {c!r}") for c in texts)
    g: Goal = "max" if chosen == "max" else "min"
    return Scorer(g, formula, cons), ScorerText(text, g, [str(c) for c in cons])


@dataclass(frozen=True)
class Rescored:
    trial: int
    group: dict[str, Any]
    kind: str
    status: str
    old_step: int | None
    old_score: float | None
    old_feasible: bool | None
    new_step: int | None
    new_score: float | None
    new_feasible: bool


@dataclass(frozen=True)
class GroupAnswer:
    group: dict[str, Any]
    old_trial: int | None
    old_score: float | None
    new_trial: int | None
    new_score: float | None
    new_trial_old_score: float | None    # what the new winner scored under the old scorer

    @property
    def changed(self) -> bool:
        return self.old_trial != self.new_trial


@dataclass(frozen=True)
class RescoreResult:
    """The round under the new scorer, next to its stored (original) answer."""

    round: str
    old: ScorerText
    new: ScorerText
    trials: list[Rescored]
    answers: list[GroupAnswer]
    rank_agreement: float | None   # Spearman correlation of old and new scores (>= 3 trials)
    decision_id: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return sum(a.changed for a in self.answers)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["changed"] = self.changed
        for a, row in zip(self.answers, d["answers"], strict=True):
            row["changed"] = a.changed
        return d


def _candidate(t: TrialRecord) -> bool:
    # The same rule as the round's answer: full-length search trials, not seed re-runs.
    return t.status == "completed" and not t.is_partial and t.kind != "seed"


def _best(rows: list[Rescored], goal: str, old: bool) -> Rescored | None:
    sign = -1.0 if goal == "max" else 1.0
    ok = [r for r in rows if (r.old_feasible if old else r.new_feasible)
          and (r.old_score if old else r.new_score) is not None]
    if not ok:
        return None
    return min(ok, key=lambda r: (sign * float((r.old_score if old else r.new_score) or 0.0),
                                  r.trial))


def rescore(store: Store, record: RoundRecord, score: str | None = None,
            goal: str | None = None, constraints: list[str] | None = None,
            record_decision: bool = False) -> RescoreResult:
    """Best steps and the best trial per target value under another score or constraints.

    >>> rescore(store, store.round("width"), "dev/loss").answers  # doctest: +SKIP
    """
    project, spec = record.project, record.spec
    scorer, new = make_scorer(project, score, goal, constraints)  # bad input fails here
    old = describe(project)
    trials = [t for t in store.trials(record.id) if t.status in
              ("completed", "failed", "diverged", "pruned")]
    curves = store.curves([t.id for t in trials])
    rows = []
    for t in trials:
        b = best_step(curves.get(t.id, {}), scorer)
        rows.append(Rescored(t.id, t.group, t.kind, t.status, t.best_step, t.score, t.feasible,
                             b.step, b.score, b.feasible))
    by_id = {t.id: t for t in trials}
    groups: dict[str, dict[str, Any]] = {group_key(g): g for g in spec.space.target_groups()}
    answers = []
    for key, group in groups.items():
        mine = [r for r in rows if group_key(r.group) == key and _candidate(by_id[r.trial])]
        o, n = _best(mine, old.goal, True), _best(mine, new.goal, False)
        answers.append(GroupAnswer(group, o.trial if o else None, o.old_score if o else None,
                                   n.trial if n else None, n.new_score if n else None,
                                   n.old_score if n else None))
    agreement = _spearman([(r.old_score, r.new_score) for r in rows
                           if _candidate(by_id[r.trial])], old.goal == new.goal)
    notes = []
    if spec.algorithm not in ("quasi_random", "random"):
        notes.append(f"round {record.name} used {spec.algorithm}, which chose configs by the "
                     "old score: under a new score its configs are not an unbiased sample.")
    result = RescoreResult(record.name, old, new, rows, answers, agreement, None, notes)
    if record_decision:
        summary = (f"round {record.name} rescored by {new.formula} ({new.goal}"
                   + (f"; {', '.join(new.constraints)}" if new.constraints else "")
                   + f"): best changed for {result.changed} of {len(answers)} target values")
        payload = {"round": record.name, "old_scorer": asdict(old), "new_scorer": asdict(new),
                   "answers": [asdict(a) | {"changed": a.changed} for a in answers],
                   "rank_agreement": agreement, "stored_scores": "unchanged"}
        did = store.add_decision("rescore", summary, payload, round_id=record.id)
        result = RescoreResult(record.name, old, new, rows, answers, agreement, did, notes)
    return result


def _spearman(pairs: list[tuple[float | None, float | None]], same_goal: bool) -> float | None:
    ok = [(a, b) for a, b in pairs if a is not None and b is not None]
    if len(ok) < 3:
        return None
    from scipy.stats import spearmanr

    rho = float(spearmanr([a for a, _ in ok], [b for _, b in ok]).statistic)
    if rho != rho:  # constant scores: no ranking to agree on
        return None
    # With opposite goals, "agree" means the orders match once each is read best-first.
    return rho if same_goal else -rho
