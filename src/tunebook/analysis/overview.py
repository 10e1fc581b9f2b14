"""Everything ``tunebook analyze`` reads in a round, in one typed result.

``analyze_round`` reads the store once (trials, then the curves of the top trials in bulk) and
runs the pure analyses: axes with the boundary and divergence checks, isolation, curve diagnosis
and importance. The HTML report, the agent tools and the CLI all call it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunebook.analysis.axes import AxesResult, axes
from tunebook.analysis.curves import LOSS_KEY, CurveReport, curve_report
from tunebook.analysis.findings import Finding, by_severity
from tunebook.analysis.importance import Importance, importance
from tunebook.analysis.isolation import Isolation, isolation
from tunebook.analysis.records import RoundRecords, load_records
from tunebook.core.errors import SpecError
from tunebook.core.usage import ignored_by_all
from tunebook.store import Store


@dataclass(frozen=True)
class RoundAnalysis:
    """The reading of one round: data for each plot, and the findings, worst first."""

    round: str
    question: str
    value_name: str              # "score" or the metric analysed
    goal: str
    counts: dict[str, int]
    best_trial: int | None
    best_value: float | None
    axes: AxesResult
    isolation: Isolation | None
    curves: CurveReport
    importance: Importance | None
    findings: list[Finding]
    answer: str                  # the round's answer to its question, in a sentence or two

    def _repr_html_(self) -> str:
        """In a notebook: the answer, the counts and the findings (plots: tunebook.plots)."""
        import html

        from tunebook.core.html import table_html

        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.counts.items()))
        return (f"<b>round {html.escape(self.round)}</b>: {html.escape(self.question)}"
                f"<p>{html.escape(self.answer)}</p><p>{html.escape(counts)}; best trial "
                f"{self.best_trial} ({html.escape(self.value_name)} "
                f"{'–' if self.best_value is None else f'{self.best_value:.4g}'})</p>"
                + table_html(["code", "severity", "message", "action"],
                             [[f.code, f.severity, f.message, f.action]
                              for f in self.findings]))


def analyze_round(store: Store, round_name: str, *, top: int = 5, metric: str | None = None,
                  target: str | None = None, buckets: int = 5,
                  importance_method: str | None = "fanova") -> RoundAnalysis:
    """Analyse round ``round_name``: axes, boundaries, isolation, curves, importance, findings.

    ``metric`` judges trials by the best value of that metric during training instead of the
    score; ``target`` isolates another hyperparameter (bucketed into ``buckets`` when
    continuous); ``importance_method`` is ``fanova``, ``ped_anova``, ``permutation`` or None.

    >>> a = analyze_round(store, "width", top=5)                  # doctest: +SKIP
    >>> [f.code for f in a.findings]                               # doctest: +SKIP
    ['boundary', 'still_improving', 'isolation_answer', 'importance']
    """
    if top < 1:
        raise SpecError("--top", "an int >= 1", top)
    recs = load_records(store, round_name, metric)
    ax = axes(recs, top=top)
    iso = isolation(recs, target=target, buckets=buckets)
    ids = [t.id for t in recs.ranked(distinct=True)[:top]]
    # With a chosen metric only it and the training loss are read, not every logged metric.
    wanted = None if metric is None else [recs.value_name, LOSS_KEY]
    cur = curve_report(recs, store.curves(ids, metrics=wanted), top=top)
    imp = importance(recs, importance_method) if importance_method else None
    findings = [*ax.findings, *(iso.findings if iso else []), *cur.findings,
                *(imp.findings if imp else []), *_outcomes(recs)]
    ranked = recs.ranked()
    best = ranked[0] if ranked else None
    if iso is not None:
        answer = iso.answer
    elif best is None:
        answer = "No completed feasible trial: the round has no answer yet."
    else:
        answer = (f"{recs.record.question} Best: trial {best.id} with {recs.value_name} "
                  f"{recs.values[best.id]:.4g} (no target hyperparameter to compare).")
    return RoundAnalysis(
        recs.record.name, recs.record.question, recs.value_name, recs.goal, dict(recs.counts),
        best.id if best else None, recs.values[best.id] if best else None, ax, iso, cur, imp,
        by_severity(findings), answer)


def _outcomes(recs: RoundRecords) -> list[Finding]:
    """What the other analyses do not say: crashed trials, unfinished ones, constraint breaks."""
    out: list[Finding] = []
    name = recs.record.name
    failed = [t.id for t in recs.trials if t.status == "failed"]
    if failed:
        out.append(Finding(
            "failed_trials", "warning",
            f"{len(failed)} of {len(recs.trials)} trials failed with an error and are left out "
            f"(trials {', '.join(map(str, failed[:10]))}{' ...' if len(failed) > 10 else ''}).",
            f"Read the errors (tunebook trials {name} --status failed; tunebook trial ID) and "
            "fix the training function; failures are bugs, not results.",
            {"trials": failed}))
    waiting = recs.counts.get("queued", 0) + recs.counts.get("running", 0)
    if waiting:
        out.append(Finding(
            "unfinished", "info",
            f"{waiting} trials have not finished yet: this reading may change.",
            f"Finish the round (tunebook round run {name}) and analyse it again.",
            {"queued": recs.counts.get("queued", 0), "running": recs.counts.get("running", 0)}))
    done = [t for t in recs.trials if t.status == "completed"]
    infeasible = [t.id for t in done if not t.feasible]
    if infeasible and len(infeasible) >= 0.25 * len(done):
        cons = ", ".join(str(c) for c in recs.scorer.constraints) or "a constraint"
        out.append(Finding(
            "infeasible_trials", "warning",
            f"{len(infeasible)} of {len(done)} completed trials broke {cons} at every eval step "
            "and cannot be the best.",
            "Check whether the constraint is reachable in this search space; narrow the ranges "
            "toward the feasible trials or revisit the constraint (checklist 1.1).",
            {"trials": infeasible, "constraints": [str(c) for c in recs.scorer.constraints]}))
    out += ignored_params(recs)
    return out


def ignored_params(recs: RoundRecords) -> list[Finding]:
    """A tuned hyperparameter that train() never read: every value trained the same model, so
    whatever the round seems to say about it is noise (tunebook.core.usage)."""
    out: list[Finding] = []
    finished = list(recs.finished)
    for name, p in recs.spec.params.items():
        if p.role == "fixed":
            continue
        never = ignored_by_all(finished, name)
        if never:
            out.append(Finding(
                "ignored_param", "problem",
                f"train() never reads {name} (trials {', '.join(map(str, never[:5]))}"
                f"{' ...' if len(never) > 5 else ''} recorded the keys they read): every value "
                f"of {name} in round {recs.record.name} trained the same model, so the round "
                f"says nothing about {name}.",
                f"Make train(config, run) use config['{name}']"
                + (" (tk.make_schedule reads warmup_steps)" if name == "warmup_steps" else "")
                + ", or drop it from the round.",
                {"param": name, "trials": never}))
    return out


__all__ = ["RoundAnalysis", "analyze_round"]
