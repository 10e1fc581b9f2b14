"""Trials that misbehave fail alone, with their reason; the worker goes on; budgets stay exact.

Each case is a target value of one round, so one run shows that the others were unharmed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT, round_dict, write_project

from tunebook.core.spec import load_project, parse_round
from tunebook.rounds.lifecycle import create_round
from tunebook.store import Store
from tunebook.workers.execute import run_round

MISBEHAVING = '''
import os, signal, sys, time

def train(config, run):
    mode = config["mode"]
    for step in range(1, 11):
        if step == 3:
            if mode == "sys_exit":
                sys.exit(4)
            if mode == "sys_exit_none":
                sys.exit()
            if mode == "keyboard":
                raise KeyboardInterrupt
            if mode == "os_exit":
                os._exit(3)
            if mode == "hang_quiet":          # never logs again
                time.sleep(600)
            if mode == "hang_blocked":        # deaf to SIGALRM too: only the watchdog's exit
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
                time.sleep(600)
            if mode == "bad_value":
                run.log(step, train_loss="abc")
            if mode == "long_name":
                run.log(step, **{"dev_" + "x" * 250: 1.0})
        if mode == "numpy":
            import numpy as np
            run.log(np.int64(step), train_loss=np.float32(1.0 / step))
            if step % 5 == 0:
                run.log(np.int32(step), dev_accuracy=np.float64(0.5 + step / 100))
            continue
        if mode == "slow":  # logs, but the whole trial outlives its time limit
            time.sleep(0.4)
        run.log(step, train_loss=1.0 / step)
        if step % 5 == 0:
            run.log(step, dev_accuracy=0.5 + step / 100)
'''


def _round(tmp_path: Path, store_url: str, modes: list[str],
           project: dict[str, Any] | None = None, **over: Any) -> tuple[Store, str, Path]:
    pdir = write_project(tmp_path / "proj", project or {**PROJECT, "constraints": []},
                         MISBEHAVING)
    store = Store(store_url)
    spec = parse_round(round_dict(**{"params": {"mode": {"role": "target", "values": modes}},
                                     "budget": 1, "algorithm": "quasi_random", **over}))
    create_round(store, load_project(pdir / "tunebook.yaml"), spec)
    return store, spec.name, pdir


def _by_mode(store: Store, name: str) -> dict[str, Any]:
    trials = store.trials(store.round(name).id)
    return {t.config["mode"]: t for t in trials}


def test_exits_interrupts_numpy_steps_and_long_names_fail_only_their_trial(
        tmp_path: Path, store_url: str) -> None:
    modes = ["ok", "sys_exit", "sys_exit_none", "keyboard", "numpy", "long_name", "bad_value"]
    store, name, pdir = _round(tmp_path, store_url, modes)
    run_round(store, name, pdir, executor="inline", show_progress=False)
    by = _by_mode(store, name)
    assert len(by) == len(modes) and all(t.attempts == 1 for t in by.values())  # budget exact
    assert by["ok"].status == "completed" and by["ok"].score == pytest.approx(0.6)
    assert by["numpy"].status == "completed" and by["numpy"].best_step == 10
    assert by["sys_exit"].status == "failed" and "sys.exit(4)" in (by["sys_exit"].error or "")
    assert "sys.exit(None)" in (by["sys_exit_none"].error or "")
    assert by["keyboard"].status == "failed"
    assert "KeyboardInterrupt" in (by["keyboard"].error or "")
    assert by["long_name"].status == "failed"
    assert "1 to 200 characters" in (by["long_name"].error or "")
    assert "run.log train_loss: expected a number" in (by["bad_value"].error or "")


@pytest.mark.parametrize("formula,executor", [("(dev_accuracy - 2) ** 0.5", "processes"),
                                              ("10 ** (dev_accuracy * 1000)", "inline")])
def test_a_score_formula_without_a_real_value_fails_the_trial_not_the_worker(
        tmp_path: Path, store_url: str, formula: str, executor: str) -> None:
    project = {**PROJECT, "constraints": [], "score": {"formula": formula, "goal": "max"}}
    store, name, pdir = _round(tmp_path, store_url, ["ok", "numpy"], project=project)
    run_round(store, name, pdir, workers=2, executor=executor, show_progress=False)
    by = _by_mode(store, name)
    assert {t.status for t in by.values()} == {"failed"}
    assert all(t.attempts == 1 for t in by.values())
    word = "complex" if "0.5" in formula else "overflowed"
    assert all(word in (t.error or "") and formula in (t.error or "") for t in by.values())


def test_os_exit_in_a_worker_process_fails_that_trial_and_a_replacement_finishes_the_round(
        tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNEBOOK_MAX_ATTEMPTS", "2")  # the children inherit it
    store, name, pdir = _round(tmp_path, store_url, ["ok", "os_exit", "numpy"], budget=2)
    counts = run_round(store, name, pdir, workers=2, executor="processes", show_progress=False)
    assert counts == {"completed": 4, "failed": 2}
    for t in store.trials(store.round(name).id):
        if t.config["mode"] == "os_exit":
            assert t.status == "failed" and t.attempts == 2
            assert "exited with code 3" in (t.error or "")
            assert len((t.meta or {}).get("history", [])) == 2
        else:
            assert t.status == "completed" and t.attempts == 1


def test_time_limits_end_trials_with_their_reason_inline(tmp_path: Path, store_url: str) -> None:
    from tunebook.workers.limits import TrialLimits

    store, name, pdir = _round(tmp_path, store_url, ["ok", "hang_quiet", "slow"])
    run_round(store, name, pdir, executor="inline", show_progress=False,
              limits=TrialLimits(trial_timeout_s=2.0, no_progress_timeout_s=1.0))
    by = _by_mode(store, name)
    assert by["ok"].status == "completed"
    assert by["hang_quiet"].status == "failed"
    assert "no progress" in (by["hang_quiet"].error or "")
    assert by["slow"].status == "failed" and "trial time limit" in (by["slow"].error or "")


def test_a_trial_deaf_to_its_limit_is_abandoned_and_its_worker_replaced(
        tmp_path: Path, store_url: str) -> None:
    store, name, pdir = _round(tmp_path, store_url, ["ok", "hang_blocked"], budget=2,
                               no_progress_timeout_s=0.5)
    counts = run_round(store, name, pdir, workers=1, executor="processes", show_progress=False)
    assert counts == {"completed": 2, "failed": 2}
    for t in store.trials(store.round(name).id):
        if t.config["mode"] == "hang_blocked":
            assert t.attempts == 1 and "did not stop" in (t.error or "")
