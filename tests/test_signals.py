"""`round run` under signals, with real processes: the parent forwards SIGINT and SIGTERM to its
two workers, running trials go back to the queue, the exit code says which signal (130, 143),
the shutdown is bounded by the grace even for a stuck trial, and workers die with a parent
killed by SIGKILL."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import PROJECT, round_dict, write_project

from tunebook.core.spec import load_project, parse_round
from tunebook.rounds.lifecycle import create_round
from tunebook.store import Store

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process tree read from /proc")

GRACE = "1.5"


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_round(tmp_path: Path, train_cfg: dict[str, object]) -> tuple[Path, str]:
    proj = copy.deepcopy(PROJECT)
    proj["baseline"]["config"].update(train_cfg)
    pdir = write_project(tmp_path / "proj", proj)
    url = f"sqlite:///{pdir / '.tunebook' / 'store.db'}"
    store = Store(url)
    try:
        create_round(store, load_project(pdir / "tunebook.yaml"),
                     parse_round(round_dict(budget=4)))
    finally:
        store.close()
    return pdir, url


def launch(pdir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "TUNEBOOK_GRACE_S": GRACE}
    return subprocess.Popen([sys.executable, "-m", "tunebook", "round", "run", "r1",
                             "--workers", "2", "--json"], cwd=pdir, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_running(url: str, proc: subprocess.Popen[str], n: int = 2) -> None:
    """Until both workers hold a trial (no timing assertion: the parent's end bounds it)."""
    store = Store(url)
    try:
        while store.counts(store.round("r1").id).get("running", 0) < n:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
    finally:
        store.close()


def counts(url: str) -> dict[str, int]:
    store = Store(url)
    try:
        return store.counts(store.round("r1").id)
    finally:
        store.close()


@pytest.mark.parametrize(("sig", "code", "stuck"), [
    (signal.SIGINT, 130, False), (signal.SIGTERM, 143, False), (signal.SIGINT, 130, True)],
    ids=["sigint", "sigterm", "sigint-stuck"])
def test_signal_requeues_and_exits_with_its_code(tmp_path: Path, sig: int, code: int,
                                                 stuck: bool) -> None:
    # "stuck": after its first log the trial sleeps an hour without logging again, so only
    # the grace (1.5 s here) can end it.
    cfg: dict[str, object] = {"max_train_steps": 400, "sleep": 3600.0 if stuck else 0.05}
    pdir, url = start_round(tmp_path, cfg)
    proc = launch(pdir)
    wait_running(url, proc)
    workers = [p for p in children(proc.pid) if "resource_tracker" not in
               Path(f"/proc/{p}/cmdline").read_text()]
    assert len(workers) == 2
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)  # bounded: 1.5 s grace + 1 s, far below this
    assert proc.returncode == code, err
    assert "error" in out and signal.Signals(sig).name in out
    assert not any(alive(p) for p in workers)
    assert counts(url) == {"queued": 4}  # nothing left "running", nothing lost


def test_workers_die_with_a_killed_parent(tmp_path: Path) -> None:
    pdir, url = start_round(tmp_path, {"max_train_steps": 400, "sleep": 0.05})
    proc = launch(pdir)
    wait_running(url, proc)
    workers = [p for p in children(proc.pid) if "resource_tracker" not in
               Path(f"/proc/{p}/cmdline").read_text()]
    proc.kill()
    proc.wait()
    while any(alive(p) for p in workers):  # the test's own timeout bounds this loop
        time.sleep(0.1)
    assert counts(url) == {"queued": 4}  # each worker re-queued its trial before exiting


def test_workers_die_with_a_killed_parent_even_when_stuck(tmp_path: Path) -> None:
    pdir, url = start_round(tmp_path, {"max_train_steps": 400, "sleep": 3600.0})
    proc = launch(pdir)
    wait_running(url, proc)
    workers = [p for p in children(proc.pid) if "resource_tracker" not in
               Path(f"/proc/{p}/cmdline").read_text()]
    proc.kill()
    proc.wait()
    while any(alive(p) for p in workers):  # the watchdog ends them after the grace
        time.sleep(0.1)
    assert counts(url) == {"queued": 4}  # the watchdog re-queued the stuck trials


def test_dead_workers_mean_exit_1_and_no_trial_left_running(tmp_path: Path) -> None:
    pdir, url = start_round(tmp_path, {"max_train_steps": 400, "sleep": 0.05})
    proc = launch(pdir)
    wait_running(url, proc)
    workers = [p for p in children(proc.pid) if "resource_tracker" not in
               Path(f"/proc/{p}/cmdline").read_text()]
    for pid in workers:  # the OOM killer, an operator's kill -9
        os.kill(pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "worker processes died" in out and "exit code -9" in out
    assert counts(url) == {"queued": 4}


def test_requeue_workers_gives_back_only_their_running_trials(store: Store,
                                                             project_dir: Path) -> None:
    """The parent's clean-up after stopped or dead workers, on SQLite and PostgreSQL."""
    rec = create_round(store, load_project(project_dir / "tunebook.yaml"),
                       parse_round(round_dict(budget=4)))
    mine = [store.claim(rec.id, "host:1:w0", 60.0), store.claim(rec.id, "host:1:w1", 60.0)]
    other = store.claim(rec.id, "elsewhere:9", 60.0)
    assert all(mine) and other is not None
    back = store.requeue_workers(rec.id, ["host:1:w0", "host:1:w1"], "re-queued: test")
    assert sorted(back) == sorted(c[0].id for c in mine if c is not None)
    by_id = {t.id: t for t in store.trials(rec.id)}
    assert by_id[other[0].id].status == "running"  # another host's worker keeps its trial
    for tid in back:
        assert by_id[tid].status == "queued" and by_id[tid].error == "re-queued: test"
    assert store.requeue_workers(rec.id, [], "nothing") == []
    # a finished trial is never touched
    assert store.finish(other[0].id, other[1], "completed")
    assert store.requeue_workers(rec.id, ["elsewhere:9"], "late") == []
