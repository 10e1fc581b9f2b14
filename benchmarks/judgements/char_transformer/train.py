"""A small Transformer language model on characters of the Python standard library's source.

One causal encoder layer (d=32) reads 32-character windows of a few stdlib modules (offline).
The budget is short: dev loss is still falling when training stops (train longer).
"""
import sysconfig
from pathlib import Path

import torch

FILES = ("textwrap.py", "shlex.py", "fnmatch.py", "glob.py")


def text() -> torch.Tensor:
    root = Path(sysconfig.get_paths()["stdlib"])
    raw = "".join((root / f).read_text(encoding="utf-8") for f in FILES)
    return torch.tensor([min(ord(c), 127) for c in raw], dtype=torch.long)


class Model(torch.nn.Module):
    def __init__(self, d: int = 32, seq: int = 32) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(128, d)
        self.pos = torch.nn.Parameter(torch.zeros(seq, d))
        self.block = torch.nn.TransformerEncoderLayer(d, 2, 64, dropout=0.0, batch_first=True)
        self.out = torch.nn.Linear(d, 128)
        self.register_buffer("mask", torch.nn.Transformer.generate_square_subsequent_mask(seq))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.emb(x) + self.pos[: x.shape[1]]
        return self.out(self.block(h, src_mask=self.mask, is_causal=True))


def train(config, run):
    torch.manual_seed(run.seed)
    torch.set_num_threads(1)
    data = text()
    cut = int(0.9 * len(data))
    tr, dev = data[:cut], data[cut:]
    seq = 32
    g = torch.Generator().manual_seed(run.seed)
    starts = torch.arange(0, len(dev) - seq - 1, (len(dev) - seq - 1) // 64)[:64]
    xdev = torch.stack([dev[s:s + seq] for s in starts])
    ydev = torch.stack([dev[s + 1:s + seq + 1] for s in starts])
    model = Model(seq=seq)
    opt = torch.optim.Adam(model.parameters(), lr=config["lr"])
    lossf = torch.nn.CrossEntropyLoss()
    for step in range(1, int(config["max_train_steps"]) + 1):
        idx = torch.randint(0, len(tr) - seq - 1, (16,), generator=g)
        x = torch.stack([tr[i:i + seq] for i in idx])
        y = torch.stack([tr[i + 1:i + seq + 1] for i in idx])
        loss = lossf(model(x).reshape(-1, 128), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        run.log(step, train_loss=loss.item())
        if run.should_eval(step):
            with torch.no_grad():
                run.log(step, dev_loss=lossf(model(xdev).reshape(-1, 128),
                                             ydev.reshape(-1)).item())
