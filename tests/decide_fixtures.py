"""A tiny torch-free project for the decide tests: metrics depend on config and seed.

dev accuracy = 0.90 + 0.02 if width >= 16 - 0.05 * |log10(lr / 0.01)| + seed noise (sd 0.003).
The training loss blows up early when the effective lr (after linear warmup) exceeds 0.03.
With ``predictions: true`` the run saves 400 dev predictions whose errors are planted: most
are 3 -> 8, and ids 0-9 are labelled 1 but look like 7 to every model (label errors).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from tunebook.core.spec import ProjectSpec, load_project

TRAIN_PY = textwrap.dedent('''
    import math
    import random


    def quality(config):
        width = config.get("width", 8)
        return 0.90 + (0.02 if width >= 16 else 0.0) - 0.05 * abs(math.log10(config["lr"] / 0.01))


    def train(config, run):
        rng = random.Random(run.seed)
        lr, warm = config["lr"], config.get("warmup_steps", 0) or 0
        steps = config["max_train_steps"]
        acc = min(0.999, quality(config) + rng.gauss(0, config.get("noise", 0.003)))
        loss = 2.3
        for step in range(1, steps + 1):
            eff = lr * min(1.0, step / warm) if warm else lr
            loss = loss * 3 if (eff > 0.03 and step < 20) else loss * 0.97 + 0.002
            run.log(step, train_loss=loss, train_grad_norm=1.0 + rng.random())
            if run.should_eval(step):
                done = step / steps
                run.log(step, dev_accuracy=acc * done, train_accuracy=min(1.0, (acc + 0.05) * done),
                        train_dev_accuracy=(acc + 0.03) * done, test_accuracy=(acc - 0.01) * done)
        if config.get("predictions"):
            ids, labels, preds, conf, region = [], [], [], [], []
            prng = random.Random(1234)  # the same examples for every model
            for i in range(400):
                label = [3, 8, 1, 5][i % 4] if i >= 10 else 1
                pred, c = label, 0.9 + 0.09 * prng.random()
                if i < 10:
                    pred, c = 7, 0.999          # label errors: every model says 7
                elif label == 3 and i % 8 == 0 and i < 340:
                    pred, c = 8, 0.5 + 0.3 * prng.random()   # the planted confusion
                elif i % 37 == 0:
                    pred, c = (label + 2) % 10, 0.4
                ids.append(f"ex{i}"); labels.append(label); preds.append(pred); conf.append(c)
                region.append("north" if i % 8 == 0 else "south")
            run.save_predictions(ids, labels, preds, conf, split="dev", region=region)
''')

PROJECT_YAML = textwrap.dedent('''
    name: tiny
    task: {type: classification, goal: Tell tiny things apart., target_error: 0.01}
    metrics:
      - {name: accuracy, split: dev, goal: max}
      - {name: accuracy, split: train, goal: max}
      - {name: accuracy, split: train_dev, goal: max}
      - {name: accuracy, split: test, goal: max}
      - {name: loss, split: train, goal: min}
      - {name: grad_norm, split: train, goal: min}
    score: dev/accuracy
    pipeline: train:train
    eval_every: 10
    seed: 0
    baseline:
      config: {lr: 0.01, width: 8, max_train_steps: 40}
''')


def make_project(folder: Path, extra: str = "", config: dict[str, Any] | None = None
                 ) -> ProjectSpec:
    """Write the tiny project into ``folder`` (a fresh module name per folder) and load it."""
    folder.mkdir(parents=True, exist_ok=True)
    module = f"tinytrain_{abs(hash(str(folder))) % 10**8}"
    (folder / f"{module}.py").write_text(TRAIN_PY, encoding="utf-8")
    text = PROJECT_YAML.replace("train:train", f"{module}:train") + extra
    if config is not None:
        import json

        text = text.replace("{lr: 0.01, width: 8, max_train_steps: 40}", json.dumps(config))
    (folder / "tunebook.yaml").write_text(text, encoding="utf-8")
    return load_project(folder / "tunebook.yaml")
