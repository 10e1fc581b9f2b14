"""Orchestration cost per trial as the round grows: tunebook's process workers vs Optuna.

    python benchmarks/orchestration.py                 # 100, 1,000, 10,000 trials; 2 and 8
    python benchmarks/orchestration.py --quick         # 100 and 1,000 trials (developing)
    python benchmarks/orchestration.py --postgres URL  # PostgreSQL too ($TUNEBOOK_TEST_POSTGRES)

Each cell is a fresh database (a new SQLite file, or a PostgreSQL database created and dropped
by the script) holding one round of no-op trials: ``train()`` logs one metric and returns.

- tunebook: ``create_round`` (a ``quasi_random`` round of N trials, one nuisance float), then
  ``run_round(..., workers=W, executor="processes")``; ms per trial = its wall time / N.
- Optuna: ``create_study`` on ``RDBStorage`` over the same kind of database, then W processes
  each running ``optuna.load_study(...).optimize(objective, n_trials=N / W)`` with a
  ``RandomSampler`` and a no-op objective (one ``suggest_float``); ms per trial = wall time / N.

Both walls include starting the W processes. CPU per trial is the CPU time of this process and
its worker processes together / N (a PostgreSQL server's own CPU is not in it). Then
``round new``: ``create_round`` for rounds of 10,000 (1 target value x 10,000) and 100,000
trials (10 x 10,000) in a fresh subprocess each, its wall time and peak RSS (``ru_maxrss``),
beside the same subprocess's peak after its imports alone (``VmHWM``).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PROJECT: dict[str, Any] = {
    "name": "bench", "task": {"type": "classification", "goal": "measure orchestration"},
    "metrics": [{"name": "accuracy", "split": "dev", "goal": "max"}],
    "score": "dev/accuracy", "pipeline": "train:train", "eval_every": 1,
    "baseline": {"config": {"lr": 0.01, "max_train_steps": 1}},
}
NOOP_TRAIN = "def train(config, run):\n    run.log(1, dev_accuracy=0.5)\n"
NOTES = "## Reading the numbers"  # the page's hand-written part, kept when tables are rewritten
LR = {"role": "nuisance", "type": "float", "low": 1e-4, "high": 1.0, "scale": "log"}


def round_spec(name: str, budget: int, groups: int = 1) -> dict[str, Any]:
    params: dict[str, Any] = {"lr": LR}
    if groups > 1:
        params["width"] = {"role": "target", "values": list(range(groups))}
    return {"name": name, "question": "orchestration cost", "algorithm": "quasi_random",
            "seed": 0, "budget": budget, "params": params}


def loadavg() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3]


def load() -> str:
    return loadavg()[0]


def cpu_now() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass
class Cell:
    who: str
    db: str
    trials: int
    workers: int
    wall_s: float
    cpu_s: float
    load_before: str
    load_after: str
    span_s: float  # from the first trial's start to the last one's end (no process start)

    @property
    def ms(self) -> float:
        return 1000 * self.wall_s / self.trials

    @property
    def running_ms(self) -> float:
        return 1000 * self.span_s / self.trials

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu_s / self.trials


# -- databases --------------------------------------------------------------------------------


@contextmanager
def database(kind: str, pg_admin: str | None, folder: Path) -> Iterator[str]:
    """A fresh, empty database URL of ``kind``; a PostgreSQL one is dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / f'{uuid.uuid4().hex[:8]}.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    assert pg_admin is not None
    name = f"tb_orch_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_admin.replace("postgresql://", "postgresql+psycopg://", 1),
                          isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield f"{pg_admin.rsplit('/', 1)[0]}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


# -- tunebook ---------------------------------------------------------------------------------


def tunebook_cell(url: str, db: str, folder: Path, trials: int, workers: int) -> Cell:
    from tunebook.core.spec import parse_project, parse_round
    from tunebook.rounds.lifecycle import create_round
    from tunebook.store import Store
    from tunebook.workers.execute import run_round

    project_dir = folder / f"proj-{uuid.uuid4().hex[:6]}"
    project_dir.mkdir()
    (project_dir / "tunebook.yaml").write_text(yaml.safe_dump(PROJECT))
    (project_dir / "train.py").write_text(NOOP_TRAIN)
    store = Store(url)
    create_round(store, parse_project(PROJECT), parse_round(round_spec("r", trials)))
    before, c0, t0 = load(), cpu_now(), time.perf_counter()
    counts = run_round(store, "r", project_dir, workers=workers, executor="processes",
                       threads=1, show_progress=False)
    wall, cpu = time.perf_counter() - t0, cpu_now() - c0
    ts = store.trials(store.round("r").id)
    store.close()
    assert counts == {"completed": trials}, counts
    span = max(t.finished_at or 0.0 for t in ts) - min(t.started_at or 0.0 for t in ts)
    return Cell("tunebook", db, trials, workers, wall, cpu, before, load(), span)


