"""Generating the deep-learning table: small networks trained over a grid of hyperparameters.

One grid, nine hyperparameters of mixed kinds (four choices, two ordinal ints, two log floats,
one linear float), multilayer perceptrons trained on datasets that scikit-learn ships (no
downloads): ``digits`` (1,797 8x8 images, 10 classes) and ``breast_cancer`` (569 rows, 30
features, 2 classes).

==============  ================================  ==========================================
name            kind, range                       grid (a suggestion snaps to the nearest)
==============  ================================  ==========================================
optimizer       choice                            adam, sgd (momentum 0.9)
activation      choice                            relu, tanh
batch_size      choice                            16, 32, 64
schedule        choice                            constant, cosine (to zero at the end)
layers          int 1-3                           1, 2, 3 (exact)
width           int 16-64, log                    16, 32, 64 (nearest in log space)
lr              float 1e-4 - 1, log               1e-4, 1e-3, 1e-2, 1e-1, 1 (nearest in log)
weight_decay    float 1e-6 - 1e-2, log            1e-6, 1e-4, 1e-2 (nearest in log space)
dropout         float 0 - 0.5                     0, 0.25, 0.5 (nearest)
==============  ================================  ==========================================

Every one of the 9,720 configs is trained with three seeds (the seed sets the initialization
and the batch order; dropout masks are drawn per model; the 70/30 train/dev split is fixed).
To make that affordable on two shared cores, one "batched" training runs the 5 x 3 x 3 (lr,
weight decay, seed) models of one of the 648 outer cells side by side as a stack of
independent networks (batched matrix products; the optimizers written out elementwise so that
each model has its own learning rate and weight decay). The models never mix: each has its
own parameters, batches and optimizer state, exactly as 45 separate runs would.

Each model trains for ``STEPS`` (120) steps; the dev set is scored after ``SHORT`` (30) steps
and at the end: error rate and cross-entropy. A run whose loss blew up (non-finite) scores
the metric's cap (``CAP``: error 1, loss 10), as a diverged trial is told the worst score; a
finite loss above 10 is capped too.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

GRID: dict[str, list[Any]] = {
    "optimizer": ["adam", "sgd"],
    "activation": ["relu", "tanh"],
    "batch_size": [16, 32, 64],
    "schedule": ["constant", "cosine"],
    "layers": [1, 2, 3],
    "width": [16, 32, 64],
    "lr": [1e-4, 1e-3, 1e-2, 1e-1, 1.0],
    "weight_decay": [1e-6, 1e-4, 1e-2],
    "dropout": [0.0, 0.25, 0.5],
}
OUTER = ("optimizer", "activation", "batch_size", "schedule", "layers", "width", "dropout")
INNER = ("lr", "weight_decay")  # trained side by side in one batched run, with the seeds
SEEDS = (0, 1, 2)
STEPS, SHORT = 120, 30
METRICS = ("error", "loss")  # classification: dev error rate, dev cross-entropy; regression: MSE
DATASETS = ("digits", "breast_cancer")
CAP = {"error": 1.0, "loss": 10.0}


@dataclass(frozen=True)
class Data:
    x_train: np.ndarray
    y_train: np.ndarray
    x_dev: np.ndarray
    y_dev: np.ndarray
    classes: int  # 0: regression


def load(name: str) -> Data:
    """A scikit-learn dataset, standardized on its train part, split 70/30 once (seed 0)."""
    from sklearn import datasets

    loader = {"digits": datasets.load_digits, "breast_cancer": datasets.load_breast_cancer,
              "wine": datasets.load_wine, "diabetes": datasets.load_diabetes}[name]
    x, y = loader(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    cut = int(0.7 * len(x))
    tr, dv = order[:cut], order[cut:]
    mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-8
    x = (x - mu) / sd
    classes = 0 if name == "diabetes" else int(y.max()) + 1
    if classes == 0:  # the regression target standardized too: an MSE of 1 = predicting the mean
        y = (y - y[tr].mean()) / y[tr].std()
    return Data(x[tr].astype(np.float32), y[tr], x[dv].astype(np.float32), y[dv], classes)


def cells() -> list[dict[str, Any]]:
    """The outer cells (one batched training each), in a fixed order."""
    return [dict(zip(OUTER, v, strict=True)) for v in itertools.product(*(GRID[k] for k in OUTER))]


def train(data: Data, cell: dict[str, Any]) -> np.ndarray:
    """The 45 models of one cell: metrics, (lr, weight_decay, seed, [short, end], metric)."""
    import torch

    torch.set_num_threads(1)
    combos = list(itertools.product(GRID["lr"], GRID["weight_decay"], SEEDS))
    m = len(combos)
    lr = torch.tensor([c[0] for c in combos], dtype=torch.float32).view(m, 1, 1)
    wd = torch.tensor([c[1] for c in combos], dtype=torch.float32).view(m, 1, 1)
    seeds = [c[2] for c in combos]
    out_dim = data.classes or 1
    sizes = [data.x_train.shape[1]] + [cell["width"]] * cell["layers"] + [out_dim]
    # Initialization from the seed alone: the same seed starts from the same weights whatever
    # its lr and weight decay (PyTorch's default uniform(+-1/sqrt(fan_in))).
    params: list[torch.Tensor] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        bound = 1 / math.sqrt(a)
        ws, bs = [], []
        for s in SEEDS:
            g = torch.Generator().manual_seed(1000 * s + i)
            ws.append(torch.empty(a, b).uniform_(-bound, bound, generator=g))
            bs.append(torch.empty(1, b).uniform_(-bound, bound, generator=g))
        params.append(torch.stack([ws[SEEDS.index(s)] for s in seeds]).requires_grad_())
        params.append(torch.stack([bs[SEEDS.index(s)] for s in seeds]).requires_grad_())
    xt = torch.from_numpy(data.x_train)
    yt = torch.from_numpy(data.y_train.astype(np.int64 if data.classes else np.float32))
    n, bsz = len(xt), cell["batch_size"]
    # Batch order from the seed alone, like the initialization.
    orders = {s: np.random.default_rng(s).integers(0, n, (STEPS, bsz)) for s in SEEDS}
    idx = torch.from_numpy(np.stack([orders[s] for s in seeds], axis=1))  # (steps, m, bsz)
    drop_gen = torch.Generator().manual_seed(7)
    act = torch.relu if cell["activation"] == "relu" else torch.tanh
    state = [torch.zeros_like(p) for p in params]
    state2 = [torch.zeros_like(p) for p in params]
    opt = cell["optimizer"]
    out = np.empty((len(GRID["lr"]), len(GRID["weight_decay"]), len(SEEDS), 2, len(METRICS)),
                   dtype=np.float32)

    def forward(x: torch.Tensor, train: bool) -> torch.Tensor:
        h = x
        for j in range(0, len(params), 2):
            h = torch.baddbmm(params[j + 1], h, params[j])
            if j + 2 < len(params):
                h = act(h)
                if train and cell["dropout"] > 0:
                    keep = 1 - cell["dropout"]
                    h = h * (torch.rand(h.shape, generator=drop_gen) < keep) / keep
        return h

    def loss_of(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-model mean loss, shape (m,)."""
        if data.classes:
            lp = torch.log_softmax(logits, -1)
            return -lp.gather(-1, y.unsqueeze(-1)).squeeze(-1).mean(-1)
        return ((logits.squeeze(-1) - y) ** 2).mean(-1)

    def evaluate(slot: int) -> None:
        with torch.no_grad():
            xd = torch.from_numpy(data.x_dev).expand(m, -1, -1)
            yd = torch.from_numpy(data.y_dev.astype(np.int64 if data.classes else np.float32))
            logits = forward(xd, train=False)
            loss = loss_of(logits, yd.expand(m, -1)).numpy()
            err = (logits.argmax(-1) != yd).float().mean(-1).numpy() if data.classes else loss
            bad = ~np.isfinite(loss) | ~np.isfinite(err)
            loss = np.where(bad | (loss > CAP["loss"]), CAP["loss"], loss)
            err = np.where(bad, CAP["error"] if data.classes else CAP["loss"], err)
            if not data.classes:
                err = np.minimum(err, CAP["loss"])
        out[..., slot, 0] = err.reshape(out.shape[:3])
        out[..., slot, 1] = loss.reshape(out.shape[:3])

    for t in range(STEPS):
        scale = 0.5 * (1 + math.cos(math.pi * t / STEPS)) if cell["schedule"] == "cosine" else 1.0
        batch = idx[t]
        loss = loss_of(forward(xt[batch], train=True), yt[batch]).sum()
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for k, (p, g) in enumerate(zip(params, grads, strict=True)):
                g = g + wd * p
                if opt == "sgd":
                    state[k].mul_(0.9).add_(g)
                    step = state[k]
                else:  # adam
                    state[k].mul_(0.9).add_(g, alpha=0.1)
                    state2[k].mul_(0.999).addcmul_(g, g, value=0.001)
                    mhat = state[k] / (1 - 0.9 ** (t + 1))
                    vhat = state2[k] / (1 - 0.999 ** (t + 1))
                    step = mhat / (vhat.sqrt() + 1e-8)
                p.sub_(lr * scale * step)
        if t + 1 == SHORT:
            evaluate(0)
    evaluate(1)
    return out


