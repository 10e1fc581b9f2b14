"""An epoch loop with StepLR and an unshuffled loader (a linear classifier on 4 blobs).

The training file is stored hardest-first: its first batch holds 50 examples whose labels were
scrambled at collection, so every epoch starts with a loss spike (the loader's period), while
the model itself trains stably. Dev accuracy saturates within a few epochs of fifteen.
"""
import torch
from torch.utils.data import DataLoader, TensorDataset


def data(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(4, 10, generator=g) * 3
    def draw(n):
        y = torch.randint(0, 4, (n,), generator=g)
        return centres[y] + torch.randn(n, 10, generator=g), y
    xtr, ytr = draw(800)
    ytr[:50] = torch.randint(0, 4, (50,), generator=g)   # scrambled block, stored first
    xdev, ydev = draw(400)
    return xtr, ytr, xdev, ydev


def train(config, run):
    torch.manual_seed(run.seed)
    torch.set_num_threads(1)
    xtr, ytr, xdev, ydev = data()
    loader = DataLoader(TensorDataset(xtr, ytr), batch_size=50, shuffle=False)  # unshuffled
    model = torch.nn.Linear(10, 4)
    opt = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5)
    lossf = torch.nn.CrossEntropyLoss()
    step = 0
    for _epoch in range(int(config["epochs"])):
        for xb, yb in loader:
            step += 1
            loss = lossf(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            run.log(step, train_loss=loss.item())
        sched.step()
        with torch.no_grad():
            dev = model(xdev)
            run.log(step, dev_accuracy=(dev.argmax(1) == ydev).float().mean().item(),
                    dev_examples=len(ydev),
                    train_accuracy=(model(xtr[50:]).argmax(1) == ytr[50:]).float().mean().item())
    with torch.no_grad():
        p = torch.softmax(model(xdev), 1)
    run.save_predictions(list(range(len(ydev))), ydev.tolist(), p.argmax(1).tolist(),
                         p.max(1).values.tolist(), split="dev")
