"""Train a small CNN on the digits splits: a plain PyTorch loop with five tunebook lines."""

from __future__ import annotations

import copy

import numpy as np
import torch
from prepare import SPLITS_FILE
from torch import nn


def load_splits() -> dict[str, tuple[torch.Tensor, torch.Tensor, np.ndarray]]:
    data = np.load(SPLITS_FILE)
    return {s: (torch.from_numpy(data[f"{s}_x"]).unsqueeze(1), torch.from_numpy(data[f"{s}_y"]),
                data[f"{s}_id"]) for s in ("train", "train_dev", "dev", "test")}


class Net(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Linear(2 * width * 16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    logits = model(x)
    model.train()
    loss = nn.functional.cross_entropy(logits, y).item()
    return loss, (logits.argmax(1) == y).float().mean().item()


def train(config: dict, run) -> None:
    torch.manual_seed(run.seed)
    splits = load_splits()
    x, y, _ = splits["train"]
    model = Net(int(config["width"]))
    opt_cls = {"adam": torch.optim.AdamW, "sgd": torch.optim.SGD}[config["optimizer"]]
    opt = opt_cls(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    gen = torch.Generator().manual_seed(run.seed + 1)  # data order, separate from init
    best_acc, best_state = -1.0, None
    steps, batch = int(config["max_train_steps"]), int(config["batch_size"])
    for step in range(1, steps + 1):
        idx = torch.randint(0, len(y), (batch,), generator=gen)
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        run.log(step, train_loss=loss.item())                           # tunebook
        if run.should_eval(step):                                        # tunebook
            dev_loss, dev_acc = evaluate(model, *splits["dev"][:2])
            _, train_acc = evaluate(model, x, y)
            _, td_acc = evaluate(model, *splits["train_dev"][:2])
            run.log(step, dev_loss=dev_loss, dev_accuracy=dev_acc,       # tunebook
                    train_accuracy=train_acc, train_dev_accuracy=td_acc)
            if dev_acc > best_acc:
                best_acc, best_step = dev_acc, step
                best_state = copy.deepcopy(model.state_dict())
    # Report the best dev checkpoint (retrospective selection): test accuracy and predictions.
    assert best_state is not None
    model.load_state_dict(best_state)
    _, test_acc = evaluate(model, *splits["test"][:2])
    run.log(best_step, test_accuracy=test_acc)
    run.save_checkpoint(best_step, best_state)
    dx, dy, dids = splits["dev"]
    with torch.no_grad():
        probs = torch.softmax(model(dx), 1)
    conf, pred = probs.max(1)
    run.save_predictions(dids, dy, pred, conf, step=best_step, split="dev")  # tunebook
