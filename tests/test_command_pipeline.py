"""Command pipelines: a real argparse script run once per trial, reporting through the client
or JSON lines on stdout; failures, divergence, SIGTERM, checkpoints and bad specs."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import PROJECT, round_dict

from tunebook.core.command import CommandPipeline, render_value
from tunebook.core.errors import SpecError
from tunebook.core.spec import load_project, parse_project, parse_round
from tunebook.rounds.lifecycle import create_round
from tunebook.store import Store
from tunebook.workers.execute import run_round, worker_loop

SCRIPT = '''
import argparse, json, math, os, sys, time
import tunebook
from tunebook.workers import client

p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, required=True)
p.add_argument("--steps", type=int, default=20)
p.add_argument("--mode", default="ok")
p.add_argument("--pidfile", default="")
p.add_argument("--config", default="")
a = p.parse_args()
if a.pidfile:
    open(a.pidfile, "w").write(str(os.getpid()))
if a.config:  # Hydra style: the whole config in a file
    import yaml
    a.lr = yaml.safe_load(open(a.config))["lr"]
start = 0
resumed = client.load_checkpoint()
if resumed is not None:
    start = resumed[0]
    client.record(resumed_from=start, weight=float(resumed[1]["w"]))
print("starting", a.mode, a.lr)  # plain output: kept in the log, never a metric
for step in range(start + 1, a.steps + 1):
    if a.mode == "fail" and step == 3:
        sys.exit("planted failure at step 3")
    loss = float("nan") if a.mode == "diverge" and step == 5 else 1 / (1 + a.lr * step)
    tunebook.report(step, train_loss=loss)
    if step % 5 == 0:
        acc = 0.9 - 0.05 * (math.log10(a.lr) + 2) ** 2 + 0.001 * step
        print(json.dumps({"step": step, "dev_accuracy": acc, "dev_latency_ms": 1.0}))
    if a.mode == "ckpt" and step == 10:
        import torch
        client.save_checkpoint(step, {"w": torch.tensor(float(step))})
        if resumed is None:
            time.sleep(600)  # the first attempt waits to be stopped
    if a.mode == "diverge" and step == 5:
        time.sleep(600)  # the worker must end the script itself
'''


def _project(folder: Path, command: Any, **extra: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    project = dict(PROJECT, pipeline={"command": command, **extra})
    (folder / "tunebook.yaml").write_text(yaml.safe_dump(project))
    (folder / "train.py").write_text(textwrap.dedent(SCRIPT))
    return folder


def _round(folder: Path, store_url: str, **over: Any) -> tuple[Store, str]:
    store = Store(store_url)
    spec = parse_round(round_dict(**over))
    create_round(store, load_project(folder / "tunebook.yaml"), spec)
    return store, spec.name


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_argparse_script_reports_through_client_and_stdout(tmp_path: Path,
                                                           store_url: str) -> None:
    folder = _project(tmp_path / "p", "python train.py --lr {lr} --steps {max_train_steps}")
    store, name = _round(folder, store_url)
    counts = run_round(store, name, folder, executor="inline", show_progress=False)
    assert counts == {"completed": 4}
    for t in store.trials(store.round(name).id):
        curve = store.curve(t.id)
        assert sorted(curve) == list(range(1, 21))  # train/loss from report() at every step
        lr = t.config["lr"]  # the value reached argparse unchanged (repr round-trips)
        assert curve[7]["train/loss"] == pytest.approx(1 / (1 + lr * 7), rel=1e-12)
        assert sorted(s for s in curve if "dev/accuracy" in curve[s]) == [5, 10, 15, 20]
        assert t.best_step == 20 and t.score == pytest.approx(curve[20]["dev/accuracy"])
        (log,) = store.artifacts(t.id, "log")
        assert log.size > 0  # "starting ..." kept; JSON lines went to the curve instead


def test_failure_divergence_and_the_script_is_stopped(tmp_path: Path, store_url: str) -> None:
    folder = _project(tmp_path / "p", ["python", "train.py", "--lr", "{lr}", "--mode", "{mode}",
                                       "--pidfile", "{run_dir}/pid"])
    params = {"mode": {"role": "target", "values": ["fail", "diverge"]},
              "lr": {"role": "nuisance", "type": "float", "low": 1e-3, "high": 1.0}}
    store, name = _round(folder, store_url, params=params, budget=1)
    run_round(store, name, folder, executor="inline", show_progress=False)
    by = {t.config["mode"]: t for t in store.trials(store.round(name).id)}
    fail = by["fail"]
    assert fail.status == "failed"
    assert (fail.error or "").startswith("the command exited with status 1")
    assert "planted failure at step 3" in (fail.error or "")
    assert "tunebook" not in (fail.error or "")  # the script's reason, not our traceback
    assert max(store.curve(fail.id)) == 2
    div = by["diverge"]
    assert div.status == "diverged" and "train/loss = nan at step 5" in (div.error or "")


def test_diverged_script_is_killed(tmp_path: Path, store_url: str) -> None:
    pidfile = tmp_path / "pid"
    folder = _project(tmp_path / "p", f"python train.py --lr {{lr}} --mode diverge "
                                      f"--pidfile {pidfile}")
    store, name = _round(folder, store_url, budget=1)
    run_round(store, name, folder, executor="inline", show_progress=False)
    (t,) = store.trials(store.round(name).id)
    assert t.status == "diverged"
    assert _gone(int(pidfile.read_text()))  # it was sleeping 600 s: the worker ended it


def test_sigterm_requeues_and_the_retry_resumes_from_the_checkpoint(tmp_path: Path,
                                                                     store_url: str) -> None:
    pidfile = tmp_path / "pid"
    folder = _project(tmp_path / "p", f"python train.py --lr {{lr}} --mode ckpt "
                                      f"--pidfile {pidfile}")
    store, name = _round(folder, store_url, budget=1)
    rid = store.round(name).id
    p = mp.get_context("spawn").Process(target=worker_loop, args=(store.url, name, str(folder)))
    p.start()
    (t,) = store.trials(rid)
    deadline = time.time() + 120
    while not store.artifacts(t.id, "checkpoint") and time.time() < deadline:
        time.sleep(0.05)
    assert p.pid is not None
    os.kill(p.pid, signal.SIGTERM)
    p.join(60)
    first = store.trial(t.id)
    assert first.status == "queued" and "SIGTERM" in (first.error or "")
    assert _gone(int(pidfile.read_text()))
    run_round(store, name, folder, executor="inline", show_progress=False)
    done = store.trial(t.id)
    assert done.status == "completed" and done.attempts == 2
    assert done.meta["resumed_from"] == 10 and done.meta["weight"] == 10.0
    assert sorted(store.curve(t.id)) == list(range(1, 21))


def test_config_file_form_for_hydra_style_scripts(tmp_path: Path, store_url: str) -> None:
    folder = _project(tmp_path / "p", "python train.py --lr 1 --config {config_file}")
    store, name = _round(folder, store_url, budget=2)
    run_round(store, name, folder, executor="inline", show_progress=False)
    for t in store.trials(store.round(name).id):
        assert t.status == "completed"
        # the loss used the lr from the file, not the --lr 1 on the command line
        assert store.curve(t.id)[4]["train/loss"] == pytest.approx(1 / (1 + t.config["lr"] * 4))


def test_values_are_rendered_as_single_arguments() -> None:
    spec = CommandPipeline(command="prog --name {name} --lr {lr} --n {n} --flag {flag}")
    args = spec.render({"name": "x; rm -rf ~ | cat", "lr": 1e-05, "n": 3, "flag": True}, {})
    assert args == ["prog", "--name", "x; rm -rf ~ | cat", "--lr", "1e-05", "--n", "3",
                    "--flag", "true"]
    assert float(render_value(0.1 + 0.2)) == 0.1 + 0.2
    assert render_value([1, 2]) == "[1, 2]"
    assert CommandPipeline(command="p --lr={lr:.2e}").render({"lr": 0.00123}, {}) == [
        "p", "--lr=1.23e-03"]


def test_bad_command_specs_are_refused_before_any_worker(tmp_path: Path,
                                                         store_url: str) -> None:
    with pytest.raises(SpecError, match="pipeline"):
        parse_project(dict(PROJECT, pipeline={"command": "python 'train.py"}))
    with pytest.raises(SpecError, match="placeholders"):
        parse_project(dict(PROJECT, pipeline={"command": "python train.py {lr.real}"}))
    with pytest.raises(SpecError, match="command"):
        parse_project(dict(PROJECT, pipeline={"cmd": "python train.py"}))
    folder = _project(tmp_path / "p", "python train.py --lr {learning_rate}")
    store, name = _round(folder, store_url)
    with pytest.raises(SpecError, match=r"\{learning_rate\}"):
        run_round(store, name, folder, executor="inline", show_progress=False)
    folder2 = _project(tmp_path / "q", "./missing.sh --lr {lr}")
    _, name2 = _round(folder2, store_url, name="r2")
    with pytest.raises(SpecError, match="missing.sh"):
        run_round(store, name2, folder2, executor="inline", show_progress=False)
    assert store.counts(store.round(name).id) == {"queued": 4}


def test_validate_checks_placeholders_against_the_round(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from tunebook.cli import app
    from tunebook.cli.output import run_app

    folder = _project(tmp_path / "p", "python train.py --lr {lr} --wd {weight_decay}")
    (folder / "round.yaml").write_text(yaml.safe_dump(round_dict()))
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "argv", ["tunebook", "validate", "round.yaml"])
    assert run_app(app) == 2
    assert "{weight_decay}" in capsys.readouterr().err
