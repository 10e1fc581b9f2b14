r"""A Lightning script: a small CNN on scikit-learn's digits, with Lightning's own loop.

It runs by hand as before; the lines marked # [tunebook] are the whole integration
(grep -c '# \[tunebook\]$' train.py).
"""
import argparse

import lightning as L
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from tunebook.integrations.lightning import TunebookCheckpoint, TunebookLogger  # [tunebook]


class DigitsCNN(L.LightningModule):
    def __init__(self, lr: float, width: int, weight_decay: float) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(1, width, 3, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(width, width, 3, padding=1), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(4 * width, 10))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_accuracy", (self.net(x).argmax(1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.hparams.lr,
                                 weight_decay=self.hparams.weight_decay)


def loaders(batch_size: int):
    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    x_tr, x_dev, y_tr, y_dev = train_test_split(x, torch.tensor(y), test_size=0.25,
                                                random_state=0, stratify=y)
    tr = torch.utils.data.TensorDataset(x_tr, y_tr)
    dev = torch.utils.data.TensorDataset(x_dev, y_dev)
    return (torch.utils.data.DataLoader(tr, batch_size=batch_size, shuffle=True),
            torch.utils.data.DataLoader(dev, batch_size=256))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    L.seed_everything(args.seed, verbose=False)
    torch.set_num_threads(1)
    train, dev = loaders(64)
    trainer = L.Trainer(max_epochs=args.epochs, accelerator="cpu", enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False,
                        logger=TunebookLogger(),  # [tunebook]
                        callbacks=[TunebookCheckpoint("val_accuracy", keep_best=1)],  # [tunebook]
                        )
    trainer.fit(DigitsCNN(args.lr, args.width, args.weight_decay), train, dev)
