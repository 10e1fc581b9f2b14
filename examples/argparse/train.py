r"""A plain argparse PyTorch script: an MLP on scikit-learn's digits (8x8 images, 10 classes).

It runs by hand (python train.py --lr 0.01) exactly as before tunebook; the lines marked
# [tunebook] are the whole integration (count them: grep -c '# \[tunebook\]$' train.py).
"""
import argparse

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from tunebook import report  # [tunebook]

p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, default=0.01)
p.add_argument("--hidden", type=int, default=64)
p.add_argument("--epochs", type=int, default=20)
p.add_argument("--batch-size", type=int, default=64)
p.add_argument("--seed", type=int, default=0)
args = p.parse_args()

torch.manual_seed(args.seed)
torch.set_num_threads(1)
x, y = load_digits(return_X_y=True)
x_tr, x_dev, y_tr, y_dev = train_test_split(x / 16.0, y, test_size=0.25, random_state=0,
                                            stratify=y)
x_tr, x_dev = torch.tensor(x_tr, dtype=torch.float32), torch.tensor(x_dev, dtype=torch.float32)
y_tr, y_dev = torch.tensor(y_tr), torch.tensor(y_dev)
model = torch.nn.Sequential(torch.nn.Linear(64, args.hidden), torch.nn.ReLU(),
                            torch.nn.Linear(args.hidden, 10))
opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
for epoch in range(1, args.epochs + 1):
    perm = torch.randperm(len(x_tr))
    total = 0.0
    for i in range(0, len(x_tr), args.batch_size):
        idx = perm[i:i + args.batch_size]
        loss = torch.nn.functional.cross_entropy(model(x_tr[idx]), y_tr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
    with torch.no_grad():
        acc = float((model(x_dev).argmax(1) == y_dev).float().mean())
    print(f"epoch {epoch}: train loss {total / len(x_tr):.4f}, dev accuracy {acc:.4f}")
    report(epoch, train_loss=total / len(x_tr), dev_accuracy=acc)  # [tunebook]