def generate(dataset: str, partial: Path, part: tuple[int, int] = (0, 1),
             reverse: bool = False, limit_s: float | None = None) -> int:
    """Train every cell of ``dataset`` not yet in ``partial`` (JSON lines) whose index is
    ``part[0]`` modulo ``part[1]`` (so that processes can share a dataset); returns cells done."""
    data = load(dataset)
    done = set()
    for path in partial.parent.glob(f"{dataset}*.jsonl"):  # any process's file of this dataset
        for line in path.read_text().splitlines():
            try:
                done.add(json.loads(line)["cell"])
            except (json.JSONDecodeError, KeyError):
                continue
    t0 = time.time()
    todo = [(i, c) for i, c in enumerate(cells()) if i not in done and i % part[1] == part[0]]
    done = {i for i in done if i % part[1] == part[0]}
    if reverse:  # a second process on the same dataset, from the other end
        todo.reverse()
    for k, (i, c) in enumerate(todo):
        s = time.time()
        values = train(data, c)
        with partial.open("a") as fh:
            fh.write(json.dumps({"cell": i, "seconds": round(time.time() - s, 3),
                                 "values": np.round(values, 5).tolist()}) + "\n")
        if k % 20 == 0:
            print(f"{dataset}: {len(done) + k + 1}/{len(cells())} cells, "
                  f"{time.time() - t0:.0f}s", flush=True)
        if limit_s is not None and time.time() - t0 > limit_s:
            break
    return len(done) + len(todo)
