"""The PyTorch kit against the same loop written by hand, on the digits CNN, in one run.

The kit side is the digits demo's own ``train.py`` (seeds, optimizer and schedule from config,
grad norm and lr logged every step, batched evaluation, verified checkpoints with N-best
retention, best-checkpoint reload, predictions). The hand side is the same loop in plain
PyTorch as the demo had it before the kit (same model, data, seed and eval steps; best state
kept in memory). Both log to a real store through ``run.log``.

Measured, with runs interleaved (hand, kit, hand, kit, ...) so machine load hits both alike:

* per-step time: the interval between consecutive steps' ``train_loss`` logs, leaving out
  intervals that contain an evaluation; the kit's per-step overhead is its median over the
  hand loop's median, per adjacent pair, then the median over pairs (the 10th percentile is
  shown too: it filters out steps that lost the CPU to other processes);
* the same overhead from timing the kit's per-step calls alone (set_lr, clip_gradients, the
  extra logged values) against the hand loop's step time;
* wall time of the whole trial (evaluation, checkpoints and predictions included);
* the final dev accuracy (best dev step) of both, which must be equal for the same seed.

Run:  PYTHONPATH=src python benchmarks/kit_overhead.py [--quick] [--repeats N] [--json FILE]
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tunebook.artifacts import ArtifactRoot
from tunebook.demo import prepare, write_example
from tunebook.rounds import create_round
from tunebook.run import Run
from tunebook.spec import RoundSpec, load_project
from tunebook.store import Store

CONFIG = {"width": 16, "optimizer": "adamw", "lr": 0.001, "weight_decay": 0.0,
          "batch_size": 64}


def hand_train(config: dict, run: Any, demo: Any) -> None:
    """The demo's loop before the kit: plain PyTorch, best state kept in memory."""
    torch.manual_seed(run.seed)
    splits = demo.load_splits()
    x, y, _ = splits["train"]
    model = demo.Net(int(config["width"]))
    opt = torch.optim.AdamW(model.parameters(), lr=config["lr"],
                            weight_decay=config["weight_decay"])
    gen = torch.Generator().manual_seed(run.seed * 1000 + 1)  # data order, apart from init
    best_acc, best_state, best_step = -1.0, None, 0
    steps, batch = int(config["max_train_steps"]), int(config["batch_size"])

    @torch.no_grad()
    def evaluate(xs: torch.Tensor, ys: torch.Tensor) -> tuple[float, float]:
        model.eval()
        logits = model(xs)
        model.train()
        return (nn.functional.cross_entropy(logits, ys).item(),
                (logits.argmax(1) == ys).float().mean().item())

    for step in range(1, steps + 1):
        idx = torch.randint(0, len(y), (batch,), generator=gen)
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        run.log(step, train_loss=loss.item())
        if run.should_eval(step):
            dev_loss, dev_acc = evaluate(*splits["dev"][:2])
            _, train_acc = evaluate(x, y)
            _, td_acc = evaluate(*splits["train_dev"][:2])
            run.log(step, dev_loss=dev_loss, dev_accuracy=dev_acc, train_accuracy=train_acc,
                    train_dev_accuracy=td_acc)
            if dev_acc > best_acc:
                best_acc, best_step = dev_acc, step
                best_state = copy.deepcopy(model.state_dict())
    assert best_state is not None
    model.load_state_dict(best_state)
    run.log(best_step, test_accuracy=evaluate(*splits["test"][:2])[1])
    run.save_checkpoint(best_step, best_state)
    dx, dy, dids = splits["dev"]
    with torch.no_grad():
        model.eval()
        conf, pred = torch.softmax(model(dx), 1).max(1)
    run.save_predictions(dids, dy, pred, conf, step=best_step, split="dev")


