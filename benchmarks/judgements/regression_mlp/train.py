"""A regression MLP (a smooth function of 8 inputs), Adam at a small lr, a short budget.

With lr in [1e-4, 1e-3] the dev error is still falling at the end of training (train longer),
and the best trials sit at the top of the lr range (a boundary: the range is too low).
"""
import torch


def data(seed: int = 2):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(8, generator=g)
    def draw(n):
        x = torch.randn(n, 8, generator=g)
        return x, torch.sin(x @ w) + 0.5 * x[:, 0] ** 2 + 0.05 * torch.randn(n, generator=g)
    return (*draw(1000), *draw(300))


def train(config, run):
    torch.manual_seed(run.seed)
    torch.set_num_threads(1)
    xtr, ytr, xdev, ydev = data()
    model = torch.nn.Sequential(torch.nn.Linear(8, 64), torch.nn.Tanh(), torch.nn.Linear(64, 1))
    opt = torch.optim.Adam(model.parameters(), lr=config["lr"])
    g = torch.Generator().manual_seed(run.seed)
    for step in range(1, int(config["max_train_steps"]) + 1):
        idx = torch.randint(0, len(ytr), (64,), generator=g)
        loss = ((model(xtr[idx]).squeeze(1) - ytr[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        run.log(step, train_loss=loss.item())
        if run.should_eval(step):
            with torch.no_grad():
                run.log(step, dev_mse=((model(xdev).squeeze(1) - ydev) ** 2).mean().item(),
                        train_mse=((model(xtr).squeeze(1) - ytr) ** 2).mean().item())
    with torch.no_grad():
        pred = model(xdev).squeeze(1)
    run.save_predictions(list(range(len(ydev))), ydev.tolist(), pred.tolist(), split="dev")
