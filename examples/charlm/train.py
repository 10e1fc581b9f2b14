"""A character-level Transformer language model on the Python standard library's own sources.

Every machine with Python has the corpus: the first ~600 KB of ``Lib/*.py`` in sorted order,
the first 90% for training and the rest for dev. Written for tunebook (``train(config, run)``),
reporting dev perplexity every ``eval_every`` steps and keeping the best checkpoint.
"""
from __future__ import annotations

import math
import os

import torch

from tunebook.pytorch import Checkpoints

CORPUS_BYTES = 600_000


def corpus() -> tuple[torch.Tensor, torch.Tensor]:
    root = os.path.dirname(os.__file__)
    text, size = [], 0
    for name in sorted(os.listdir(root)):
        if name.endswith(".py") and size < CORPUS_BYTES:
            with open(os.path.join(root, name), encoding="utf-8", errors="replace") as f:
                part = f.read()
            text.append(part)
            size += len(part)
    data = torch.tensor([min(ord(c), 127) for c in "".join(text)[:CORPUS_BYTES]])
    cut = int(0.9 * len(data))
    return data[:cut], data[cut:]


class CharLM(torch.nn.Module):
    def __init__(self, width: int, layers: int, heads: int, context: int, dropout: float):
        super().__init__()
        self.embed = torch.nn.Embedding(128, width)
        self.pos = torch.nn.Parameter(torch.zeros(context, width))
        layer = torch.nn.TransformerEncoderLayer(width, heads, 4 * width, dropout,
                                                 batch_first=True, norm_first=True)
        self.blocks = torch.nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = torch.nn.Linear(width, 128)
        self.register_buffer("mask", torch.nn.Transformer.generate_square_subsequent_mask(context))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x) + self.pos[: x.shape[1]]
        return self.head(self.blocks(h, mask=self.mask[: x.shape[1], : x.shape[1]],
                                     is_causal=True))


def batch(data: torch.Tensor, size: int, context: int, g: torch.Generator):
    i = torch.randint(len(data) - context - 1, (size,), generator=g)
    x = torch.stack([data[j:j + context] for j in i])
    y = torch.stack([data[j + 1:j + context + 1] for j in i])
    return x, y


@torch.no_grad()
def perplexity(model: CharLM, data: torch.Tensor, context: int) -> float:
    model.eval()
    g = torch.Generator().manual_seed(123)  # the same dev windows every time
    x, y = batch(data, 64, context, g)
    loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, 128), y.reshape(-1))
    model.train()
    return math.exp(float(loss))


def train(config, run):
    torch.manual_seed(run.seed)
    g = torch.Generator().manual_seed(run.seed)
    train_data, dev_data = corpus()
    context = int(config["context"])
    model = CharLM(int(config["width"]), int(config["layers"]), 4, context,
                   float(config["dropout"]))
    opt = torch.optim.AdamW(model.parameters(), lr=float(config["lr"]),
                            weight_decay=float(config["weight_decay"]))
    steps = int(config["max_train_steps"])
    warmup = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * s / steps)))
    ckpts = Checkpoints(run, keep_best=1)
    for step in range(1, steps + 1):
        x, y = batch(train_data, int(config["batch_size"]), context, g)
        loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, 128), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        run.log(step, train_loss=loss.item())
        if run.should_eval(step):
            run.log(step, dev_perplexity=perplexity(model, dev_data, context))
            ckpts.save(step, model, opt)
