"""A small CNN trained on lab scans, evaluated on train, train_dev (lab) and dev/test (field)."""

from __future__ import annotations

import numpy as np
import torch
from prepare import SPLITS_FILE
from torch import nn


def load() -> dict[str, tuple[torch.Tensor, torch.Tensor, np.ndarray]]:
    data = np.load(SPLITS_FILE)
    return {s: (torch.from_numpy(data[f"{s}_x"]).unsqueeze(1), torch.from_numpy(data[f"{s}_y"]),
                data[f"{s}_id"]) for s in ("train", "train_dev", "dev", "test")}


def net(width: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(width * 16, 10))


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    logits = model(x)
    return nn.functional.cross_entropy(logits, y).item(), (logits.argmax(1) == y).float().mean(
    ).item()


def train(config: dict, run) -> None:
    torch.manual_seed(run.seed)
    splits = load()
    x, y, _ = splits["train"]
    model = net(int(config["width"]))
    opt = torch.optim.AdamW(model.parameters(), lr=config["lr"],
                            weight_decay=config["weight_decay"])
    gen = torch.Generator().manual_seed(run.seed + 1)
    best = (-1.0, 0)
    for step in range(1, int(config["max_train_steps"]) + 1):
        idx = torch.randint(0, len(y), (int(config["batch_size"]),), generator=gen)
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        run.log(step, train_loss=loss.item())
        if run.should_eval(step):
            dev_loss, dev_acc = evaluate(model, *splits["dev"][:2])
            run.log(step, dev_loss=dev_loss, dev_accuracy=dev_acc,
                    train_accuracy=evaluate(model, x, y)[1],
                    train_dev_accuracy=evaluate(model, *splits["train_dev"][:2])[1],
                    test_accuracy=evaluate(model, *splits["test"][:2])[1])
            best = max(best, (dev_acc, step))
    dx, dy, dids = splits["dev"]
    with torch.no_grad():
        probs = torch.softmax(model(dx), 1)
    conf, pred = probs.max(1)
    run.save_predictions(dids, dy, pred, conf, step=best[1], split="dev")
