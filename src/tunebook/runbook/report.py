"""The HTML report: one self-contained file per round and one for the project.

Everything is inside the file: plots as base64 PNG, the CSS, and a small inline script that
sorts tables and records any script error into the page (``#js-errors``), so the page needs no
network and a headless browser can prove it loaded cleanly. A section that cannot be filled yet
(no completed trial, no predictions) names the command that makes what it needs.

>>> write_report(project, ".", store)                       # doctest: +SKIP
ReportResult(path='.tunebook/reports/project.html', kind='project', ...)
"""

from __future__ import annotations

import base64
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from tunebook.analysis.findings import Finding
from tunebook.analysis.overview import RoundAnalysis
from tunebook.core.decisions import PromotionPayload
from tunebook.core.errors import NotFoundError
from tunebook.core.html import number
from tunebook.core.spec import ProjectSpec
from tunebook.core.trial import RoundRecord, TrialRecord
from tunebook.plots import draw_round
from tunebook.plots.diagnose import draw_ladder
from tunebook.plots.errors import draw_categories
from tunebook.runbook.evidence import Evidence, Missing
from tunebook.store import Store, redact
from tunebook.store.files import atomic_write

TEMPLATE = "report.html.j2"
# In the head of every report (the template's generator tag): only such a file is overwritten.
REPORT_MARK = '<meta name="generator" content="tunebook'

TOP_CATEGORIES = 8


@dataclass(frozen=True)
class ReportResult:
    path: str
    kind: str                      # "project" | "round"
    round: str | None
    bytes: int
    sections: dict[str, str]       # section -> "ok" or why it is not there


def default_path(project_dir: str | Path, round_name: str | None) -> Path:
    name = "project.html" if round_name is None else f"round-{round_name}.html"
    return Path(project_dir) / ".tunebook" / "reports" / name


def write_report(project: ProjectSpec, project_dir: str | Path, store: Store,
                 round_name: str | None = None, out: str | Path | None = None,
                 evidence: Evidence | None = None) -> ReportResult:
    """Write the project report (or the round's) as one self-contained HTML file.

    ``evidence`` lets a caller that also shows the checklist read the analyses only once.
    """
    ev = evidence or Evidence(project, project_dir, store)
    if not ev.rounds:
        raise NotFoundError(f"the store {redact(store.url)} holds no rounds yet, so there is "
                            "nothing to report. Run `tunebook baseline` (or `tunebook demo`) "
                            "first.")
    record = store.round(round_name) if round_name is not None else None
    with tempfile.TemporaryDirectory(prefix="tunebook-report-") as tmp:
        context = build_context(ev, record, Path(tmp))
    text = render(context)
    path = Path(out) if out is not None else default_path(project_dir, round_name)
    atomic_write(path, text.encode("utf-8"))
    return ReportResult(str(path), "round" if record else "project",
                        record.name if record else None, len(text.encode("utf-8")),
                        context["status"])


