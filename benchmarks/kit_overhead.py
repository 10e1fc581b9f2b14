"""The PyTorch kit against the same loop written by hand, on the digits CNN, in one run.

The kit side is the digits demo's own ``train.py`` (seeds, optimizer and schedule from config,
grad norm and lr logged every step, batched evaluation, verified checkpoints with N-best
retention, best-checkpoint reload, predictions). The hand side is the same loop in plain
PyTorch as the demo had it before the kit (same model, data, seed and eval steps; best state
kept in memory). Both log to a real store through ``run.log``.

Measured with the two loops in two threads of one process, taking turns one step at a time
(lockstep), so load from other jobs on a shared machine hits both alike:

* per-step time: from a step's start to its ``train_loss`` log, leaving out the first step
  and steps that follow an evaluation. Measured as the training thread's CPU time
  (``time.thread_time``, with one torch thread all of torch's work is on it) and as wall time.
  The kit's per-step overhead is the median, over every step of every pair of runs, of the
  kit's step time over the hand loop's same step just before it (the run-by-run ratio of
  medians is shown too; it moves by a few percent from run to run with memory layout alone);
* what the kit adds to a step timed alone (the scheduled lr, the grad norm, two more logged
  values), against the hand loop's CPU time per step;
* the CPU time of the whole trial (evaluation, checkpoints and predictions included);
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
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tunebook.core.spec import RoundSpec, load_project
from tunebook.demo import prepare, write_example
from tunebook.rounds.lifecycle import create_round
from tunebook.store import Store
from tunebook.store.files import ArtifactRoot
from tunebook.workers.run import Run

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


class Lockstep:
    """Two training loops in two threads taking turns one step at a time, so that whatever else
    the machine does hits both alike (on a shared machine whole runs drift apart by +-20%)."""

    def __init__(self) -> None:
        self.turn = 0
        self.done = [False, False]
        self.cv = threading.Condition()

    def wait(self, me: int) -> None:
        with self.cv:
            self.cv.wait_for(lambda: self.turn == me or self.done[1 - me])

    def hand_over(self, me: int, finished: bool = False) -> None:
        with self.cv:
            self.done[me] = self.done[me] or finished
            self.turn = 1 - me
            self.cv.notify_all()


class Timed:
    """Wraps ``run.log``: at each step's train_loss it notes the time, hands the turn to the
    other loop and notes the time again when the turn comes back. A step's time is from its
    start (turn received) to its train_loss log, in wall clock and in this thread's CPU time
    (torch runs on the calling thread with one thread)."""

    def __init__(self, run: Run, baton: Lockstep, me: int) -> None:
        self.baton, self.me = baton, me
        self.cpu: dict[int, float] = {}
        self.wall: dict[int, float] = {}
        self.dev: dict[int, float] = {}
        self._start = (time.thread_time(), time.perf_counter())
        self._log = run.log
        run.log = self.log  # type: ignore[method-assign]

    def log(self, step: int, **metrics: float) -> None:
        if "train_loss" in metrics:
            cpu, wall = time.thread_time(), time.perf_counter()
            self.cpu[step] = cpu - self._start[0]
            self.wall[step] = wall - self._start[1]
        if "dev_accuracy" in metrics:
            self.dev[step] = float(metrics["dev_accuracy"])
        self._log(step, **metrics)
        if "train_loss" in metrics:
            self.baton.hand_over(self.me)
            self.baton.wait(self.me)
            self._start = (time.thread_time(), time.perf_counter())

    def steps(self, eval_every: int) -> dict[int, tuple[float, float]]:
        # The first step holds the setup and a step after an eval step holds the eval.
        return {s: (self.cpu[s], self.wall[s]) for s in self.cpu
                if s > 1 and (s - 1) % eval_every != 0}


def lockstep_pair(store: Store, project: Any, tag: str, art: Path, fns: list[Any],
                  steps: int) -> list[dict[str, Any]]:
    """Run the hand-written loop and the kit's loop (same seed) in lockstep."""
    baton, out, errors = Lockstep(), [{}, {}], []

    def worker(me: int) -> None:
        run = None
        try:
            record = create_round(store, project, RoundSpec(
                name=f"{('hand', 'kit')[me]}-{tag}", question="bench", budget=1, seed=0),
                kind="baseline")
            claimed = store.claim(record.id, "bench", 600)
            assert claimed is not None
            run = Run(store, claimed[0], claimed[1], eval_every=project.eval_every,
                      artifact_root=ArtifactRoot(art), heartbeat=False)
            baton.wait(me)
            timed = Timed(run, baton, me)
            cpu0 = time.thread_time()
            fns[me]({**CONFIG, "max_train_steps": steps}, run)
            cpu = time.thread_time() - cpu0
            best = max(timed.dev.items(), key=lambda kv: (kv[1], -kv[0]))
            out[me] = {"steps": timed.steps(project.eval_every), "trial_cpu_s": cpu,
                       "best_dev_step": best[0], "best_dev_accuracy": best[1],
                       "dev": timed.dev}
        except BaseException as exc:  # surfaced by the main thread
            errors.append(exc)
        finally:
            baton.hand_over(me, finished=True)  # the other loop never waits on a dead one
            if run is not None:
                run.close()

    threads = [threading.Thread(target=worker, args=(me,)) for me in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return out


def isolated_overhead_us(demo: Any, run: Run, tk: Any, n: int = 3000) -> float:
    """What the kit adds to each step, timed alone in CPU time: the lr from the schedule, the
    grad norm, and logging three values instead of one (best of 5 passes of ``n`` steps)."""
    torch.manual_seed(0)
    model = demo.Net(16)
    opt = tk.make_optimizer(model.parameters(), {**CONFIG})
    lr_at = tk.make_schedule({**CONFIG, "max_train_steps": 400})
    model(torch.randn(64, 1, 8, 8)).sum().backward()

    def kit(step: int) -> None:
        lr = tk.set_lr(opt, lr_at(step))
        norm = tk.clip_gradients(opt, None)
        run.log(step, train_loss=1.0, train_grad_norm=norm, train_lr=lr)

    def hand(step: int) -> None:
        run.log(step, train_loss=1.0)

    def best_us(fn: Any) -> float:
        best = float("inf")
        for _ in range(5):
            t0 = time.thread_time()
            for step in range(1, n + 1):
                fn(step)
            best = min(best, (time.thread_time() - t0) / n)
        return 1e6 * best

    best_us(kit)  # warm up
    return best_us(kit) - best_us(hand)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 pair of 200-step runs")
    ap.add_argument("--repeats", type=int, default=7, help="pairs of runs (default 7)")
    ap.add_argument("--steps", type=int, default=400, help="steps per run (the demo's 400)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    repeats, steps = (1, 200) if args.quick else (args.repeats, args.steps)
    torch.set_num_threads(1)  # one thread: the training thread's CPU time is the step's

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
        fns = [lambda c, r: hand_train(c, r, demo), demo.train]
        pairs = []
        for i in range(repeats + 1):  # the first pair warms caches and is not counted
            hand, kit = lockstep_pair(store, project, str(i), Path(tmp) / "art", fns, steps)
            if i > 0:
                pairs.append((hand, kit))
            print(f"pair {i}{' (warmup)' if i == 0 else ''}: CPU per step hand "
                  f"{_med(hand, 0):.3f} ms, kit {_med(kit, 0):.3f} ms; trial CPU hand "
                  f"{hand['trial_cpu_s']:.2f} s, kit {kit['trial_cpu_s']:.2f} s; best dev acc "
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

    def over(k: int) -> list[float]:
        return [_med(kit, k) / _med(hand, k) - 1 for hand, kit in pairs]

    paired = [kit["steps"][s][0] / hand["steps"][s][0] - 1
              for hand, kit in pairs for s in hand["steps"] if s in kit["steps"]]
    hand_cpu = statistics.median(_med(h, 0) for h, _ in pairs)
    same_metric = all(h["best_dev_accuracy"] == k["best_dev_accuracy"]
                      and h["best_dev_step"] == k["best_dev_step"] for h, k in pairs)
    same_curve = all(h["dev"] == k["dev"] for h, k in pairs)
    result = {
        "steps": steps, "pairs": len(pairs), "torch_threads": 1,
        "torch": torch.__version__, "numpy": np.__version__,
        "hand_cpu_step_ms": hand_cpu,
        "kit_cpu_step_ms": statistics.median(_med(k, 0) for _, k in pairs),
        "kit_cpu_step_overhead": statistics.median(over(0)),
        "kit_cpu_step_overhead_per_pair": over(0),
        "kit_cpu_step_overhead_paired_steps": statistics.median(paired),
        "hand_wall_step_ms": statistics.median(_med(h, 1) for h, _ in pairs),
        "kit_wall_step_ms": statistics.median(_med(k, 1) for _, k in pairs),
        "kit_wall_step_overhead": statistics.median(over(1)),
        "kit_isolated_us_per_step": iso_us,
        "kit_isolated_overhead": iso_us / (1000 * hand_cpu),
        "hand_trial_cpu_s": statistics.median(h["trial_cpu_s"] for h, _ in pairs),
        "kit_trial_cpu_s": statistics.median(k["trial_cpu_s"] for _, k in pairs),
        "kit_trial_cpu_overhead": statistics.median(
            k["trial_cpu_s"] / h["trial_cpu_s"] - 1 for h, k in pairs),
        "best_dev_accuracy": [(h["best_dev_accuracy"], k["best_dev_accuracy"])
                              for h, k in pairs],
        "same_final_dev_metric": same_metric, "same_dev_curve": same_curve,
    }
    r = result
    print()
    print("| measure | hand-written | kit | kit overhead |")
    print("|---|---|---|---|")
    print(f"| CPU time per training step, step by step (median of paired ratios) | "
          f"{r['hand_cpu_step_ms']:.3f} ms | {r['kit_cpu_step_ms']:.3f} ms | "
          f"**{100 * r['kit_cpu_step_overhead_paired_steps']:+.2f}%** |")
    print(f"| same, run by run (median over pairs of the ratio of medians) | | | "
          f"{100 * r['kit_cpu_step_overhead']:+.2f}% "
          f"({', '.join(f'{100 * v:+.1f}' for v in r['kit_cpu_step_overhead_per_pair'])}) |")
    print(f"| wall time per training step (median) | {r['hand_wall_step_ms']:.3f} ms | "
          f"{r['kit_wall_step_ms']:.3f} ms | {100 * r['kit_wall_step_overhead']:+.2f}% |")
    print(f"| what the kit adds to a step, timed alone | | {iso_us:.1f} us | "
          f"{100 * r['kit_isolated_overhead']:+.2f}% |")
    print(f"| CPU time of the whole trial, {steps} steps (eval, checkpoints, predictions) | "
          f"{r['hand_trial_cpu_s']:.2f} s | {r['kit_trial_cpu_s']:.2f} s | "
          f"{100 * r['kit_trial_cpu_overhead']:+.2f}% |")
    print(f"| best dev accuracy (same seed) | {pairs[0][0]['best_dev_accuracy']:.4f} | "
          f"{pairs[0][1]['best_dev_accuracy']:.4f} | equal: {same_metric} "
          f"(whole dev curve equal: {same_curve}) |")
    ok = r["kit_cpu_step_overhead_paired_steps"] < 0.03 and same_metric
    print(f"\nper-step overhead under 3% and same final dev metric: {'yes' if ok else 'NO'}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))


def _med(side: dict[str, Any], k: int) -> float:
    """Median step time of one side in ms (k = 0: CPU time, 1: wall time)."""
    return 1000 * statistics.median(v[k] for v in side["steps"].values())


if __name__ == "__main__":
    main()
