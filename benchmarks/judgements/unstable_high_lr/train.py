"""An unstable set-up: a deep MLP without normalization, SGD with momentum at a high lr.

The training loss falls, then jumps irregularly (no period) as the lr overshoots.
"""
import torch


def data(seed: int = 3):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(5, 16, generator=g) * 2
    def draw(n):
        y = torch.randint(0, 5, (n,), generator=g)
        return centres[y] + torch.randn(n, 16, generator=g), y
    return (*draw(2000), *draw(500))


def train(config, run):
    torch.manual_seed(run.seed)
    torch.set_num_threads(1)
    xtr, ytr, xdev, ydev = data()
    layers: list[torch.nn.Module] = [torch.nn.Linear(16, 64), torch.nn.ReLU()]
    for _ in range(4):
        layers += [torch.nn.Linear(64, 64), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers, torch.nn.Linear(64, 5))
    opt = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9)
    lossf = torch.nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(run.seed)
    for step in range(1, int(config["max_train_steps"]) + 1):
        idx = torch.randint(0, len(ytr), (32,), generator=g)
        loss = lossf(model(xtr[idx]), ytr[idx])
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
