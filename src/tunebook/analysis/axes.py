"""Axis plots' data, the boundary check and the divergence check (checklist 3.3).

For every tuned hyperparameter, each finished trial's best-during-training value against the
hyperparameter, with infeasible and diverged trials marked. Two checks read these points:

* **boundary**: the top trials crowd one edge of a nuisance range -> propose a wider range;
* **divergence**: diverged trials crowd one end of a range -> that end is a stability limit
  (checklist 5.2), not a search-space edge to widen.

Both checks need a geometric sign *and* a statistical one (a one-sided Mann-Whitney U test of
positions in the unit cube, top or diverged trials against the rest), so a hyperparameter that
does not matter, whose top trials land anywhere, stays quiet. The boundary check also asks that
the cluster of top trials reach the edge, so an interior optimum near an edge, pinned down by
many trials, is not mistaken for one beyond it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from tunebook.analysis.findings import Finding
from tunebook.analysis.records import Outcome, RoundRecords
from tunebook.core.space import Param

Edge = Literal["low", "high"]
P_MAX = 0.05          # significance of the position tests
BEST_BAND = 0.2       # the best trial lies within this fraction of the range from the edge
EDGE_BAND = 0.05      # the best trial this close to an edge is never "no boundary"
CROWD_BAND = 1 / 3    # at least half of the top (or diverged) trials lie in this outer part
WIDEN = 0.5           # a proposal widens the range by this fraction of its width ...
MAX_LOG_FACTOR = 10.0  # ... but a log range by at most one decade


@dataclass(frozen=True)
class TrialPoint:
    """One finished trial as the axis plots draw it."""

    trial: int
    group: dict[str, Any]
    config: dict[str, Any]      # the tuned hyperparameters only
    value: float | None         # None: diverged before any eval step
    outcome: Outcome


@dataclass(frozen=True)
class Axis:
    """One tuned hyperparameter: how to draw its axis."""

    param: str
    role: str                   # "target" | "nuisance"
    kind: str                   # "float" | "int" | "choice"
    scale: str                  # "linear" | "log"
    low: float | None
    high: float | None
    choices: list[Any] | None   # the values of a target or choice hyperparameter


@dataclass(frozen=True)
class BoundaryProposal:
    """The top trials sit near one edge of ``param``'s range."""

    param: str
    edge: Edge
    low: float
    high: float
    proposed_low: float | None   # None: no wider range is proposed (see ``reason``)
    proposed_high: float | None
    top_trials: list[int]
    top_values: list[Any]
    p_value: float
    reason: str                  # why no proposal, or "" when there is one


@dataclass(frozen=True)
class StabilityBound:
    """Diverged trials crowd one end of ``param``'s range: a stability limit."""

    param: str
    edge: Edge
    bound: float                 # beyond this value at least half the trials diverged
    diverged: list[int]
    diverged_beyond: int
    trials_beyond: int
    p_value: float


@dataclass(frozen=True)
class AxesResult:
    basis: str                   # which trials: "all trials" or stage 1 of a staged round
    points: list[TrialPoint]
    axes: list[Axis]
    top: list[int]               # the top trials used by the boundary check, best first
    boundaries: list[BoundaryProposal]
    stability: list[StabilityBound]
    findings: list[Finding]
    edge_best: list[EdgeBest] = field(default_factory=list)


@dataclass(frozen=True)
class EdgeBest:
    """The best trial sits at an edge of a range, in the range's own scale (log for a log
    range), although the other top trials do not crowd it (so no confirmed boundary)."""

    param: str
    edge: Edge
    trial: int
    value: Any
    position: float              # 0..1 across the range, log-space for a log range
    scale: str
    low: float
    high: float


def tuned_params(recs: RoundRecords) -> dict[str, Param]:
    """Target and nuisance hyperparameters of the round, in spec order."""
    return {k: p for k, p in recs.spec.params.items() if p.role in ("target", "nuisance")}


