"""A tiny project whose final score is predictable from a short run (for the rounds tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import PROJECT, write_project

from tunebook.core.spec import load_project, parse_round
from tunebook.rounds.lifecycle import create_round
from tunebook.store import Store

# dev accuracy rises towards a ceiling q(lr) that peaks at lr = 0.01, so a short run ranks
# configs as a long one does; the seed adds a small, known wobble; lr > 0.5 fails at step 3
# when "fail_high" is set; train loss falls exponentially at a rate set by lr.
TRAIN_PY = '''
import math, time

def train(config, run):
    steps = int(config["max_train_steps"])
    lr = float(config.get("lr", 0.01))
    q = 0.95 - 0.1 * (math.log10(lr) + 2) ** 2 + 0.002 * (run.seed % 3)
    for step in range(1, steps + 1):
        if config.get("fail_high") and lr > 0.5 and step == 3:
            raise RuntimeError("planted failure at step 3")
        run.log(step, train_loss=0.05 + 2.0 * math.exp(-step / 40))
        if run.should_eval(step):
            acc = q * (1 - math.exp(-step / 30))
            run.log(step, dev_accuracy=acc, dev_latency_ms=float(config.get("latency", 1.0)),
                    dev_loss=1 - acc + 0.01 * float(config.get("latency", 1.0)))
        time.sleep(float(config.get("sleep", 0.0)))
'''

ROUNDS_PROJECT: dict[str, Any] = {
    **PROJECT,
    "metrics": [*PROJECT["metrics"], {"name": "loss", "split": "dev", "goal": "min"}],
}

LR = {"role": "nuisance", "type": "float", "low": 1e-4, "high": 1.0, "scale": "log"}


def rounds_project(folder: Path) -> Path:
    return write_project(folder, ROUNDS_PROJECT, TRAIN_PY)


def make_round(store: Store, project_dir: Path, **over: Any) -> str:
    """Create a round (default: lr nuisance, 8 trials, 100 steps) and return its name."""
    # quasi_random explicitly: the whole budget is queued up front whatever the default is
    spec: dict[str, Any] = {"name": "r1", "question": "what lr?", "budget": 8, "seed": 0,
                            "algorithm": "quasi_random", "max_train_steps": 100,
                            "params": {"lr": LR}}
    spec.update(over)
    project = load_project(project_dir / "tunebook.yaml")
    create_round(store, project, parse_round(spec))
    return str(spec["name"])


def finish_fake(store: Store, round_name: str, score_of: dict[int, float] | None = None) -> None:
    """Complete every queued trial without training (score = -lr distance, or ``score_of``)."""
    rid = store.round(round_name).id
    while (c := store.claim(rid, "fake", 60)) is not None:
        t, token = c
        score = (score_of or {}).get(t.id, t.config.get("lr", 0.0))
        store.finish(t.id, token, "completed", best_step=1, score=score, feasible=True,
                     best_metrics={"dev/accuracy": score})