# -- Optuna -----------------------------------------------------------------------------------


def _optuna_storage(url: str) -> Any:
    import optuna

    if url.startswith("sqlite"):  # wait for SQLite's one writer instead of failing at 5 s
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 120}})
    return optuna.storages.RDBStorage(url.replace("postgresql://", "postgresql+psycopg://", 1))


def _objective(trial: Any) -> float:
    trial.suggest_float("lr", 1e-4, 1.0, log=True)
    return 0.5


def _optuna_worker(url: str, share: int, seed: int) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="bench", storage=_optuna_storage(url),
                              sampler=optuna.samplers.RandomSampler(seed=seed))
    study.optimize(_objective, n_trials=share)


def optuna_cell(url: str, db: str, trials: int, workers: int) -> Cell:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.create_study(study_name="bench", storage=_optuna_storage(url), direction="maximize")
    shares = [trials // workers + (1 if i < trials % workers else 0) for i in range(workers)]
    ctx = mp.get_context("spawn")
    before, c0, t0 = load(), cpu_now(), time.perf_counter()
    procs = [ctx.Process(target=_optuna_worker, args=(url, s, i)) for i, s in enumerate(shares)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    wall, cpu = time.perf_counter() - t0, cpu_now() - c0
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    done = optuna.load_study(study_name="bench", storage=_optuna_storage(url)).trials
    assert len(done) == trials, len(done)
    span = (max(t.datetime_complete for t in done if t.datetime_complete)
            - min(t.datetime_start for t in done if t.datetime_start)).total_seconds()
    return Cell("Optuna", db, trials, workers, wall, cpu, before, load(), span)


# -- round new --------------------------------------------------------------------------------


def hwm_mib() -> float:
    """This process's peak RSS (VmHWM; unlike ru_maxrss it is not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def create_child(url: str, total: int) -> None:
    """In a fresh process: imports, then create_round of ``total`` trials; prints the numbers."""
    from tunebook.core.spec import parse_project, parse_round
    from tunebook.rounds.lifecycle import create_round
    from tunebook.store import Store

    groups = max(1, total // 10_000)
    spec = parse_round(round_spec("big", total // groups, groups))
    project = parse_project(PROJECT)
    store = Store(url)
    import scipy.stats  # noqa: F401  (the quasi-random searcher's import, counted as baseline)

    base = hwm_mib()
    t0 = time.perf_counter()
    create_round(store, project, spec)
    wall = time.perf_counter() - t0
    peak = hwm_mib()
    n = len(store.group_counts(store.round("big").id))
    store.close()
    print(f"{wall} {base} {peak} {n}")


def round_new(url: str, total: int) -> tuple[float, float, float]:
    out = subprocess.run([sys.executable, __file__, "--create-child", str(total), url],
                         check=True, capture_output=True, text=True).stdout.split()
    wall, base, peak, _groups = (float(x) for x in out)
    return wall, base, peak


# -- the run ----------------------------------------------------------------------------------


def table(cells: list[Cell]) -> list[str]:
    keys = sorted({(c.db, c.workers) for c in cells}, key=lambda k: (k[0] != "SQLite", k))
    sizes = sorted({c.trials for c in cells})
    rows = ["| database | workers | trials | tunebook ms/trial | running | CPU "
            "| Optuna ms/trial | running | CPU | load (before → after) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for db, w in keys:
        for n in sizes:
            tb = next((c for c in cells if (c.who, c.db, c.workers, c.trials)
                       == ("tunebook", db, w, n)), None)
            op = next((c for c in cells if (c.who, c.db, c.workers, c.trials)
                       == ("Optuna", db, w, n)), None)
            if tb is None and op is None:
                continue
            loads = "; ".join(f"{c.who[0]} {c.load_before} → {c.load_after}"
                              for c in (tb, op) if c is not None)
            def nums(c: Cell | None) -> str:
                if c is None:
                    return "not run | | "
                return f"{c.ms:.1f} | {c.running_ms:.1f} | {c.cpu_ms:.1f}"

            rows.append(f"| {db} | {w} | {n:,} | {nums(tb)} | {nums(op)} | {loads} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100 and 1,000 trials")
    ap.add_argument("--sizes", type=int, nargs="*", help="round sizes (trials)")
    ap.add_argument("--workers", type=int, nargs="*", default=[2, 8])
    ap.add_argument("--optuna-max", type=int, default=10_000,
                    help="largest round Optuna runs (its cost grows with the study)")
    ap.add_argument("--postgres", default=os.environ.get("TUNEBOOK_TEST_POSTGRES"),
                    help="an admin URL of a PostgreSQL server (a database is created per cell)")
    ap.add_argument("--no-create", action="store_true", help="skip the round-new measurement")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "docs"
                                         / "benchmarks" / "orchestration.md"))
    ap.add_argument("--create-child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.create_child:
        create_child(args.create_child[1], int(args.create_child[0]))
        return
    sizes = args.sizes or ([100, 1_000] if args.quick else [100, 1_000, 10_000])
    kinds = ["sqlite"] + (["postgresql"] if args.postgres else [])
    started = f"load average {' '.join(loadavg())} at start"
    cells: list[Cell] = []
    news: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for kind in kinds:
            db = "SQLite" if kind == "sqlite" else "PostgreSQL"
            for w in args.workers:
                for n in sizes:
                    runs: list[Callable[[str], Cell]] = [
                        lambda url, n=n, w=w, db=db: tunebook_cell(url, db, folder, n, w)]
                    if n <= args.optuna_max:
                        runs.append(lambda url, n=n, w=w, db=db: optuna_cell(url, db, n, w))
                    for run in runs:
                        with database(kind, args.postgres, folder) as url:
                            cell = run(url)
                        cells.append(cell)
                        print(f"{cell.who:8} {db:10} W={w} N={n:6}: {cell.ms:6.1f} ms/trial, "
                              f"running {cell.running_ms:6.1f}, "
                              f"CPU {cell.cpu_ms:6.1f} ms/trial, load {cell.load_before} → "
                              f"{cell.load_after}", flush=True)
            if not args.no_create:
                for total in (10_000, 100_000):
                    with database(kind, args.postgres, folder) as url:
                        wall, base, peak = round_new(url, total)
                    line = (f"| {db} | {total:,} | {wall:.1f} | {peak:.0f} | {base:.0f} | "
                            f"{peak - base:.0f} | {load()} |")
                    news.append(line)
                    print(line, flush=True)
    ended = f"load average {' '.join(loadavg())} at the end"
    shown = [a for i, a in enumerate(sys.argv[1:])
             if not a.startswith("postgresql") and a != "--out" and sys.argv[i] != "--out"]
    cmd = "PYTHONPATH=src python benchmarks/orchestration.py " + " ".join(shown)
    if args.postgres:
        cmd = cmd.replace("--postgres", "--postgres URL")
    page = ["# Orchestration cost per trial as the round grows", "",
            f"    {cmd}", "",
            f"Measured on the 2-core development box ({started}, {ended}; other agents' work "
            "shared the cores). Per cell: a fresh database, one round of no-op trials "
            "(`train()` logs one metric), run to its end. ms/trial = wall time (starting the "
            "worker processes included) / trials; running = from the first trial's start to "
            "the last one's end / trials (process start excluded); CPU = CPU ms of the "
            "benchmark process and its workers / trials (a PostgreSQL server's own CPU "
            "excluded). Optuna: W processes each "
            "`load_study(...).optimize(objective, n_trials=N/W)`, RandomSampler, on RDBStorage "
            "over the same kind of database.", "",
            *table(cells), ""]
    if news:
        page += ["`round new` (`create_round`, a `quasi_random` round queued whole) in a fresh "
                 "process: 10,000 trials = 1 target value x 10,000, 100,000 = 10 x 10,000 "
                 "(the largest round a spec allows). RSS after imports is the same process "
                 "before `create_round`.", "",
                 "| database | trials | seconds | peak RSS MiB | RSS after imports MiB "
                 "| added by round new MiB | load after |",
                 "|---|---:|---:|---:|---:|---:|---|", *news, ""]
    out = Path(args.out)
    notes = out.read_text().split(NOTES, 1) if out.exists() else []
    if len(notes) == 2:  # the hand-written reading of the numbers survives a re-run
        page += [NOTES + notes[1].rstrip()]
    out.write_text("\n".join(page) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
