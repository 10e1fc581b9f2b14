r"""A Hugging Face Trainer script: which standard-library package does a 64-character snippet
of Python source come from (json, email, asyncio, unittest)? A 2-layer BERT, randomly
initialised from a BertConfig (no download), on characters.

It runs by hand as before; the lines marked # [tunebook] are the whole integration
(grep -c '# \[tunebook\]$' train.py).
"""
import argparse
import os
import pathlib
import random

import numpy as np
import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

from tunebook.integrations.hf import TunebookCallback  # [tunebook]

PACKAGES = ["json", "email", "asyncio", "unittest"]
LENGTH = 64


def snippets(seed: int, per_class: int) -> tuple[list[str], list[int]]:
    root = os.path.dirname(os.__file__)
    rng = random.Random(seed)
    texts, labels = [], []
    for label, pkg in enumerate(PACKAGES):
        files = sorted(f for f in os.listdir(os.path.join(root, pkg)) if f.endswith(".py"))
        text = "".join(pathlib.Path(root, pkg, f).read_text(encoding="utf-8") for f in files)
        for _ in range(per_class):
            i = rng.randrange(len(text) - LENGTH)
            texts.append(text[i:i + LENGTH])
            labels.append(label)
    return texts, labels


class Snippets(torch.utils.data.Dataset):
    def __init__(self, seed: int, per_class: int) -> None:
        texts, self.labels = snippets(seed, per_class)
        self.ids = torch.tensor([[min(ord(c), 127) + 1 for c in t] for t in texts])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": torch.tensor(self.labels[i])}


def accuracy(pred) -> dict[str, float]:
    return {"accuracy": float((np.argmax(pred.predictions, -1) == pred.label_ids).mean())}


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--warmup-ratio", type=float, default=0.1)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="hf-out")
    args = p.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    model = BertForSequenceClassification(BertConfig(
        vocab_size=129, hidden_size=args.hidden, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=2 * args.hidden, max_position_embeddings=LENGTH,
        num_labels=len(PACKAGES)))
    training = TrainingArguments(
        output_dir=args.out, max_steps=args.steps, learning_rate=args.lr,
        warmup_steps=int(args.warmup_ratio * args.steps), per_device_train_batch_size=32,
        eval_strategy="steps", eval_steps=50, logging_steps=25, save_strategy="no",
        report_to="none", use_cpu=True, disable_tqdm=True, seed=args.seed)
    Trainer(model=model, args=training, train_dataset=Snippets(0, 1000),
            eval_dataset=Snippets(1, 100), compute_metrics=accuracy,
            callbacks=[TunebookCallback()],  # [tunebook]
            ).train()
