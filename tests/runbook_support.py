"""A tiny pure-Python classification project with every split, predictions and a baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import write_project

from tunebook.core.spec import load_project, parse_round
from tunebook.experiments.baseline import run_baseline
from tunebook.rounds.lifecycle import create_round
from tunebook.store import Store
from tunebook.workers.execute import run_round

TRAIN_PY = '''
import math, os, random

def train(config, run):
    steps = int(config.get("max_train_steps", 40))
    lr = float(config.get("lr", 0.01))
    width = int(config.get("width", 8))
    warmup = int(config.get("warmup_steps") or 0)  # a script that honours warmup_steps
    quality_wd = 0.01 * float(config.get("weight_decay") or 0.0)  # and weight_decay
    rng = random.Random(run.seed)
    ladder = config.get("ladder")  # {split: accuracy}: plants an error ladder (test_advise)
    wrong = int(config.get("mislabelled", 0))  # the first ids carry a wrong label
    if os.environ.get("TUNEBOOK_TEST_PRINT"):  # user code that prints (the MCP test)
        print("training with", config)
    quality = 0.93 - 0.05 * (math.log10(lr) + 2) ** 2 + 0.002 * width - quality_wd
    for step in range(1, steps + 1):
        run.log(step, train_loss=2.0 / (1 + 0.2 * max(step - warmup, 0)))
        if run.should_eval(step) and ladder:
            run.log(step, **{f"{split}_accuracy": v for split, v in ladder.items()})
        elif run.should_eval(step):
            acc = quality * (0.6 + 0.4 * step / steps)
            run.log(step, dev_accuracy=acc, train_accuracy=min(1.0, acc + 0.04),
                    train_dev_accuracy=acc + 0.01, test_accuracy=acc - 0.01)
    ids = list(range(120))
    labels = [i % 3 for i in ids]
    preds = [y if rng.random() < quality else (y + 1) % 3 for y in labels]
    conf = [0.9 if p == y else 0.6 for p, y in zip(preds, labels)]
    for i in range(wrong):  # every model predicts the true class, sure of it: the label is wrong
        labels[i], preds[i], conf[i] = (i + 1) % 3, i % 3, 0.99
    run.save_predictions(ids, labels, preds, conf, split="dev")
'''

PROJECT: dict[str, Any] = {
    "name": "tiny-cls",
    "task": {"type": "classification", "goal": "sort tickets into three queues",
             "success": "dev accuracy >= 0.9", "target_error": 0.02},
    "metrics": [
        {"name": "accuracy", "split": "dev", "goal": "max"},
        {"name": "accuracy", "split": "train", "goal": "max"},
        {"name": "accuracy", "split": "train_dev", "goal": "max"},
        {"name": "accuracy", "split": "test", "goal": "max"},
        {"name": "loss", "split": "train", "goal": "min"},
    ],
    "constraints": [],
    "score": "dev/accuracy",
    "pipeline": "train:train",
    "eval_every": 10,
    "baseline": {"architecture": {"family": "mlp", "size": "small", "version": "2"},
                 "config": {"width": 8, "optimizer": "adamw", "lr": 0.01, "weight_decay": 0.0,
                            "batch_size": 32, "max_train_steps": 40}},
}

ROUND: dict[str, Any] = {
    "name": "width", "question": "Does a wider model help once lr is tuned?", "budget": 3,
    "seed": 0, "params": {
        "width": {"role": "target", "values": [8, 16]},
        "lr": {"role": "nuisance", "type": "float", "low": 1e-3, "high": 1e-1, "scale": "log"},
        "batch_size": {"role": "fixed", "value": 32}}}


def make_project(folder: Path, **over: Any) -> Path:
    return write_project(folder, {**PROJECT, **over}, TRAIN_PY)


def with_baseline(folder: Path, store: Store) -> None:
    run_baseline(store, load_project(folder / "tunebook.yaml"), folder, show_progress=False)


def with_round(folder: Path, store: Store, **over: Any) -> str:
    spec = parse_round({**ROUND, **over})
    create_round(store, load_project(folder / "tunebook.yaml"), spec)
    run_round(store, spec.name, folder, workers=1, executor="inline", show_progress=False)
    return spec.name