def axes(recs: RoundRecords, top: int = 5) -> AxesResult:
    """Points per tuned hyperparameter, the boundary check and the divergence check.

    >>> res = axes(load_records(store, "width"), top=5)          # doctest: +SKIP
    >>> [(b.param, b.edge, b.proposed_high) for b in res.boundaries]   # doctest: +SKIP
    [('lr', 'high', 0.3)]
    """
    params = tuned_params(recs)
    points = [TrialPoint(t.id, dict(t.group), {k: t.config.get(k) for k in params},
                         recs.values.get(t.id), recs.outcome(t)) for t in recs.sweep]
    axis_list = [Axis(k, p.role, p.kind if p.role == "nuisance" else "choice", p.scale,
                      p.low, p.high, list(p.values or p.choices or []) or None)
                 for k, p in params.items()]
    ranked = recs.ranked(distinct=True, sweep=True)
    top_ids = [t.id for t in ranked[:top]]
    rest_ids = [t.id for t in ranked[top:]]
    diverged = [t for t in recs.sweep if t.status == "diverged"]
    completed = [t for t in recs.sweep if t.status == "completed"]
    boundaries: list[BoundaryProposal] = []
    edges: list[EdgeBest] = []
    stability: list[StabilityBound] = []
    for name, p in params.items():
        if not _ranged(p):
            continue
        cfg = {t.id: t.config.get(name) for t in recs.trials}
        bound = _divergence(name, p, diverged, completed, cfg)
        if bound is not None:
            stability.append(bound)
        prop = _boundary(name, p, top_ids, rest_ids, cfg, bound)
        if prop is not None:
            boundaries.append(prop)
        elif bound is None and top_ids:
            lone = _edge_best(name, p, top_ids[0], cfg)
            if lone is not None:
                edges.append(lone)
    findings = [_boundary_finding(b, recs) for b in boundaries]
    findings += [_edge_finding(e) for e in edges]
    findings += [_stability_finding(s, len(diverged), _best_near(s, params[s.param], ranked))
                 for s in stability]
    findings += _scattered(recs, diverged, stability)
    return AxesResult(recs.basis, points, axis_list, top_ids, boundaries, stability, findings,
                      edges)


# -- checks ----------------------------------------------------------------------------------


def _ranged(p: Param) -> bool:
    return (p.role == "nuisance" and p.kind in ("float", "int") and p.low is not None
            and p.high is not None and p.high > p.low)


def _units(p: Param, ids: list[int], cfg: dict[int, Any]) -> list[float]:
    out = []
    for i in ids:
        v = cfg.get(i)
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and (
                p.scale != "log" or v > 0):
            out.append(min(max(p.to_unit(v), 0.0), 1.0))
    return out


def _shifted(a: list[float], b: list[float], edge: Edge) -> float:
    """One-sided Mann-Whitney p-value that ``a`` sits nearer ``edge`` than ``b``."""
    from scipy.stats import mannwhitneyu

    if len(a) < 2 or len(b) < 2:
        return 1.0
    alt = "greater" if edge == "high" else "less"
    return float(mannwhitneyu(a, b, alternative=alt).pvalue)


def _near(u: float, edge: Edge, band: float) -> bool:
    return u >= 1 - band if edge == "high" else u <= band


def _touches(p: Param, us: list[float], edge: Edge) -> bool:
    """The cluster of top trials reaches the edge: its nearest member is closer to the edge
    than half the cluster's width. A tight cluster a little way in (an interior optimum found
    by many trials) does not; an int range's edge cell counts as touching."""
    dist = [1 - u if edge == "high" else u for u in us]
    if p.kind == "int" and p.low is not None and p.high is not None:
        half_cell = 0.5 / (int(p.high) - int(p.low) + 1)
        dist = [max(0.0, d - half_cell) for d in dist]
    return min(dist) <= 0.5 * (max(us) - min(us)) or min(dist) == 0.0


def _boundary(name: str, p: Param, top_ids: list[int], rest_ids: list[int],
              cfg: dict[int, Any], bound: StabilityBound | None) -> BoundaryProposal | None:
    top_u, rest_u = _units(p, top_ids, cfg), _units(p, rest_ids, cfg)
    if len(top_u) < 2 or len(rest_u) < 2:
        return None
    for edge in ("high", "low"):
        e: Edge = edge  # type: ignore[assignment]
        crowd = sum(_near(u, e, CROWD_BAND) for u in top_u)
        if not (_near(top_u[0], e, BEST_BAND) and 2 * crowd >= len(top_u)
                and _touches(p, top_u, e)):
            continue
        pval = _shifted(top_u, rest_u, e)
        if pval >= P_MAX:
            continue
        assert p.low is not None and p.high is not None
        new_low, new_high, reason = _widen(p, e)
        if bound is not None and bound.edge == e:
            new_low, new_high = None, None
            reason = (f"trials diverge beyond {name} = {bound.bound:.3g}: the edge is a "
                      "stability limit")
        return BoundaryProposal(name, e, p.low, p.high, new_low, new_high, list(top_ids),
                                [cfg.get(i) for i in top_ids], pval, reason)
    return None


def _edge_best(name: str, p: Param, best: int, cfg: dict[int, Any]) -> EdgeBest | None:
    us = _units(p, [best], cfg)  # the position in the range's own scale (log for log ranges)
    if not us:
        return None
    for edge in ("high", "low"):
        e: Edge = edge  # type: ignore[assignment]
        if _near(us[0], e, EDGE_BAND):
            assert p.low is not None and p.high is not None
            return EdgeBest(name, e, best, cfg.get(best), us[0], p.scale, p.low, p.high)
    return None


