"""`tunebook serve` under load, side by side with optuna-dashboard on the same trials.

    python benchmarks/serve.py            # 1,000 trials x 1,000 steps; 10,000 trials; workers
    python benchmarks/serve.py --quick    # a smaller run while developing

1. A round of 1,000 trials x 1,000 steps (one dev metric and a training loss per step):
   server time, over real HTTP on 127.0.0.1, for what the round page needs (the page itself
   and its trial table JSON), a trial page's JSON (every curve, thinned to ~400 points), the
   round's analysis (first and cached), and the same trials exported into an Optuna study on
   SQLite served by optuna-dashboard (its study endpoint, which its trial table reads).
2. A store of 10,000 trials: the project page and the round table.
3. The cost to workers: a round of no-op trials (2 process workers, each trial logging 200
   points) run with and without a dashboard client polling like an open round page (table
   every second, live curves every two), alternating, medians of the repetitions.

Timings are medians of repeated requests after one warm-up request unless stated.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tunebook.core.spec import parse_project, parse_round
from tunebook.serve.access import Access
from tunebook.serve.app import create_app
from tunebook.store import Store

PROJECT: dict[str, Any] = {
    "name": "bench", "task": {"type": "classification", "goal": "benchmark the dashboard"},
    "metrics": [{"name": "accuracy", "split": "dev", "goal": "max"},
                {"name": "loss", "split": "train", "goal": "min"}],
    "score": "dev/accuracy", "pipeline": "train:train", "eval_every": 10,
    "baseline": {"config": {"lr": 0.01, "max_train_steps": 1000}},
}
ROUND: dict[str, Any] = {
    "name": "big", "question": "How does the dashboard cope?", "algorithm": "quasi_random",
    "seed": 0, "params": {
        "lr": {"role": "nuisance", "type": "float", "low": 1e-4, "high": 1.0, "scale": "log"},
        "wd": {"role": "nuisance", "type": "float", "low": 1e-6, "high": 1e-2, "scale": "log"},
        "width": {"role": "target", "values": [32, 64]}}}
NOOP_TRAIN = '''
def train(config, run):
    for step in range(1, 201):
        run.log(step, train_loss=1.0 / step)
        if run.should_eval(step):
            run.log(step, dev_accuracy=0.5 + step / 1000)
'''


def make_project(folder: Path, n_trials: int, n_steps: int, project: dict[str, Any] | None = None
                 ) -> tuple[Path, list[dict[str, Any]]]:
    folder.mkdir(parents=True, exist_ok=True)
    proj = project or PROJECT
    (folder / "tunebook.yaml").write_text(yaml.safe_dump(proj))
    (folder / "train.py").write_text(NOOP_TRAIN)
    store = Store(folder / ".tunebook" / "store.db")
    p = parse_project(proj)
    spec = parse_round({**ROUND, "budget": n_trials // 2})
    record = store.create_round(spec, p)
    rng = random.Random(0)
    rows = []
    for i in range(n_trials):
        config = {"lr": 10 ** rng.uniform(-4, 0), "wd": 10 ** rng.uniform(-6, -2),
                  "width": [32, 64][i % 2], "max_train_steps": n_steps}
        rows.append({"config": config, "group": {"width": config["width"]}, "seed": i})
    ids = store.add_trials(record.id, rows)
    trials_out = []
    for tid, row in zip(ids, rows, strict=True):
        claimed = store.claim(record.id, "bench", 600.0)
        assert claimed is not None
        quality = 0.95 - 0.04 * (math.log10(row["config"]["lr"]) + 2) ** 2
        points, inter = [], {}
        for s in range(1, n_steps + 1):
            points.append((tid, s, "train/loss", 2.0 / (1 + 0.01 * s)))
            if s % 10 == 0 or n_steps <= 10:
                acc = quality * (0.5 + 0.5 * s / n_steps)
                points.append((tid, s, "dev/accuracy", acc))
                inter[s] = acc
        store.log_points(points)
        best = max(inter, key=lambda k: inter[k])
        store.finish(claimed[0].id, claimed[1], "completed", best_step=best,
                     score=inter[best], feasible=True, best_metrics={"dev/accuracy": inter[best]})
        trials_out.append({"config": row["config"], "value": inter[best], "inter": inter})
    store.close()
    return folder, trials_out


class Server:
    """A uvicorn server on a free loopback port, in a thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0,
                                                    log_level="error", access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        sock = self.server.servers[0].sockets[0]
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=300) as r:
        body: bytes = r.read()
        return body


def timed(url: str, repeat: int) -> tuple[float, int]:
    fetch(url)  # warm-up (and the first analysis, for the analysis endpoint)
    times, size = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        size = len(fetch(url))
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000, size


def first(url: str) -> float:
    t0 = time.perf_counter()
    fetch(url)
    return (time.perf_counter() - t0) * 1000


def optuna_dashboard_times(folder: Path, trials: list[dict[str, Any]], repeat: int
                           ) -> dict[str, Any]:
    import optuna
    from optuna.distributions import FloatDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{folder / 'optuna.db'}"
    study = optuna.create_study(study_name="big", storage=url, direction="maximize")
    dists = {"lr": FloatDistribution(1e-4, 1.0, log=True),
             "wd": FloatDistribution(1e-6, 1e-2, log=True),
             "width": FloatDistribution(32, 64)}
    t0 = time.perf_counter()
    study.add_trials([optuna.trial.create_trial(
        params={k: float(t["config"][k]) for k in dists}, distributions=dists,
        value=t["value"], intermediate_values=t["inter"]) for t in trials])
    export_s = time.perf_counter() - t0
    from optuna_dashboard import wsgi

    app = wsgi(optuna.storages.RDBStorage(url))
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    httpd = make_server("127.0.0.1", 0, app, handler_class=Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_port}"
    sid = study._study_id
    try:
        ms, size = timed(f"{base}/api/studies/{sid}?after=0", repeat)
    finally:
        httpd.shutdown()
    return {"study_ms": ms, "study_bytes": size, "export_s": export_s}