class Timed:
    """Records when each step's train_loss is logged, and the dev accuracy of every eval."""

    def __init__(self, run: Run) -> None:
        self.run, self.times, self.dev = run, {}, {}
        self._log = run.log
        run.log = self.log  # type: ignore[method-assign]

    def log(self, step: int, **metrics: float) -> None:
        if "train_loss" in metrics:
            self.times[step] = time.perf_counter()
        if "dev_accuracy" in metrics:
            self.dev[step] = float(metrics["dev_accuracy"])
        self._log(step, **metrics)

    def step_intervals(self, eval_every: int) -> list[float]:
        s = sorted(self.times)
        return [self.times[b] - self.times[a] for a, b in zip(s, s[1:], strict=False)
                if a % eval_every != 0]  # an interval after an eval step holds the eval


def one_trial(store: Store, project: Any, round_name: str, art: Path, fn: Any,
              steps: int) -> dict[str, Any]:
    record = create_round(store, project, RoundSpec(name=round_name, question="bench",
                                                    budget=1, seed=0), kind="baseline")
    claimed = store.claim(record.id, "bench", 600)
    assert claimed is not None
    trial, token = claimed
    run = Run(store, trial, token, eval_every=project.eval_every,
              artifact_root=ArtifactRoot(art), heartbeat=False)
    timed = Timed(run)
    config = {**CONFIG, "max_train_steps": steps}
    t0 = time.perf_counter()
    fn(config, run)
    wall = time.perf_counter() - t0
    run.close()
    intervals = timed.step_intervals(project.eval_every)
    best = max(timed.dev.items(), key=lambda kv: (kv[1], -kv[0]))
    return {"wall_s": wall, "step_ms": 1000 * statistics.median(intervals),
            "step_p10_ms": 1000 * float(np.percentile(intervals, 10)),
            "best_dev_step": best[0], "best_dev_accuracy": best[1],
            "dev_curve": timed.dev, "trial": trial.id}


