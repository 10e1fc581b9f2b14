"""Per-step overhead of the Lightning and Hugging Face hooks against the same loop without them.

    PYTHONPATH=src python benchmarks/integrations_overhead.py            # 5 pairs x 300 steps
    PYTHONPATH=src python benchmarks/integrations_overhead.py --quick    # 2 pairs x 100 steps

Lightning: a 2-layer MLP (256 -> 512 -> 10, batch 64) through ``Trainer.fit``, once with
``logger=False`` and once with ``TunebookLogger(run)`` (in-process Run on a fresh SQLite
store), both logging the loss at every step (``log_every_n_steps=1``, the worst case).
Hugging Face: a randomly initialised 2-layer BERT (hidden 64, sequence 32, batch 16) through
``Trainer.train``, ``report_to="none"`` against the same with ``TunebookCallback(run)``,
``logging_steps=1``. The runs of a pair alternate, one torch thread, medians over pairs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from tunebook.core.spec import parse_project, parse_round
from tunebook.rounds.lifecycle import create_round
from tunebook.store import Store
from tunebook.store.files import ArtifactRoot
from tunebook.workers.run import Run

PROJECT = {"name": "bench", "task": {"type": "classification", "goal": "benchmark"},
           "metrics": [{"name": "loss", "split": "train", "goal": "min"}],
           "score": "train/loss", "pipeline": "train:train"}


def make_run(folder: Path, i: int) -> Run:
    store = Store(folder / f"s{i}.db")
    record = create_round(store, parse_project(PROJECT), parse_round(
        {"name": "r", "question": "q", "budget": 1, "algorithm": "quasi_random", "params": {}}))
    claimed = store.claim(record.id, "bench", 600)
    assert claimed is not None
    return Run(store, claimed[0], claimed[1], eval_every=100,
               artifact_root=ArtifactRoot(folder / f"a{i}"))


def lightning_run(steps: int, run: Run | None) -> tuple[float, float]:
    import lightning as L

    from tunebook.integrations.lightning import TunebookLogger

    class MLP(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(),
                                           torch.nn.Linear(512, 10))

        def training_step(self, batch: Any, i: int) -> Any:
            x, y = batch
            loss = torch.nn.functional.cross_entropy(self.net(x), y)
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    g = torch.Generator().manual_seed(0)
    ds = torch.utils.data.TensorDataset(torch.randn(steps * 64, 256, generator=g),
                                        torch.randint(0, 10, (steps * 64,), generator=g))
    trainer = L.Trainer(max_steps=steps, logger=TunebookLogger(run) if run else False,
                        log_every_n_steps=1, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False,
                        accelerator="cpu")
    t0, c0 = time.perf_counter(), time.process_time()
    trainer.fit(MLP(), torch.utils.data.DataLoader(ds, batch_size=64))
    return (time.perf_counter() - t0) / steps, (time.process_time() - c0) / steps


def hf_run(steps: int, run: Run | None, out: Path) -> tuple[float, float]:
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        Trainer,
        TrainingArguments,
    )

    from tunebook.integrations.hf import TunebookCallback

    class Data(torch.utils.data.Dataset[dict[str, torch.Tensor]]):
        def __init__(self, n: int) -> None:
            g = torch.Generator().manual_seed(0)
            self.ids = torch.randint(1, 100, (n, 32), generator=g)

        def __len__(self) -> int:
            return len(self.ids)

        def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
            return {"input_ids": self.ids[i], "labels": self.ids[i, 0] % 2}

    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(
        vocab_size=100, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=128, max_position_embeddings=32, num_labels=2))
    args = TrainingArguments(output_dir=str(out), max_steps=steps, logging_steps=1,
                             per_device_train_batch_size=16, save_strategy="no",
                             report_to="none", use_cpu=True, disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=Data(steps * 16),
                      callbacks=[TunebookCallback(run)] if run else [])
    t0, c0 = time.perf_counter(), time.process_time()
    trainer.train()
    return (time.perf_counter() - t0) / steps, (time.process_time() - c0) / steps


def hook_cost(folder: Path, n: int = 20000) -> dict[str, float]:
    """CPU microseconds of one hook call (mapping names + run.log into the buffer): the part
    of the overhead that does not depend on the machine's load. Batched writes happen on the
    Run's writer thread (store benchmark)."""
    from tunebook.integrations.hf import TunebookCallback
    from tunebook.integrations.lightning import TunebookLogger

    class State:
        is_world_process_zero, global_step = True, 0

    run = make_run(folder, 999)
    cb, state = TunebookCallback(run), State()
    logs = {"loss": 0.69, "grad_norm": 0.4, "learning_rate": 1e-5, "epoch": 0.5}
    c0 = time.process_time()
    for i in range(n):
        state.global_step = i
        cb.on_log(None, state, None, logs)
    hf = (time.process_time() - c0) / n * 1e6
    logger, metrics = TunebookLogger(run), {"train_loss": torch.tensor(0.5), "epoch": 0.0}
    c0 = time.process_time()
    for i in range(n):
        logger.log_metrics(metrics, i)
    lightning = (time.process_time() - c0) / n * 1e6
    run.close()
    return {"Lightning TunebookLogger.log_metrics": lightning, "HF TunebookCallback.on_log": hf}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--hooks-only", action="store_true", help="only the per-call hook cost")
    args = ap.parse_args()
    if args.hooks_only:
        with tempfile.TemporaryDirectory() as tmp:
            for name, us in hook_cost(Path(tmp)).items():
                print(f"| {name} | {us:.1f} us per call |")
        return
    pairs, steps = (2, 100) if args.quick else (5, 300)
    torch.set_num_threads(1)
    res: dict[str, list[tuple[float, float]]] = {k: [] for k in ("L", "L+tb", "HF", "HF+tb")}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        costs = hook_cost(folder)
        for i in range(pairs):
            run = make_run(folder, 2 * i)
            res["L"].append(lightning_run(steps, None))
            res["L+tb"].append(lightning_run(steps, run))
            run.close()
            run = make_run(folder, 2 * i + 1)
            res["HF"].append(hf_run(steps, None, folder / f"hf{i}"))
            res["HF+tb"].append(hf_run(steps, run, folder / f"hf{i}"))
            run.close()
    wall = {k: statistics.median(w for w, _ in v) * 1000 for k, v in res.items()}
    cpu = {k: statistics.median(c for _, c in v) * 1000 for k, v in res.items()}
    print(f"{pairs} pairs x {steps} steps, one torch thread, median ms per step; CPU time "
          "(all threads of the process) is the robust column on a shared machine")
    print("| loop | CPU without | CPU with tunebook | CPU overhead | wall without | "
          "wall with | wall overhead |\n|---|---:|---:|---:|---:|---:|---:|")
    for name, a, b in (("Lightning Trainer.fit", "L", "L+tb"),
                       ("transformers Trainer.train", "HF", "HF+tb")):
        print(f"| {name} | {cpu[a]:.3f} | {cpu[b]:.3f} | {100 * (cpu[b] / cpu[a] - 1):+.1f}% | "
              f"{wall[a]:.3f} | {wall[b]:.3f} | {100 * (wall[b] / wall[a] - 1):+.1f}% |")
    print("\n| hook | CPU per call | share of a step of the loop above |\n|---|---:|---:|")
    for (name, us), base in zip(costs.items(), (cpu["L"], cpu["HF"]), strict=True):
        print(f"| {name} | {us:.1f} us | {100 * us / 1000 / base:.2f}% |")


if __name__ == "__main__":
    main()