def bench_round(folder: Path, n_trials: int, n_steps: int, repeat: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    project, trials = make_project(folder / "round", n_trials, n_steps)
    build_s = time.perf_counter() - t0
    srv = Server(create_app(project / "tunebook.yaml", None, Access("127.0.0.1", None)))
    try:
        out: dict[str, Any] = {"trials": n_trials, "steps": n_steps, "build_s": build_s}
        out["page_ms"], out["page_bytes"] = timed(f"{srv.url}/rounds/big", repeat)
        out["table_ms"], out["table_bytes"] = timed(f"{srv.url}/api/rounds/big", repeat)
        table = json.loads(fetch(f"{srv.url}/api/rounds/big"))
        out["unchanged_ms"], _ = timed(f"{srv.url}/api/rounds/big?version={table['version']}",
                                       repeat)
        tid = table["rows"][0]["id"]
        out["trial_ms"], out["trial_bytes"] = timed(f"{srv.url}/api/trials/{tid}", repeat)
        out["analysis_first_ms"] = first(f"{srv.url}/api/rounds/big/analysis")
        out["analysis_cached_ms"], _ = timed(f"{srv.url}/api/rounds/big/analysis", repeat)
    finally:
        srv.stop()
    out["optuna_dashboard"] = optuna_dashboard_times(folder / "round", trials, repeat)
    return out


def bench_store(folder: Path, n_trials: int, repeat: int) -> dict[str, Any]:
    project, _ = make_project(folder / "store", n_trials, 10)
    srv = Server(create_app(project / "tunebook.yaml", None, Access("127.0.0.1", None)))
    try:
        out: dict[str, Any] = {"trials": n_trials}
        out["project_first_ms"] = first(f"{srv.url}/")
        out["project_ms"], _ = timed(f"{srv.url}/", repeat)
        out["table_ms"], out["table_bytes"] = timed(f"{srv.url}/api/rounds/big", repeat)
    finally:
        srv.stop()
    return out


def run_workers(project: Path, name: str, n: int, poll: bool) -> tuple[float, int]:
    from tunebook.core.spec import load_project
    from tunebook.rounds.lifecycle import create_round
    from tunebook.store import open_store
    from tunebook.workers.execute import run_round

    store = open_store(None, project)
    spec = parse_round({"name": name, "question": "no-op", "budget": n, "seed": 0,
                        "algorithm": "quasi_random",
                        "params": {"lr": {"role": "nuisance", "type": "float", "low": 1e-4,
                                          "high": 1.0, "scale": "log"}}})
    create_round(store, load_project(project / "tunebook.yaml"), spec)
    stop = threading.Event()
    polls = [0]

    def poller(url: str) -> None:
        version, last_live = "", 0.0
        while not stop.is_set():
            r = json.loads(fetch(f"{url}/api/rounds/{name}?version={version}"))
            version = r["version"]
            polls[0] += 1
            if time.monotonic() - last_live >= 2:
                fetch(f"{url}/api/rounds/{name}/live")
                last_live = time.monotonic()
            stop.wait(1.0)

    srv = thread = None
    if poll:
        srv = Server(create_app(project / "tunebook.yaml", None, Access("127.0.0.1", None)))
        thread = threading.Thread(target=poller, args=(srv.url,), daemon=True)
        thread.start()
    t0 = time.perf_counter()
    run_round(store, name, project, workers=2, executor="processes", show_progress=False)
    wall = time.perf_counter() - t0
    stop.set()
    if thread is not None and srv is not None:
        thread.join()
        srv.stop()
    store.close()
    return wall, polls[0]


def bench_workers(folder: Path, n: int, reps: int) -> dict[str, Any]:
    project, _ = make_project(folder / "workers", 2, 10)
    walls: dict[bool, list[float]] = {False: [], True: []}
    polls = 0
    for i in range(reps):
        for poll in ((False, True) if i % 2 == 0 else (True, False)):
            wall, p = run_workers(project, f"noop{i}{'p' if poll else ''}", n, poll)
            walls[poll].append(wall)
            polls += p
    base, watched = statistics.median(walls[False]), statistics.median(walls[True])
    return {"trials": n, "reps": reps, "without_s": base, "with_s": watched,
            "without_all": walls[False], "with_all": walls[True],
            "change": watched / base - 1, "polls": polls}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    a = ap.parse_args()
    n, steps, big, noop, reps, repeat = ((1000, 1000, 10_000, 100, 3, 5) if not a.quick
                                         else (100, 100, 1000, 20, 1, 3))
    with tempfile.TemporaryDirectory(prefix="tb-serve-bench-") as tmp:
        folder = Path(tmp)
        res = {"round": bench_round(folder, n, steps, repeat),
               "store": bench_store(folder, big, repeat),
               "workers": bench_workers(folder, noop, reps)}
    print(json.dumps(res, indent=2))
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
