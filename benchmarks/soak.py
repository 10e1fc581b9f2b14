"""Soak: N worker processes x M short trials, workers SIGKILLed at random and restarted.

    python benchmarks/soak.py --store sqlite:///tmp/soak.db          # 8 workers x 400 trials
    python benchmarks/soak.py --store postgresql://postgres:tunebook@127.0.0.1/postgres
    python benchmarks/soak.py --workers 4 --trials 60 --quick

Prints one JSON line: workers, trials, kills, completed, lost (not completed), duplicated
(rows beyond the budget), re-queued attempts, seconds. The figures go into docs/reliability.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import signal
import tempfile
import textwrap
import time
import uuid
from collections import Counter
from pathlib import Path

import yaml

from tunebook.core.spec import load_project, parse_round
from tunebook.rounds.lifecycle import create_round, progress
from tunebook.store import Store
from tunebook.workers.execute import worker_loop

TRAIN = """
import time
def train(config, run):
    for step in range(1, 11):
        run.log(step, train_loss=1.0 / step)
        if run.should_eval(step):
            run.log(step, dev_accuracy=0.5 + config["x"] / 10)
        time.sleep(config["sleep"])
"""


def _worker(url: str, name: str, pdir: str) -> None:
    worker_loop(url, name, pdir, lease_s=2.0, max_attempts=100, poll_s=0.05)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default=None, help="store URL (default: a temp SQLite file)")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--trials", type=int, default=400)
    ap.add_argument("--kill-every", type=float, default=3.0, help="mean seconds between kills")
    ap.add_argument("--sleep", type=float, default=0.02, help="seconds per step of a trial")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tunebook-soak-"))
    (tmp / "train.py").write_text(textwrap.dedent(TRAIN))
    (tmp / "tunebook.yaml").write_text(yaml.safe_dump({
        "name": "soak", "task": {"type": "other", "goal": "soak"},
        "metrics": [{"name": "accuracy", "split": "dev", "goal": "max"}],
        "score": "dev/accuracy", "pipeline": "train:train", "eval_every": 5}))
    url = args.store or f"sqlite:///{tmp / 'soak.db'}"
    store = Store(url)
    name = f"soak-{uuid.uuid4().hex[:6]}"
    spec = parse_round({"name": name, "question": "soak", "budget": args.trials,
                        "params": {"x": {"role": "nuisance", "type": "float", "low": 0,
                                         "high": 1},
                                   "sleep": {"role": "fixed", "value": args.sleep}}})
    rid = create_round(store, load_project(tmp / "tunebook.yaml"), spec).id
    ctx = mp.get_context("spawn")
    rng = random.Random(0)

    def start() -> mp.process.BaseProcess:
        p = ctx.Process(target=_worker, args=(store.url, name, str(tmp)))
        p.start()
        return p

    t0 = time.time()
    procs = [start() for _ in range(args.workers)]
    kills = 0
    while not progress(store, store.round(rid)).done:
        time.sleep(rng.expovariate(1 / args.kill_every))
        alive = [p for p in procs if p.is_alive()]
        if not alive:
            procs = [start() for _ in range(args.workers)]
            continue
        victim = rng.choice(alive)
        assert victim.pid is not None
        os.kill(victim.pid, signal.SIGKILL)
        victim.join()
        kills += 1
        procs = [p for p in procs if p is not victim] + [start()]
    for p in procs:
        p.join(120)
    trials = store.trials(rid)
    status = Counter(t.status for t in trials)
    out = {
        "store": url.split("://")[0], "workers": args.workers, "trials": args.trials,
        "kills": kills, "completed": status.get("completed", 0),
        "lost": args.trials - status.get("completed", 0),
        "duplicated": max(0, len(trials) - args.trials),
        "requeued_attempts": sum(len(t.meta.get("history", [])) for t in trials),
        "seconds": round(time.time() - t0, 1),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