def _edge_finding(e: EdgeBest) -> Finding:
    where = "top" if e.edge == "high" else "bottom"
    new_low, new_high = _widen_values(e)
    return Finding(
        "edge_best", "warning",
        f"The best trial ({e.trial}, {e.param} = {_fmt(e.value)}) sits at {100 * e.position:.0f}%"
        f" of {e.param}'s {'log ' if e.scale == 'log' else ''}range [{_fmt(e.low)}, "
        f"{_fmt(e.high)}]; the other top trials do not crowd that edge, so the boundary is not "
        "confirmed, but the best value may lie beyond it.",
        f"Widen {e.param} at the {where} (e.g. to [{_fmt(new_low)}, {_fmt(new_high)}]) or add "
        "trials near the edge to confirm (checklist 3.3: best points at the boundary -> expand "
        "the search range).",
        {"param": e.param, "edge": e.edge, "trial": e.trial, "value": e.value,
         "position": e.position, "range": [e.low, e.high], "scale": e.scale})


def _widen_values(e: EdgeBest) -> tuple[float, float]:
    if e.scale == "log":
        factor = min((e.high / e.low) ** WIDEN, MAX_LOG_FACTOR)
        return (e.low, e.high * factor) if e.edge == "high" else (e.low / factor, e.high)
    step = WIDEN * (e.high - e.low)
    return (e.low, e.high + step) if e.edge == "high" else (e.low - step, e.high)


def _widen(p: Param, edge: Edge) -> tuple[float | None, float | None, str]:
    """A range widened at ``edge`` by half its width (log: at most one decade)."""
    assert p.low is not None and p.high is not None
    lo, hi = p.low, p.high
    if p.scale == "log":
        factor = min((hi / lo) ** WIDEN, MAX_LOG_FACTOR)
        new_lo, new_hi = (lo, hi * factor) if edge == "high" else (lo / factor, hi)
    else:
        step = WIDEN * (hi - lo)
        new_lo, new_hi = (lo, hi + step) if edge == "high" else (lo - step, hi)
        if edge == "low" and lo >= 0 > new_lo:
            if lo == 0:  # a non-negative quantity already at 0 cannot go lower
                return None, None, "low is already 0: values below it are not meaningful"
            new_lo = 0.0
    if p.kind == "int":
        new_lo, new_hi = math.floor(new_lo), math.ceil(new_hi)
        if p.scale == "log":
            new_lo = max(new_lo, 1)
        if (new_lo, new_hi) == (lo, hi):
            return None, None, "an int range that cannot widen further"
    return new_lo, new_hi, ""


def _divergence(name: str, p: Param, diverged: list[Any], completed: list[Any],
                cfg: dict[int, Any]) -> StabilityBound | None:
    d_ids, c_ids = [t.id for t in diverged], [t.id for t in completed]
    d_u, c_u = _units(p, d_ids, cfg), _units(p, c_ids, cfg)
    if len(d_u) < 3 or len(c_u) < 2:
        return None
    best: StabilityBound | None = None
    for edge in ("high", "low"):
        e: Edge = edge  # type: ignore[assignment]
        crowd = sum(_near(u, e, CROWD_BAND) for u in d_u)
        if 2 * crowd < len(d_u):
            continue
        pval = _shifted(d_u, c_u, e)
        if pval >= P_MAX or (best is not None and pval >= best.p_value):
            continue
        bound, beyond, n_all = _threshold(p, d_ids, c_ids, cfg, e)
        best = StabilityBound(name, e, bound, sorted(beyond), len(beyond), n_all, pval)
    return best


def _threshold(p: Param, d_ids: list[int], c_ids: list[int], cfg: dict[int, Any],
               edge: Edge) -> tuple[float, list[int], int]:
    """The value nearest the middle beyond which (inclusive) at least half the trials diverged.

    Returns that value, the diverged trials beyond it and the number of trials beyond it.
    """
    rows = sorted([(p.to_unit(cfg[i]), i, True) for i in d_ids if _num(cfg.get(i))]
                  + [(p.to_unit(cfg[i]), i, False) for i in c_ids if _num(cfg.get(i))],
                  key=lambda r: r[0], reverse=edge == "high")
    beyond: list[int] = []
    chosen: tuple[float, list[int], int] = (float(cfg[rows[0][1]]), [], 0)
    for n, (_, tid, div) in enumerate(rows, start=1):
        if div:
            beyond.append(tid)
            if 2 * len(beyond) >= n:
                chosen = (float(cfg[tid]), list(beyond), n)
    return chosen


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


