"""Rounds with planted structure, written straight through the store API (no training).

``planted_round(store, params, trials)`` records a round whose trials end with the given curves,
scored exactly as ``run_trial`` scores them, so the analyses see what a real round leaves.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tunebook.core.score import best_step
from tunebook.core.spec import parse_project, parse_round
from tunebook.core.trial import RoundRecord
from tunebook.store import Store

PROJECT: dict[str, Any] = {
    "name": "planted",
    "task": {"type": "classification", "goal": "test the analyses"},
    "metrics": [{"name": "accuracy", "split": "dev", "goal": "max"},
                {"name": "loss", "split": "dev", "goal": "min"},
                {"name": "loss", "split": "train", "goal": "min"},
                {"name": "f1", "split": "dev", "goal": "max"}],
    "constraints": ["dev/loss <= 5"],
    "score": "dev/accuracy",
    "pipeline": "train:train",
}

Curve = dict[int, dict[str, float]]


def planted_round(store: Store, name: str, params: dict[str, Any],
                  trials: list[dict[str, Any]], question: str = "What is planted?",
                  budget: int = 1) -> RoundRecord:
    """Record a round and finish its trials.

    Each trial dict has ``config``, ``curve`` ({step: {metric: value}}) and optionally ``group``,
    ``status`` (completed | diverged | failed | queued), ``seed``, ``kind``, ``parent``
    (index of an earlier trial in the list, for seed replicates).
    """
    project = parse_project(PROJECT)
    spec = parse_round({"name": name, "question": question, "budget": budget,
                        "params": params})
    record = store.create_round(spec, project)
    scorer = project.scorer()
    ids: list[int] = []
    for i, t in enumerate(trials):
        parent = ids[t["parent"]] if "parent" in t else None
        ids += store.add_trials(record.id, [{
            "config": t["config"], "group": t.get("group", {}), "seed": t.get("seed", i),
            "kind": t.get("kind", "search"), "parent_id": parent, "meta": t.get("meta", {})}],
            kind=t.get("kind", "search"))
    for tid, t in zip(ids, trials, strict=True):
        status = t.get("status", "completed")
        if status == "queued":
            continue
        claimed = store.claim(record.id, "planted", 60)
        assert claimed is not None and claimed[0].id == tid
        token = claimed[1]
        store.log_points([(tid, s, k, v) for s, m in t["curve"].items() for k, v in m.items()])
        best = best_step(t["curve"], scorer)
        store.finish(tid, token, status, error="planted" if status != "completed" else None,
                     best_step=best.step, score=best.score, feasible=best.feasible,
                     best_metrics=best.metrics)
    return record


def acc_curve(final: float, steps: int = 500, every: int = 50, *, loss: bool = True,
              dev_loss: float = 0.5, rng: np.random.Generator | None = None,
              noise: float = 0.0) -> Curve:
    """A healthy curve rising to ``final`` at about 60% of training, then flat-ish."""
    curve: Curve = {}
    peak = 0.65 * steps
    for s in range(1, steps + 1):
        m: dict[str, float] = {}
        if loss:
            m["train/loss"] = 2.0 * math.exp(-s / (0.2 * steps)) + 0.1
        if s % every == 0:
            # Rises to final at `peak`, then declines by 1% of the rise by the end.
            rise = final - 0.1
            x = s / peak
            v = 0.1 + rise * (1 - (1 - x) ** 2) if x <= 1 else final - 0.01 * rise * (
                (s - peak) / (steps - peak))
            if rng is not None and noise:
                v += float(rng.normal(0, noise))
            m["dev/accuracy"] = v
            m["dev/loss"] = dev_loss
        if m:
            curve[s] = m
    return curve


def unit_configs(n: int, names: list[str], seed: int = 0) -> list[dict[str, float]]:
    """``n`` points spread over the unit cube (a scrambled Halton sequence)."""
    from scipy.stats import qmc

    pts = qmc.Halton(d=len(names), scramble=True, seed=seed).random(n)
    return [dict(zip(names, map(float, p), strict=True)) for p in pts]


def log_value(u: float, low: float, high: float) -> float:
    return float(low * math.exp(u * math.log(high / low)))


def score_round(store: Store, name: str, n: int, fn: Callable[[float, float], float | None],
                *, seed: int = 0) -> RoundRecord:
    """A round over lr (log 1e-4..1e-1) and wd (log 1e-6..1e-2) whose final dev accuracy is
    ``fn(u_lr, u_wd)``; None means the trial diverges."""
    params = {"lr": {"role": "nuisance", "type": "float", "low": 1e-4, "high": 1e-1,
                     "scale": "log"},
              "wd": {"role": "nuisance", "type": "float", "low": 1e-6, "high": 1e-2,
                     "scale": "log"}}
    trials = []
    for u in unit_configs(n, ["lr", "wd"], seed):
        acc = fn(u["lr"], u["wd"])
        config = {"lr": log_value(u["lr"], 1e-4, 1e-1), "wd": log_value(u["wd"], 1e-6, 1e-2),
                  "max_train_steps": 200}
        if acc is None:
            curve = acc_curve(0.3, steps=200, every=50)
            curve = {s: m for s, m in curve.items() if s <= 100}
            curve[101] = {"train/loss": math.nan}
            trials.append({"config": config, "curve": curve, "status": "diverged"})
        else:
            trials.append({"config": config, "curve": acc_curve(acc, steps=200, every=50)})
    return planted_round(store, name, params, trials)
