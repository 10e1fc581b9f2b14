"""Lightning and Hugging Face hooks with the real frameworks: a tiny LightningModule through
lightning.Trainer.fit, a tiny randomly initialised BERT through transformers.Trainer; in a
train(config, run) and in a script run as a command pipeline."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import PROJECT

from tunebook.core.spec import load_project, parse_round
from tunebook.integrations.sink import metric_name
from tunebook.rounds.lifecycle import create_round
from tunebook.store import Store
from tunebook.workers.execute import run_round

pytestmark = pytest.mark.slow

MODULE = '''
import torch, lightning as L

class Tiny(L.LightningModule):
    def __init__(self, lr, nan_at=-1):
        super().__init__()
        self.lr, self.nan_at = lr, nan_at
        self.net = torch.nn.Linear(4, 2)
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(64, 4, generator=g)
        self.y = (self.x[:, 0] > 0).long()

    def training_step(self, batch, i):
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        if self.global_step == self.nan_at:
            loss = loss * float("nan")
        self.log("train_loss", loss, on_step=True, on_epoch=False)
        return loss

    def validation_step(self, batch, i):
        x, y = batch
        acc = (self.net(x).argmax(1) == y).float().mean()
        self.log("val_acc", acc)
        self.log("val_latency_ms", 1.0)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)

    def loader(self):
        ds = torch.utils.data.TensorDataset(self.x, self.y)
        return torch.utils.data.DataLoader(ds, batch_size=16)

def trainer(logger, callbacks, epochs=3):
    return L.Trainer(max_epochs=epochs, logger=logger, callbacks=callbacks,
                     log_every_n_steps=1, enable_progress_bar=False,
                     enable_model_summary=False, enable_checkpointing=False,
                     accelerator="cpu", num_sanity_val_steps=0)
'''

IN_PROCESS = '''
from tiny import Tiny, trainer
from tunebook.integrations.lightning import TunebookCheckpoint, TunebookLogger

def train(config, run):
    m = Tiny(config["lr"], config.get("nan_at", -1))
    t = trainer(TunebookLogger(run, rename={"val_latency_ms": "dev_latency_ms"}),
                [TunebookCheckpoint("val_acc", keep_best=2, run=run)])
    t.fit(m, m.loader(), m.loader())
'''

SCRIPT = '''
import argparse
from tiny import Tiny, trainer
from tunebook.integrations.lightning import TunebookCheckpoint, TunebookLogger
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float)
a = p.parse_args()
m = Tiny(a.lr)
t = trainer(TunebookLogger(rename={"val_latency_ms": "dev_latency_ms"}),
            [TunebookCheckpoint("val_acc", keep_best=1)])
t.fit(m, m.loader(), m.loader())
'''

PROJ = dict(PROJECT, metrics=[{"name": "acc", "split": "dev", "goal": "max"},
                              {"name": "latency_ms", "split": "dev", "goal": "min"},
                              {"name": "loss", "split": "train", "goal": "min"}],
            score="dev/acc", baseline={"config": {"lr": 0.1}})


def _project(folder: Path, files: dict[str, str], pipeline: Any, **over: Any) -> Path:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text))
    (folder / "tunebook.yaml").write_text(yaml.safe_dump(dict(PROJ, pipeline=pipeline, **over)))
    return folder


def _run(folder: Path, tmp_path: Path, **round_over: Any) -> Store:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    spec = {"name": "r", "question": "q", "budget": 1, "algorithm": "quasi_random",
            "params": {"lr": {"role": "nuisance", "type": "float", "low": 0.05, "high": 0.5}}}
    spec.update(round_over)
    create_round(store, load_project(folder / "tunebook.yaml"), parse_round(spec))
    run_round(store, "r", folder, executor="inline", show_progress=False)
    return store


def test_metric_names_map_framework_spellings() -> None:
    assert metric_name("val_acc") == "dev_acc" and metric_name("val/acc") == "dev_acc"
    assert metric_name("eval_accuracy") == "dev_accuracy"
    assert metric_name("loss") == "train_loss" and metric_name("train_loss") == "train_loss"
    assert metric_name("test/f1") == "test_f1" and metric_name("grad_norm") == "train_grad_norm"


def test_lightning_fit_in_process_logs_and_keeps_best_checkpoints(tmp_path: Path) -> None:
    folder = _project(tmp_path / "p", {"tiny.py": MODULE, "train.py": IN_PROCESS}, "train:train")
    store = _run(folder, tmp_path)
    (t,) = store.trials()
    assert t.status == "completed", t.error
    curve = store.curve(t.id)
    dev_steps = sorted(s for s in curve if "dev/acc" in curve[s])
    assert dev_steps == [4, 8, 12]  # 4 batches an epoch, validation after each of 3 epochs
    assert sorted(s for s in curve if "train/loss" in curve[s]) == list(range(1, 13))
    assert t.best_step in dev_steps and t.score == curve[t.best_step]["dev/acc"]
    kept = store.artifacts(t.id, "checkpoint")
    assert 1 <= len(kept) <= 3  # the 2 best and the latest, verified (sha256 recorded)
    assert t.meta["best_checkpoint"]["step"] in dev_steps


def test_lightning_divergence_ends_the_trial(tmp_path: Path) -> None:
    folder = _project(tmp_path / "p", {"tiny.py": MODULE, "train.py": IN_PROCESS}, "train:train",
                      baseline={"config": {"lr": 0.1, "nan_at": 5}})
    (t,) = _run(folder, tmp_path).trials()
    # the 6th step (5 done before it) is nan
    assert t.status == "diverged" and "train/loss = nan at step 6" in (t.error or "")


def test_lightning_script_as_a_command_pipeline(tmp_path: Path) -> None:
    folder = _project(tmp_path / "p", {"tiny.py": MODULE, "fit.py": SCRIPT},
                      {"command": "python fit.py --lr {lr}"})
    (t,) = _run(folder, tmp_path).trials()
    assert t.status == "completed", t.error
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    curve = store.curve(t.id)
    assert sorted(s for s in curve if "dev/acc" in curve[s]) == [4, 8, 12]
    (ckpt,) = store.artifacts(t.id, "checkpoint")  # keep_best=1: the others were dropped
    best = max((curve[s]["dev/acc"], -s) for s in (4, 8, 12))
    assert ckpt.step == -best[1] and ckpt.meta["score"] == pytest.approx(best[0])


HF_TRAIN = '''
import numpy as np, torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments
from tunebook.integrations.hf import TunebookCallback

class Data(torch.utils.data.Dataset):
    def __init__(self, n, seed):
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, 30, (n, 8), generator=g)
        self.labels = (self.ids[:, 0] > 15).long()
    def __len__(self):
        return len(self.ids)
    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "attention_mask": torch.ones(8, dtype=torch.long),
                "labels": self.labels[i]}

def accuracy(p):
    return {"accuracy": float((np.argmax(p.predictions, -1) == p.label_ids).mean()),
            "latency_ms": 1.0}

def train(config, run):
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(
        vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=16, num_labels=2))
    args = TrainingArguments(output_dir=config["out"], max_steps=12, learning_rate=config["lr"],
                             per_device_train_batch_size=8, eval_strategy="steps",
                             eval_steps=4, logging_steps=2, save_strategy="no",
                             report_to="none", use_cpu=True, disable_tqdm=True)
    Trainer(model=model, args=args, train_dataset=Data(64, 0), eval_dataset=Data(32, 1),
            compute_metrics=accuracy, callbacks=[TunebookCallback(run)]).train()
'''


def test_hf_trainer_with_a_tiny_random_bert(tmp_path: Path) -> None:
    folder = _project(tmp_path / "p", {"train.py": HF_TRAIN}, "train:train",
                      metrics=[{"name": "accuracy", "split": "dev", "goal": "max"},
                               {"name": "latency_ms", "split": "dev", "goal": "min"},
                               {"name": "loss", "split": "train", "goal": "min"}],
                      score="dev/accuracy",
                      baseline={"config": {"lr": 1e-3, "out": str(tmp_path / "hf")}})
    (t,) = _run(folder, tmp_path).trials()
    assert t.status == "completed", t.error
    curve = Store(f"sqlite:///{tmp_path / 's.db'}").curve(t.id)
    assert sorted(s for s in curve if "dev/accuracy" in curve[s]) == [4, 8, 12]
    assert sorted(s for s in curve if "train/loss" in curve[s]) == [2, 4, 6, 8, 10, 12]
    assert "dev/loss" in curve[4]  # eval_loss -> dev/loss
    assert t.best_step in (4, 8, 12)