# -- findings --------------------------------------------------------------------------------


def _fmt(x: Any) -> str:
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def _of(recs: RoundRecords) -> str:
    return f" (of {recs.basis})" if recs.staged else ""


def _boundary_finding(b: BoundaryProposal, recs: RoundRecords) -> Finding:
    where = "top" if b.edge == "high" else "bottom"
    vals = ", ".join(_fmt(v) for v in b.top_values)
    message = (f"The top {len(b.top_trials)} trials{_of(recs)} sit near the {where} of "
               f"{b.param}'s range "
               f"[{_fmt(b.low)}, {_fmt(b.high)}] ({b.param} = {vals}; trials "
               f"{', '.join(map(str, b.top_trials))}): the best {b.param} may lie outside it.")
    evidence = {"param": b.param, "edge": b.edge, "range": [b.low, b.high],
                "trials": b.top_trials, "values": b.top_values, "p_value": b.p_value,
                "proposed": None if b.proposed_low is None else [b.proposed_low,
                                                                 b.proposed_high]}
    if b.proposed_low is None:
        action = (f"Do not widen {b.param} at the {where}: {b.reason}. "
                  + ("Make training stable there first (checklist 5.2: lr warmup, gradient "
                     "clipping, architecture hygiene), then widen."
                     if "stability" in b.reason else
                     f"Check whether {b.param} should be searched on another scale or range."))
        return Finding("boundary", "warning", message, action, evidence)
    action = (f"Widen {b.param} to [{_fmt(b.proposed_low)}, {_fmt(b.proposed_high)}] "
              f"({'log' if recs.spec.params[b.param].scale == 'log' else 'linear'} scale) and "
              "run the round again (checklist 3.3: best points at the boundary -> expand the "
              "search range).")
    return Finding("boundary", "warning", message, action, evidence)


def _best_near(s: StabilityBound, p: Param, ranked: list[Any]) -> tuple[int, Any] | None:
    """The best trial, when it sits just inside the stability bound (within 15% of the range)."""
    if not ranked or not _num(ranked[0].config.get(s.param)):
        return None
    v = ranked[0].config[s.param]
    if abs(p.to_unit(v) - p.to_unit(s.bound)) <= 0.15:
        return ranked[0].id, v
    return None


def _stability_finding(s: StabilityBound, n_diverged: int,
                       best_near: tuple[int, Any] | None) -> Finding:
    side = ">=" if s.edge == "high" else "<="
    message = (f"Diverged trials crowd the {'top' if s.edge == 'high' else 'bottom'} of "
               f"{s.param}'s range: {s.diverged_beyond} of the {s.trials_beyond} trials with "
               f"{s.param} {side} {_fmt(s.bound)} diverged ({n_diverged} diverged in all; "
               f"trials {', '.join(map(str, s.diverged[:10]))}"
               f"{' ...' if len(s.diverged) > 10 else ''}).")
    if best_near is not None:
        message += (f" The best trial ({best_near[0]}, {s.param} = {_fmt(best_near[1])}) sits "
                    "just inside it: stable training beyond it may score better.")
    action = (f"Treat {s.param} = {_fmt(s.bound)} as a stability bound, not a search-space "
              f"edge: keep the range {'below' if s.edge == 'high' else 'above'} it, or make "
              f"training stable there (checklist 5.2: lr warmup, gradient clipping "
              f"at the 90th percentile of gradient norms, architecture hygiene; lower the peak "
              f"lr last).")
    return Finding("stability_bound", "problem", message, action,
                   {"param": s.param, "edge": s.edge, "bound": s.bound,
                    "trials": s.diverged, "best_near": best_near,
                    "diverged_beyond": s.diverged_beyond,
                    "trials_beyond": s.trials_beyond, "p_value": s.p_value})


def _scattered(recs: RoundRecords, diverged: list[Any],
               stability: list[StabilityBound]) -> list[Finding]:
    n = len(recs.sweep)
    if stability or len(diverged) < 3 or len(diverged) < 0.1 * n:
        return []
    ids = [t.id for t in diverged]
    shown = ", ".join(map(str, ids[:10])) + (" ..." if len(ids) > 10 else "")
    return [Finding(
        "divergence_scattered", "warning",
        f"{len(diverged)} of {n} finished trials diverged, and no single hyperparameter's range "
        f"explains where (trials {shown}).",
        "Check training stability before more tuning (checklist 5.2): probe about 2x the best "
        "lr, scan lr warmup, clip gradients at the 90th percentile of their norm.",
        {"trials": ids, "finished": n})]
