"""A real, small epoch-based PyTorch script, written the way people write them.

Epochs over an unshuffled ``DataLoader``, ``StepLR`` stepped once per epoch, a plain
``torch.optim.SGD`` (no kit), a global step counted across epochs, evaluation when
``run.should_eval(step)`` (inside epochs), and a stop in the middle of an epoch at
``max_train_steps``. Its only tunebook lines are ``run.watch``, ``run.log``, ``run.should_eval``
and ``run.save_predictions``, as in the README's integration section.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import write_project

EPOCH_TRAIN_PY = '''
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

METRIC = "dev_accuracy"


def data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(112, 4, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    return x[:64], y[:64], x[64:], y[64:]


def train(config, run):
    torch.manual_seed(run.seed)
    xtr, ytr, xdev, ydev = data()
    loader = DataLoader(TensorDataset(xtr, ytr), batch_size=config["batch_size"],
                        shuffle=False)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=config["step_size"], gamma=0.5)
    run.watch(opt)                      # records the optimizer and the lr of every step
    max_steps = config["max_train_steps"]
    step = 0                            # the global step, counted across epochs
    while step < max_steps:
        for xb, yb in loader:
            step += 1
            loss = nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            run.log(step, train_loss=loss.item())
            if run.should_eval(step):   # may fall in the middle of an epoch
                with torch.no_grad():
                    logits = model(xdev)
                run.log(step, **{METRIC: (logits.argmax(1) == ydev).float().mean().item(),
                                 "dev_loss": nn.functional.cross_entropy(logits, ydev).item()})
            if step == max_steps:       # stop mid-epoch
                break
        sched.step()                    # StepLR counts epochs
    with torch.no_grad():
        pred = model(xdev).argmax(1)
    run.save_predictions(list(range(len(ydev))), ydev.tolist(), pred.tolist(), step=step)
'''

EPOCH_PROJECT: dict[str, Any] = {
    "name": "epochs",
    "task": {"type": "classification", "goal": "route parcels by two sensor readings",
             "success": "dev accuracy >= 0.9"},
    "metrics": [{"name": "accuracy", "split": "dev", "goal": "max"},
                {"name": "loss", "split": "dev", "goal": "min"},
                {"name": "loss", "split": "train", "goal": "min"}],
    "score": "dev/accuracy",
    "pipeline": "train:train",
    "eval_every": 5,
    # 64 examples / 16 per batch = 4 steps per epoch; 30 steps end half-way through epoch 8.
    # warmup_steps is in the config, but this script never reads it.
    "baseline": {"config": {"lr": 0.2, "batch_size": 16, "step_size": 2, "max_train_steps": 30,
                            "warmup_steps": 3}},
}


def epoch_project(folder: Path, metric: str = "dev_accuracy") -> Path:
    src = EPOCH_TRAIN_PY.replace('METRIC = "dev_accuracy"', f"METRIC = {metric!r}")
    return write_project(folder, EPOCH_PROJECT, src)