def isolated_overhead_us(demo: Any, run: Run, tk: Any, n: int = 2000) -> float:
    """The kit's per-step calls alone: set_lr, clip_gradients and the two extra values."""
    torch.manual_seed(0)
    model = demo.Net(16)
    opt = tk.make_optimizer(model.parameters(), {**CONFIG})
    lr_at = tk.make_schedule({**CONFIG, "max_train_steps": 400})
    model(torch.randn(64, 1, 8, 8)).sum().backward()
    for _ in range(50):
        tk.clip_gradients(model, None)
    t0 = time.perf_counter()
    for step in range(1, n + 1):
        lr = tk.set_lr(opt, lr_at(step))
        norm = tk.clip_gradients(model, None)
        run.log(step, train_grad_norm=norm, train_lr=lr)
    return 1e6 * (time.perf_counter() - t0) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 pair of 200-step runs")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved pairs (default 5)")
    ap.add_argument("--steps", type=int, default=400, help="steps per run (the demo's 400)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    repeats, steps = (1, 200) if args.quick else (args.repeats, args.steps)
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "digits"
        write_example(d)
        prepare(d)
        sys.path.insert(0, str(d))
        spec = importlib.util.spec_from_file_location("digits_train", d / "train.py")
        assert spec is not None and spec.loader is not None
        demo = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(demo)
        from tunebook import pytorch as tk

        project = load_project(d / "tunebook.yaml")
        store = Store(Path(tmp) / "bench.db")
        pairs = []
        for i in range(repeats + 1):  # the first pair warms caches and is not counted
            hand = one_trial(store, project, f"hand-{i}", Path(tmp) / "art",
                             lambda c, r: hand_train(c, r, demo), steps)
            kit = one_trial(store, project, f"kit-{i}", Path(tmp) / "art", demo.train, steps)
            if i > 0:
                pairs.append((hand, kit))
            print(f"pair {i}{' (warmup)' if i == 0 else ''}: hand "
                  f"{hand['step_ms']:.3f} ms/step, {hand['wall_s']:.2f} s; kit "
                  f"{kit['step_ms']:.3f} ms/step, {kit['wall_s']:.2f} s; best dev acc "
                  f"{hand['best_dev_accuracy']:.4f} vs {kit['best_dev_accuracy']:.4f}",
                  flush=True)
        probe_round = create_round(store, project, RoundSpec(name="probe", question="b",
                                                             budget=1), kind="baseline")
        claimed = store.claim(probe_round.id, "bench", 600)
        assert claimed is not None
        probe = Run(store, claimed[0], claimed[1], eval_every=50,
                    artifact_root=ArtifactRoot(Path(tmp) / "art"), heartbeat=False)
        iso_us = isolated_overhead_us(demo, probe, tk)
        probe.close()
        store.close()

    step_over = [k["step_ms"] / h["step_ms"] - 1 for h, k in pairs]
    p10_over = [k["step_p10_ms"] / h["step_p10_ms"] - 1 for h, k in pairs]
    wall_over = [k["wall_s"] / h["wall_s"] - 1 for h, k in pairs]
    hand_step = statistics.median(h["step_ms"] for h, _ in pairs)
    same_metric = all(h["best_dev_accuracy"] == k["best_dev_accuracy"]
                      and h["best_dev_step"] == k["best_dev_step"] for h, k in pairs)
    same_curve = all(h["dev_curve"] == k["dev_curve"] for h, k in pairs)
    result = {
        "steps": steps, "pairs": len(pairs), "threads": args.threads,
        "torch": torch.__version__, "numpy": np.__version__,
        "hand_step_ms": hand_step,
        "kit_step_ms": statistics.median(k["step_ms"] for _, k in pairs),
        "kit_step_overhead": statistics.median(step_over),
        "kit_step_overhead_per_pair": step_over,
        "hand_step_p10_ms": statistics.median(h["step_p10_ms"] for h, _ in pairs),
        "kit_step_p10_ms": statistics.median(k["step_p10_ms"] for _, k in pairs),
        "kit_step_p10_overhead": statistics.median(p10_over),
        "kit_isolated_us_per_step": iso_us,
        "kit_isolated_overhead": iso_us / (1000 * hand_step),
        "hand_wall_s": statistics.median(h["wall_s"] for h, _ in pairs),
        "kit_wall_s": statistics.median(k["wall_s"] for _, k in pairs),
        "kit_wall_overhead": statistics.median(wall_over),
        "best_dev_accuracy": [(h["best_dev_accuracy"], k["best_dev_accuracy"])
                              for h, k in pairs],
        "same_final_dev_metric": same_metric, "same_dev_curve": same_curve,
    }
    print()
    print("| measure | hand-written | kit | kit overhead |")
    print("|---|---|---|---|")
    print(f"| time per training step (median) | {result['hand_step_ms']:.3f} ms | "
          f"{result['kit_step_ms']:.3f} ms | {100 * result['kit_step_overhead']:+.2f}% |")
    print(f"| time per training step (10th percentile) | {result['hand_step_p10_ms']:.3f} ms | "
          f"{result['kit_step_p10_ms']:.3f} ms | {100 * result['kit_step_p10_overhead']:+.2f}% |")
    print(f"| kit's per-step calls timed alone | - | {iso_us:.1f} us | "
          f"{100 * result['kit_isolated_overhead']:+.2f}% |")
    print(f"| whole trial, {steps} steps (eval, checkpoints, predictions) | "
          f"{result['hand_wall_s']:.2f} s | {result['kit_wall_s']:.2f} s | "
          f"{100 * result['kit_wall_overhead']:+.2f}% |")
    print(f"| best dev accuracy (same seed) | {pairs[0][0]['best_dev_accuracy']:.4f} | "
          f"{pairs[0][1]['best_dev_accuracy']:.4f} | equal: {same_metric} "
          f"(whole dev curve equal: {same_curve}) |")
    ok = result["kit_step_overhead"] < 0.03 and same_metric
    print(f"\nper-step overhead under 3% and same final dev metric: {'yes' if ok else 'NO'}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
