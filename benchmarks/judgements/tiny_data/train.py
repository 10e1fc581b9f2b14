"""A classifier on very little data: 40 training examples, a wide MLP trained long with Adam.

Dev loss reaches its minimum early and rises for the rest of training: overfitting.
"""
import torch


def data(seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(3, 12, generator=g)
    def draw(n):
        y = torch.randint(0, 3, (n,), generator=g)
        return centres[y] + 1.2 * torch.randn(n, 12, generator=g), y
    xtr, ytr = draw(40)
    xdev, ydev = draw(600)
    return xtr, ytr, xdev, ydev


def train(config, run):
    torch.manual_seed(run.seed)
    torch.set_num_threads(1)
    xtr, ytr, xdev, ydev = data()
    model = torch.nn.Sequential(torch.nn.Linear(12, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 3))
    opt = torch.optim.Adam(model.parameters(), lr=config["lr"])
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
                run.log(step, dev_loss=lossf(out, ydev).item(),
                        dev_accuracy=(out.argmax(1) == ydev).float().mean().item(),
                        train_accuracy=(model(xtr).argmax(1) == ytr).float().mean().item(),
                        dev_examples=len(ydev))
    with torch.no_grad():
        p = torch.softmax(model(xdev), 1)
    run.save_predictions(list(range(len(ydev))), ydev.tolist(), p.argmax(1).tolist(),
                         p.max(1).values.tolist(), split="dev")