def render(context: dict[str, Any]) -> str:
    from jinja2 import Environment, StrictUndefined, select_autoescape

    env = Environment(autoescape=select_autoescape(default=True), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = number
    templates = resources.files("tunebook") / "runbook" / "templates"
    source = (templates / TEMPLATE).read_text(encoding="utf-8")
    return env.from_string(source).render(**context)


def _png(path: str | Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def build_context(ev: Evidence, record: RoundRecord | None, tmp: Path) -> dict[str, Any]:
    """Everything the template shows, as plain data (plots already base64-encoded)."""
    from tunebook import __version__
    from tunebook.runbook.checklist import evaluate

    status: dict[str, str] = {}
    p = ev.project
    focus = record or ev.latest_search_round
    trial = _focus_trial(ev, record)
    rounds = [_round_summary(ev, r) for r in ev.rounds] if record is None else []
    block = None if focus is None else _round_block(ev, focus, tmp, status)
    diag = _diagnosis(ev, trial, tmp, status)
    errs = _errors(ev, trial, tmp, status)
    cl = evaluate(ev)
    status["checklist"] = "ok"
    advice = _advice(ev, status)
    return {
        "title": f"{p.name} — round {record.name}" if record else f"{p.name} — project report",
        "kind": "round" if record else "project",
        "project": {"name": p.name, "task": p.task.type, "goal": p.task.goal,
                    "success": p.task.success, "target_error": p.task.target_error,
                    "score": p.score if isinstance(p.score, str) else p.score.formula,
                    "constraints": p.constraints, "metrics": sorted(m.key for m in p.metrics),
                    "store": redact(ev.store.url)},
        "baseline": _baseline(ev),
        "rounds": rounds,
        "round": block,
        "diagnosis": diag,
        "errors": errs,
        "promotions": _promotions(ev, record),
        "decisions": [{"id": d.id, "kind": d.kind, "summary": d.summary, "at": _when(d.created_at)}
                      for d in ev.decisions][-40:] if record is None else [],
        "checklist": cl,
        "advice": advice,
        "status": status,
        "generated": _when(time.time()),
        "version": __version__,
    }


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def _focus_trial(ev: Evidence, record: RoundRecord | None) -> TrialRecord | None:
    """The trial the diagnosis and error analysis look at: the round's best or the baseline."""
    if record is not None:
        return ev.best_trial(record)
    return ev.baseline_trial


def _baseline(ev: Evidence) -> dict[str, Any] | None:
    b = ev.baseline
    if b is None:
        return None
    return {"trial": b.trial_id, "config": b.config, "promoted": b.promoted,
            "verdict": ev.baseline_verdict}


def _answer(ev: Evidence, record: RoundRecord, analysis: RoundAnalysis | Missing) -> str:
    if not isinstance(analysis, Missing):
        return analysis.answer
    from tunebook.rounds.lifecycle import best_trials

    best = best_trials(ev.store, record)
    if not best:
        return "No completed feasible trial yet."
    parts = [f"{_group(t.group) or 'best'}: {number(t.score)} (trial {t.id})"
             for t in best.values()]
    return "Best per target value — " + "; ".join(parts) + "."


def _group(g: dict[str, Any]) -> str:
    return ", ".join(f"{k}={number(v)}" for k, v in g.items())


def _round_summary(ev: Evidence, r: RoundRecord) -> dict[str, Any]:
    ts = ev.trials(r)
    best = ev.best_trial(r)
    counts: dict[str, int] = {}
    for t in ts:
        counts[t.status] = counts.get(t.status, 0) + 1
    return {"name": r.name, "kind": r.kind, "question": r.question, "counts": counts,
            "best": best.id if best else None, "score": best.score if best else None,
            "created": _when(r.created_at)}


def _round_block(ev: Evidence, r: RoundRecord, tmp: Path, status: dict[str, str]
                 ) -> dict[str, Any]:
    analysis = ev.analysis(r)
    params = r.spec.params
    columns = [k for k, p in params.items() if p.role in ("target", "nuisance")]
    from tunebook.rounds.lifecycle import ranked

    rows = []
    trials = ranked(ev.store, r)
    for t in trials:  # best first, as `tunebook trials` lists them
        rows.append({"id": t.id, "number": t.number, "kind": t.kind, "status": t.status,
                     "values": [t.config.get(k) for k in columns], "seed": t.seed,
                     "best_step": t.best_step, "score": t.score, "feasible": t.feasible,
                     "duration": t.duration})
    plots: list[dict[str, str]] = []
    findings: list[dict[str, Any]] = []
    missing = None
    if isinstance(analysis, Missing):
        missing = analysis.message
        status["plots"] = missing
    else:
        for name, path in draw_round(analysis, tmp / r.name).items():
            plots.append({"name": name, "src": _png(path)})
        status["plots"] = "ok"
        findings = [_finding(f) for f in analysis.findings]
    status["trials"] = "ok"
    return {"name": r.name, "kind": r.kind, "question": r.question,
            "answer": _answer(ev, r, analysis), "columns": columns, "rows": rows,
            "roles": {k: p.role for k, p in params.items()},
            "algorithm": r.spec.algorithm, "budget": r.spec.budget,
            "plots": plots, "findings": findings, "missing": missing,
            "reproduce": _reproduce(trials)}


def _reproduce(trials: list[TrialRecord]) -> list[dict[str, Any]]:
    """The round's distinct code/environment/hardware, each with the trials it ran."""
    from tunebook.workers.repro import Provenance

    groups: dict[tuple[str, ...], list[int]] = {}
    for t in sorted(trials, key=lambda t: t.id):
        prov = Provenance.of(t.meta or {})
        if prov is not None:
            groups.setdefault(tuple(prov.lines()), []).append(t.id)
    return [{"trials": ", ".join(map(str, ids)), "lines": [ln.strip() for ln in key]}
            for key, ids in groups.items()]


def _finding(f: Finding) -> dict[str, Any]:
    return {"code": f.code, "severity": f.severity, "message": f.message, "action": f.action}


def _diagnosis(ev: Evidence, trial: TrialRecord | None, tmp: Path, status: dict[str, str]
               ) -> dict[str, Any]:
    d = ev.diagnosis(trial)
    if isinstance(d, Missing):
        status["diagnosis"] = d.message
        return {"missing": d.message}
    plot = _png(draw_ladder(d, tmp / "ladder.png"))
    status["diagnosis"] = "ok"
    return {"missing": None, "trial": d.trial_id, "metric": d.metric, "rule": d.rule,
            "target": d.target, "errors": d.errors, "gaps": d.gaps, "largest": d.largest,
            "findings": [_finding(f) for f in d.findings], "plot": plot}


def _errors(ev: Evidence, trial: TrialRecord | None, tmp: Path, status: dict[str, str]
            ) -> dict[str, Any]:
    e = ev.error_analysis(trial)
    if isinstance(e, Missing):
        status["errors"] = e.message
        return {"missing": e.message}
    plot = _png(draw_categories(e, tmp / "errors.png")) if e.categories else None
    status["errors"] = "ok"
    return {"missing": None, "trial": e.trial_id, "n_examples": e.n_examples,
            "n_errors": e.n_errors, "dev_error": e.dev_error, "sample_size": e.sample_size,
            "categories": [{"dimension": c.dimension, "value": c.value, "count": c.count,
                            "share": c.share, "ceiling": c.ceiling}
                           for c in e.categories[:TOP_CATEGORIES]],
            "suspects": len(e.suspects), "findings": [_finding(f) for f in e.findings],
            "plot": plot}


def _promotions(ev: Evidence, record: RoundRecord | None) -> list[dict[str, Any]]:
    rows = []
    for d in ev.decisions_of(PromotionPayload):
        p = d.payload
        if record is not None and record.name not in (p.round, p.promotion_round):
            continue
        test = p.test or {}
        rows.append({"id": d.id, "at": _when(d.created_at), "round": p.round,
                     "trial": p.trial_id, "verdict": p.verdict,
                     "promoted": p.promoted, "gain": test.get("gain"),
                     "p_value": test.get("p_value"), "changed": p.changed,
                     "summary": d.summary})
    return rows


def _advice(ev: Evidence, status: dict[str, str]) -> dict[str, Any]:
    from tunebook.runbook.advise import advise_project

    a = advise_project(ev)
    status["advice"] = "ok"
    return {"bottleneck": a.bottleneck, "promote": a.baseline_update, "round": a.round,
            "next": a.next_steps}

