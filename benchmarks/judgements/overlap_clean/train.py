"""Two genuinely overlapping classes with clean labels (a third of dev is Bayes error).

Every model confidently confuses the overlap in both directions; none of it is a label error.
"""
import torch


def data(seed: int = 5):
    g = torch.Generator().manual_seed(seed)
    def draw(n):
        y = torch.randint(0, 2, (n,), generator=g)
        x = torch.randn(n, 6, generator=g)
        x[:, 0] += (2 * y - 1).float() * 0.6
        return x, y
    return (*draw(1500), *draw(600))


def train(config, run):
    torch.manual_seed(run.seed)
    torch.set_num_threads(1)
    xtr, ytr, xdev, ydev = data()
    width = int(config["width"])
    model = torch.nn.Sequential(torch.nn.Linear(6, width), torch.nn.ReLU(),
                                torch.nn.Linear(width, 2))
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
                run.log(step, dev_accuracy=(out.argmax(1) == ydev).float().mean().item(),
                        train_accuracy=(model(xtr).argmax(1) == ytr).float().mean().item(),
                        dev_examples=len(ydev))
    with torch.no_grad():
        p = torch.softmax(model(xdev), 1)
    run.save_predictions(list(range(len(ydev))), ydev.tolist(), p.argmax(1).tolist(),
                         p.max(1).values.tolist(), split="dev")
