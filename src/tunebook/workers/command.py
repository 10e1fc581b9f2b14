"""Run a command pipeline: one subprocess per trial attempt, its reports fed into the ``Run``.

The worker owns the trial (store, lease, pruner, stop flag); the script only reports. It writes
JSON lines to a pipe named by ``$TUNEBOOK_REPORT_FD`` (``tunebook.report``) or prints
``{"step": 10, "dev_accuracy": 0.9}`` lines on stdout. Every report goes through ``run.log``, so
divergence, pruning, a lost lease and SIGTERM end a command exactly where they end a
``train(config, run)``: the worker raises the same exception and stops the script's process
group (SIGTERM, then SIGKILL after ``grace_s``). A non-zero exit fails the trial with the tail
of the script's stderr as its reason; the whole output is kept as the trial's ``log`` artifact.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from tunebook.core.command import CommandPipeline
from tunebook.core.errors import SpecError, TrialFailed
from tunebook.core.trial import RoundRecord
from tunebook.core.yamlio import dump_yaml
from tunebook.rounds.lifecycle import base_config
from tunebook.store import Store
from tunebook.workers.run import Run

POLL_S = 0.05  # how often a silent script's worker checks its stop flag and lease
STDERR_TAIL = 20  # lines of stderr in a failed trial's reason
LOG_LINES = 5000  # lines of output kept as the trial's log artifact
PYTHONS = {"python", "python3"}


class CommandRunner:
    """A ``train(config, run)`` that runs the project's command; made once per worker."""

    def __init__(self, spec: CommandPipeline, project_dir: str | Path) -> None:
        self.spec = spec
        self.project_dir = Path(project_dir).resolve()

    def __call__(self, config: Mapping[str, Any], run: Run) -> None:
        scratch = run.artifacts.resolve(f".runs/trial-{run.trial_id:06d}-{os.getpid()}")
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        try:
            self._run(config, run, scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _run(self, config: Mapping[str, Any], run: Run, scratch: Path) -> None:
        special: dict[str, Any] = {"trial_id": run.trial_id, "seed": run.seed,
                                   "run_dir": str(scratch)}
        env = dict(os.environ)
        if self.spec.config_file:
            path = scratch / f"config.{self.spec.config_file}"
            text = (json.dumps(dict(config), indent=2, sort_keys=True)
                    if self.spec.config_file == "json" else dump_yaml(dict(config)))
            path.write_text(text)
            special["config_file"] = str(path)
            env["TUNEBOOK_CONFIG_FILE"] = str(path)
        args = self.spec.render(config, special)
        if args[0] in PYTHONS:  # the worker's own interpreter: the project's virtualenv
            args[0] = sys.executable
        run.record(command=shlex.join(args))  # what reproduces this trial by hand
        resume = _resume_file(run, scratch)
        read_fd, write_fd = os.pipe()
        env.update({
            "TUNEBOOK_REPORT_FD": str(write_fd),
            "TUNEBOOK_TRIAL_ID": str(run.trial_id),
            "TUNEBOOK_SEED": str(run.seed),
            "TUNEBOOK_CONFIG": json.dumps(dict(config), sort_keys=True),
            "TUNEBOOK_EVAL_EVERY": str(run.eval_every),
            "TUNEBOOK_RUN_DIR": str(scratch),
            "PYTHONUNBUFFERED": "1",  # stdout JSON lines arrive as they are printed
        })
        if run.max_train_steps is not None:
            env["TUNEBOOK_MAX_TRAIN_STEPS"] = str(run.max_train_steps)
        if resume is not None:
            env["TUNEBOOK_RESUME"], env["TUNEBOOK_RESUME_STEP"] = str(resume[1]), str(resume[0])
        env.update(self.spec.render_env(config, special))
        try:
            proc = subprocess.Popen(args, cwd=self.project_dir, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    pass_fds=(write_fd,), start_new_session=True)
        except OSError as exc:
            os.close(read_fd)
            raise TrialFailed(f"could not start {args[0]!r}: {exc}") from None
        finally:
            os.close(write_fd)  # the child holds its copy: EOF comes when it exits
        _Session(proc, run, scratch, self.spec.grace_s).follow(os.fdopen(read_fd, "rb"))


class _Session:
    """One running script: read its three streams, feed the Run, stop it on any exception."""

    def __init__(self, proc: subprocess.Popen[bytes], run: Run, scratch: Path,
                 grace_s: float) -> None:
        self.proc, self.run, self.scratch, self.grace_s = proc, run, scratch, grace_s
        self.lines: queue.Queue[tuple[str, bytes | None]] = queue.Queue()
        self.log: deque[str] = deque(maxlen=LOG_LINES)
        self.stderr: deque[str] = deque(maxlen=STDERR_TAIL)

    def follow(self, reports: IO[bytes]) -> None:
        assert self.proc.stdout is not None and self.proc.stderr is not None
        streams = {"report": reports, "stdout": self.proc.stdout, "stderr": self.proc.stderr}
        readers = [threading.Thread(target=_pump, args=(name, s, self.lines), daemon=True)
                   for name, s in streams.items()]
        for t in readers:
            t.start()
        try:
            self._loop(len(streams))
            rc = self.proc.wait()
            if rc != 0:
                raise TrialFailed(_failure(rc, list(self.stderr)))
        finally:
            self._stop()  # the readers see EOF and close their streams
            self._save_log()

    def _loop(self, open_streams: int) -> None:
        exited_at: float | None = None
        while open_streams:
            try:
                source, line = self.lines.get(timeout=POLL_S)
            except queue.Empty:
                self.run.check()  # SIGTERM to the worker, a lost lease: raise as run.log would
                if self.proc.poll() is not None:
                    # A grandchild may hold the pipes open after the script exited: give the
                    # last lines a moment, then stop waiting for them.
                    exited_at = exited_at or time.monotonic()
                    if time.monotonic() - exited_at > 2.0:
                        return
                continue
            if line is None:
                open_streams -= 1
                continue
            text = line.decode("utf-8", "replace").rstrip("\n")
            if source == "report":
                try:
                    message = json.loads(text)
                except ValueError:  # half a line from a killed script
                    continue
                self._message(message)
                continue
            if source == "stderr":
                self.stderr.append(text)
            elif _stdout_report(self.run, text):
                continue
            self.log.append(text)

    def _message(self, m: dict[str, Any]) -> None:
        op = m.get("op")
        if op == "log":
            self.run.log(int(m["step"]), **m["metrics"])
        elif op == "record":
            self.run.record(**m["info"])
        elif op == "file":
            path = Path(m["path"])
            self.run.save_bytes(m["kind"], path.name, path.read_bytes(), step=m["step"],
                                meta=m["meta"] or None)
            if self.scratch in path.parents:
                path.unlink(missing_ok=True)
        elif op == "drop":
            for a in self.run.store.artifacts(self.run.trial_id, m["kind"]):
                if a.step == m["step"]:
                    self.run.store.remove_artifact(a.id)
                    self.run.artifacts.resolve(a.path).unlink(missing_ok=True)
        elif op == "predictions":
            self.run.save_predictions(m["ids"], m["labels"], m["predictions"], m["confidence"],
                                      step=m["step"], split=m["split"], **m["columns"])

    def _stop(self) -> None:
        """End the script and everything it started (its own process group)."""
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(self.grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def _save_log(self) -> None:
        if not self.log and not self.stderr:
            return
        text = "\n".join([*self.log, *self.stderr]) + "\n"
        with contextlib.suppress(Exception):  # the trial's outcome matters more than its log
            self.run.save_bytes("log", f"output-{os.getpid()}.log", text.encode())


def _pump(name: str, stream: IO[bytes], out: queue.Queue[tuple[str, bytes | None]]) -> None:
    with contextlib.suppress(ValueError, OSError), stream:
        for line in stream:
            out.put((name, line))
    out.put((name, None))


def _stdout_report(run: Run, text: str) -> bool:
    """Log a ``{"step": 10, "dev_accuracy": 0.9}`` line; False for any other output."""
    if not text.startswith("{"):
        return False
    try:
        m = json.loads(text)
    except ValueError:
        return False
    if not isinstance(m, dict) or type(m.get("step")) is not int:
        return False
    metrics = {k: v for k, v in m.items() if k != "step"}
    if not metrics or not all(isinstance(v, int | float) and not isinstance(v, bool)
                              for v in metrics.values()):
        return False
    run.log(m["step"], **metrics)
    return True


def _resume_file(run: Run, scratch: Path) -> tuple[int, Path] | None:
    """The trial's latest checkpoint, checksum-verified, copied where the script can load it."""
    ckpts = [a for a in run.store.artifacts(run.trial_id, "checkpoint") if a.step is not None]
    if not ckpts:
        return None
    art = max(ckpts, key=lambda a: (a.step or 0, a.id))
    path = scratch / "resume.pt"
    path.write_bytes(run.artifacts.read_verified(art.path, art.sha256))
    return int(art.step or 0), path


def _failure(rc: int, stderr: Iterable[str]) -> str:
    head = f"the command exited with status {rc}"
    if rc < 0:
        with contextlib.suppress(ValueError):
            head = f"the command was killed by {signal.Signals(-rc).name}"
    tail = "\n".join(stderr).strip()
    return f"{head}; last lines of its stderr:\n{tail}" if tail else f"{head} (no stderr)"


def pipeline_function(pipeline: Any, project_dir: str | Path) -> Any:
    """What a worker calls per trial: the user's function, or a runner for a command."""
    if isinstance(pipeline, CommandPipeline):
        return CommandRunner(pipeline, project_dir)
    return pipeline


def check_command(store: Store, record: RoundRecord, project_dir: str | Path) -> None:
    """Refuse a command whose program is missing or whose placeholders no config fills,
    before any worker starts."""
    project, spec = record.project, record.spec
    pipeline = project.pipeline
    if not isinstance(pipeline, CommandPipeline):
        return
    keys = set(base_config(project, spec)) | set(spec.params)
    for t in store.trials(record.id):
        keys |= set(t.config)
    pipeline.check_keys(keys)
    program = pipeline.args[0]
    if program in PYTHONS:
        return
    folder = Path(project_dir).resolve()
    found = ((folder / program).is_file() if os.sep in program or program.startswith(".")
             else shutil.which(program) is not None)
    if not found:
        raise SpecError("pipeline.command", "a program on PATH or a file in the project folder",
                        program, f"Looked in {folder} and on PATH.")
