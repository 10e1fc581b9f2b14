"""Train a small CNN on the digits splits: a plain PyTorch loop using the tunebook kit."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from prepare import SPLITS_FILE
from torch import nn

from tunebook import pytorch as tk


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


def batches(x: torch.Tensor, y: torch.Tensor, size: int,
            gen: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless random batches from in-memory tensors (the data order comes from ``gen``)."""
    while True:
        idx = torch.randint(0, len(y), (size,), generator=gen)
        yield x[idx], y[idx]


def train_step(model: nn.Module, opt: torch.optim.Optimizer,
               batch: tuple[torch.Tensor, torch.Tensor], clip: float | None = None
               ) -> tuple[float, float]:
    xb, yb = batch
    loss = nn.functional.cross_entropy(model(xb), yb)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = tk.clip_gradients(opt, clip)  # the unclipped norm; clipped only if asked
    opt.step()
    return loss.item(), grad_norm


def evaluate(model: nn.Module, split: tuple, batch_size: int) -> tuple[float, float]:
    x, y, _ = split
    logits = tk.predict(model, x, batch_size)
    return (nn.functional.cross_entropy(logits, y).item(),
            (logits.argmax(1) == y).float().mean().item())


def train(config: dict, run) -> None:
    seeds = tk.seed_everything(run)                            # init and data-order seeds
    splits = load_splits()
    model = Net(int(config["width"]))
    opt = tk.make_optimizer(model.parameters(), config, run)   # every hyperparameter recorded
    lr_at = tk.make_schedule(config, run)                      # constant unless configured
    clip, eval_batch = tk.clip_threshold(config), tk.eval_batch_size(config)
    gen = seeds.generator()
    ckpts = tk.Checkpoints(run, keep_best=1)                   # best dev step + the latest
    start = ckpts.resume(model, opt, gen)                      # 0 unless a retry resumes
    data = batches(*splits["train"][:2], int(config["batch_size"]), gen)
    for step in range(start + 1, int(config["max_train_steps"]) + 1):
        lr = tk.set_lr(opt, lr_at(step))
        loss, grad_norm = train_step(model, opt, next(data), clip)
        run.log(step, train_loss=loss, train_grad_norm=grad_norm, train_lr=lr)
        if run.should_eval(step):
            dev_loss, dev_acc = evaluate(model, splits["dev"], eval_batch)
            _, train_acc = evaluate(model, splits["train"], eval_batch)
            _, td_acc = evaluate(model, splits["train_dev"], eval_batch)
            run.log(step, dev_loss=dev_loss, dev_accuracy=dev_acc,
                    train_accuracy=train_acc, train_dev_accuracy=td_acc)
            ckpts.save(step, model, opt, gen)                  # scored by the project's score
    # Retrospective selection: report test accuracy and dev predictions of the best dev step.
    best_step = ckpts.load_best(model)
    run.log(best_step, test_accuracy=evaluate(model, splits["test"], eval_batch)[1])
    dx, dy, dids = splits["dev"]
    # Per-example predictions for error analysis; F1, AUC and calibration are recorded too.
    tk.save_predictions(run, dids, dy, tk.predict(model, dx, eval_batch), step=best_step)
    tk.measure_inference(model, dx[:1], run)                   # latency, peak memory


def make_step(config: dict) -> tuple:
    """Batches and one training step, for `tunebook batch-size` and `tunebook profile-input`."""
    x, y, _ = load_splits()["train"]
    model = Net(int(config["width"]))
    opt = tk.make_optimizer(model.parameters(), config)
    gen = torch.Generator().manual_seed(0)
    return (lambda size: batches(x, y, size, gen)), (lambda batch: train_step(model, opt, batch))
