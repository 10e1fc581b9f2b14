"""A script that ignores some config keys: it reads lr and max_train_steps only.

``warmup_steps`` and ``weight_decay`` are in every config (the round even targets warmup) but
train() never reads them, so trials that differ only in them are the same run.
"""
import torch


def data(seed: int = 4):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(3, 8, generator=g) * 2
    def draw(n):
        y = torch.randint(0, 3, (n,), generator=g)
        return centres[y] + torch.randn(n, 8, generator=g), y
    return (*draw(600), *draw(300))


def train(config, run):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    xtr, ytr, xdev, ydev = data()
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
    opt = torch.optim.Adam(model.parameters(), lr=config["lr"])   # no weight_decay, no warmup
    lossf = torch.nn.CrossEntropyLoss()
    for step in range(1, int(config["max_train_steps"]) + 1):
        loss = lossf(model(xtr), ytr)
        opt.zero_grad()
        loss.backward()
        opt.step()
        run.log(step, train_loss=loss.item())
        if run.should_eval(step):
            with torch.no_grad():
                out = model(xdev)
                run.log(step, dev_accuracy=(out.argmax(1) == ydev).float().mean().item(),
                        train_accuracy=(model(xtr).argmax(1) == ytr).float().mean().item(),
                        dev_examples=len(ydev))
    with torch.no_grad():
        p = torch.softmax(model(xdev), 1)
    run.save_predictions(list(range(len(ydev))), ydev.tolist(), p.argmax(1).tolist(),
                         p.max(1).values.tolist(), split="dev")
