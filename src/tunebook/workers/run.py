"""The ``Run`` handle given to the user's ``train(config, run)``.

It is the whole integration surface::

    def train(config, run):
        ...
        for step in range(1, config["max_train_steps"] + 1):
            loss = train_step(...)
            run.log(step, train_loss=loss)
            if run.should_eval(step):
                run.log(step, dev_accuracy=evaluate(model))

Metric names ``<split>_<name>`` become ``<split>/<name>`` keys (``dev_accuracy`` ->
``dev/accuracy``). A non-finite value ends the trial as ``diverged``. The first ``log`` of a name
that ``tunebook.yaml`` does not declare warns once (stderr and the trial's record) with the
nearest declared name (``val_accuracy`` -> ``dev_accuracy``).

``config`` notes which keys ``train()`` reads (:class:`tunebook.core.usage.TrackedConfig`), and
``run.watch(optimizer)`` records the optimizer's hyperparameters and the lr of every step: one
line that lets a plain PyTorch script show what it really trained with.
"""

from __future__ import annotations

import csv
import io
import numbers
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from tunebook.core.errors import (
    LeaseLost,
    MissingExtraError,
    SpecError,
    TrialDiverged,
    TrialPruned,
    TrialTimedOut,
    TunebookError,
    WorkerStopped,
)
from tunebook.core.handle import FileAction
from tunebook.core.score import checked_metric_key
from tunebook.core.spec import ProjectSpec
from tunebook.core.trial import ArtifactRecord
from tunebook.core.usage import (
    LR_KEY,
    OPTIMIZER_KEY,
    READS_KEY,
    UNDECLARED_KEY,
    TrackedConfig,
    undeclared_warning,
)
from tunebook.store.files import ArtifactRoot

if TYPE_CHECKING:
    from tunebook.core.trial import TrialRecord
    from tunebook.store import Store

# Flush curve points at this many rows or this many seconds, whichever comes first: few
# transactions keep logging off the training loop's critical path.
FLUSH_ROWS = 5000
FLUSH_SECONDS = 2.0


class Run:
    """Live handle of one trial attempt. Create through the executor, not by hand."""

    def __init__(self, store: Store, trial: TrialRecord, token: str, *, eval_every: int,
                 artifact_root: ArtifactRoot, lease_s: float = 60.0,
                 heartbeat: bool = True, stop: threading.Event | None = None,
                 pruner: Callable[[int, dict[str, float]], str | None] | None = None,
                 declared: frozenset[str] | None = None) -> None:
        self.store = store
        self.trial = trial
        self.token = token
        self.eval_every = eval_every
        self.artifacts = artifact_root
        self.lease_s = lease_s
        self.diverged: str | None = None
        self._stop_requested = stop
        self.pruner = pruner  # the round's early-stopping rule (tunebook.rounds.pruning), if any
        self._rows: list[tuple[int, int, str, float]] = []
        self._keys: dict[str, str] = {}
        # The metrics contract: names tunebook.yaml declares (None: a hand-made Run, no check).
        self.declared = declared
        self.undeclared: dict[str, str | None] = {}
        self.tracked = TrackedConfig(trial.config)
        self._watched: list[Any] = []
        self._opt_steps = 0
        self._lr_changes: list[tuple[int, float]] = []
        self._wake = threading.Event()
        self._flush_lock = threading.Lock()
        self._write_error: Exception | None = None
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        # Read by the trial's watchdog (workers/watchdog.py): when training began, when it last
        # logged, and why it must stop (a time limit), which the next log() raises.
        self.started = self.last_log = time.monotonic()
        self.stop_reason: str | None = None
        self._beat: threading.Thread | None = None
        if heartbeat:
            self._beat = threading.Thread(target=self._heartbeat, daemon=True,
                                          name=f"tunebook-heartbeat-{trial.id}")
            self._beat.start()
        self._write = threading.Thread(target=self._writer, daemon=True,
                                       name=f"tunebook-writer-{trial.id}")
        self._write.start()

    # -- what user code reads --------------------------------------------------------------

    @property
    def config(self) -> dict[str, Any]:
        """The config handed to ``train()`` (the same object: reads through it are noted)."""
        return self.tracked

    @property
    def trial_id(self) -> int:
        return self.trial.id

    @property
    def seed(self) -> int:
        return self.trial.seed

    @property
    def max_train_steps(self) -> int | None:
        v = self.trial.config.get("max_train_steps")
        return int(v) if v is not None else None

    def project(self) -> ProjectSpec | None:
        """The project of this trial's round (None when the store cannot say)."""
        try:
            return self.store.round(self.trial.round_id).project
        except TunebookError:
            return None

    def points(self, step: int) -> dict[str, float]:
        return self.store.points(self.trial.id, step)

    def drop_points_after(self, step: int) -> None:
        self.store.drop_points_after(self.trial.id, step)

    def checkpoints(self) -> list[ArtifactRecord]:
        return self.store.artifacts(self.trial.id, "checkpoint")

    def read_artifact(self, artifact: ArtifactRecord) -> bytes:
        return self.artifacts.read_verified(artifact.path, artifact.sha256)

    def remove_artifact(self, artifact: ArtifactRecord, file: FileAction = "delete") -> str | None:
        # The row goes first: a crash in between leaves an orphan file, never a row pointing at
        # a missing file.
        self.store.remove_artifact(artifact.id)
        path = self.artifacts.resolve(artifact.path)
        if file == "delete":
            path.unlink(missing_ok=True)
        elif file == "set_aside" and path.exists():
            target = path.with_name(f"{path.name}.corrupt-{artifact.sha256[:8]}")
            path.rename(target)
            return str(target)
        return None

    def should_eval(self, step: int) -> bool:
        """True every ``eval_every`` steps (fixed step intervals, never time) and at the end."""
        return (step > 0 and step % self.eval_every == 0) or step == self.max_train_steps

    # -- logging --------------------------------------------------------------------------------

    def log(self, step: int, **metrics: float) -> None:
        """Record metric values at ``step``. Raises ``TrialDiverged`` on a non-finite value.

        Points go to a buffer that a background thread writes in batches, so the training loop
        never waits on the database.
        """
        if self._lost.is_set():
            raise LeaseLost(f"trial {self.trial.id} lost its lease; this attempt's work is void")
        if self._stop_requested is not None and self._stop_requested.is_set():
            raise WorkerStopped(f"worker stopping; trial {self.trial.id} goes back to the queue")
        if self.stop_reason is not None:
            raise TrialTimedOut(self.stop_reason)
        self.last_log = time.monotonic()
        if type(step) is not int:  # NumPy and torch integer scalars are ints too; bool is not
            if isinstance(step, bool) or not isinstance(step, numbers.Integral):
                raise SpecError("run.log step", "an int >= 0", step)
            step = int(step)
        if not 0 <= step < 2**63:
            raise SpecError("run.log step", "an int >= 0 (below 2**63)", step)
        if self._write_error is not None:
            raise self._write_error
        keys, tid, bad = self._keys, self.trial.id, None
        with self._lock:
            rows = self._rows
            for name, value in metrics.items():
                key = keys.get(name)
                if key is None:
                    key = keys[name] = checked_metric_key(name)
                    self._first_log(name, key)
                try:
                    v = float(value)
                except (TypeError, ValueError):
                    raise SpecError(f"run.log {name}", "a number", value) from None
                rows.append((tid, step, key, v))
                if v - v != 0.0 and bad is None:  # inf - inf and nan - nan are nan
                    bad = (key, v)
            full = len(rows) >= FLUSH_ROWS
        if bad is not None:
            self.diverged = f"{bad[0]} = {bad[1]} at step {step}"
            self.flush()
            raise TrialDiverged(self.diverged)
        if self.pruner is not None:
            reason = self.pruner(step, {keys[n]: float(v) for n, v in metrics.items()})
            if reason is not None:
                self.flush()
                raise TrialPruned(reason)
        if full:
            self._wake.set()

    def check(self) -> None:
        """Raise what ``log`` would for a lost lease or a stopping worker (for a runner that
        waits on a script between its reports)."""
        if self._lost.is_set():
            raise LeaseLost(f"trial {self.trial.id} lost its lease; this attempt's work is void")
        if self._stop_requested is not None and self._stop_requested.is_set():
            raise WorkerStopped(f"worker stopping; trial {self.trial.id} goes back to the queue")

    def _first_log(self, name: str, key: str) -> None:
        if self.declared is None or key in self.declared:
            return
        warn, near, message = undeclared_warning(name, self.declared)
        self.undeclared[name] = near
        if warn:
            print(f"tunebook: trial {self.trial.id}: {message}", file=sys.stderr, flush=True)

    # -- what the optimizer really did -----------------------------------------------------------

    def watch(self, optimizer: Any, *, record_hparams: bool = True) -> None:
        """Record ``optimizer``'s hyperparameters (defaults included) now, and the lr of param
        group 0 at every ``optimizer.step()`` (stored as the steps where it changed).

        One line in a plain PyTorch loop, after building the optimizer::

            opt = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9)
            run.watch(opt)

        ``tk.make_optimizer(..., run)`` calls it for you.
        """
        if any(o is optimizer for o in self._watched):
            return
        hook = getattr(optimizer, "register_step_post_hook", None)
        if not callable(hook) or not getattr(optimizer, "param_groups", None):
            raise SpecError("run.watch optimizer", "a torch.optim.Optimizer",
                            type(optimizer).__name__)
        self._watched.append(optimizer)
        if record_hparams:
            self.record(**{OPTIMIZER_KEY: {**optimizer_record(optimizer), "source": "watch"}})
        hook(self._after_step)

    def _after_step(self, optimizer: Any, *_args: Any) -> None:
        if optimizer is not self._watched[0]:
            return  # the first watched optimizer is the one whose lr the judgements read
        self._opt_steps += 1
        lr = float(optimizer.param_groups[0]["lr"])
        if not self._lr_changes or self._lr_changes[-1][1] != lr:
            self._lr_changes.append((self._opt_steps, lr))

    def _record_usage(self) -> None:
        """What train() did: keys read, lr per step, undeclared metrics (at the end)."""
        info: dict[str, Any] = {READS_KEY: self.tracked.reads().to_meta()}
        if self._lr_changes:
            info[LR_KEY] = {"changes": [list(c) for c in self._lr_changes],
                            "steps": self._opt_steps}
        if self.undeclared:
            info[UNDECLARED_KEY] = dict(self.undeclared)
        self.store.update_meta(self.trial.id, self.token, info)

    def flush(self) -> None:
        """Write every buffered point now (called on close, divergence and by the writer)."""
        with self._flush_lock:
            with self._lock:
                rows, self._rows = self._rows, []
            if rows:
                self.store.log_points(rows)

    def _writer(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(FLUSH_SECONDS)
            self._wake.clear()
            try:
                self.flush()
            except Exception as exc:  # surfaced to the training loop on its next log()
                self._write_error = exc
                return

    def record(self, **info: Any) -> None:
        """Record facts about this trial that are not curves: seeds, optimizer defaults, ranks.

        Stored in the trial's ``meta`` (merged, JSON), e.g.
        ``run.record(init_seed=0, shuffle_seeds=[1, 2], optimizer={"lr": 1e-3, "eps": 1e-8})``.
        """
        if not self.store.update_meta(self.trial.id, self.token, info):
            self._lost.set()
            raise LeaseLost(f"trial {self.trial.id} lost its lease; this attempt's work is void")

    # -- artifacts --------------------------------------------------------------------------------

    def _path(self, name: str) -> str:
        return f"{self.trial.round}/trial-{self.trial.id:06d}/{name}"

    def save_bytes(self, kind: str, name: str, data: bytes, step: int | None = None,
                   meta: dict[str, Any] | None = None) -> int:
        """Write a file atomically under the artifact root and record it with its sha256."""
        rel = self._path(name)
        _, sha = self.artifacts.write(rel, data)
        return self.store.add_artifact(self.trial.id, kind, rel, sha, len(data), step=step,
                                       meta=meta)

    def save_checkpoint(self, step: int, state: dict[str, Any],
                        meta: dict[str, Any] | None = None) -> int:
        """Save a state dict (tensors, numbers, strings) loadable with ``weights_only=True``."""
        torch = _torch()
        buf = io.BytesIO()
        torch.save(state, buf)
        return self.save_bytes("checkpoint", f"ckpt-{step:08d}.pt", buf.getvalue(), step=step,
                               meta=meta)

    def load_checkpoint(self, step: int | None = None) -> tuple[int, dict[str, Any]] | None:
        """The latest (or given) checkpoint of this trial, checksum-verified, loaded safely."""
        ckpts = [a for a in self.store.artifacts(self.trial.id, "checkpoint")
                 if step is None or a.step == step]
        if not ckpts:
            return None
        art = max(ckpts, key=lambda a: (a.step or 0, a.id))
        data = self.artifacts.read_verified(art.path, art.sha256)
        torch = _torch()
        state = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
        return int(art.step or 0), state

    def save_predictions(self, ids: Sequence[Any], labels: Sequence[Any],
                         predictions: Sequence[Any], confidence: Sequence[float] | None = None,
                         *, step: int | None = None, split: str = "dev",
                         **columns: Sequence[Any]) -> int:
        """Store per-example predictions (for chance levels and error analysis) as CSV."""
        n = len(ids)
        cols: dict[str, Sequence[Any]] = {"id": ids, "label": labels, "prediction": predictions}
        if confidence is not None:
            cols["confidence"] = confidence
        cols.update(columns)
        for name, col in cols.items():
            if len(col) != n:
                raise SpecError(f"save_predictions {name}", f"{n} values (one per id)", len(col))
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(list(cols))
        for i in range(n):
            writer.writerow([_plain(cols[c][i]) for c in cols])
        name = f"predictions-{split}" + (f"-{step:08d}" if step is not None else "") + ".csv"
        return self.save_bytes("predictions", name, buf.getvalue().encode(), step=step,
                               meta={"split": split, "rows": n, "columns": list(cols)})

    # -- lifecycle ------------------------------------------------------------------------------

    def renew(self) -> bool:
        """Renew the lease now; False (and every later ``log`` raises) once it is lost."""
        if not self.store.heartbeat(self.trial.id, self.token, self.lease_s):
            self._lost.set()
        return not self._lost.is_set()

    def _heartbeat(self) -> None:
        interval = max(self.lease_s / 4.0, 0.05)
        while not self._stop.wait(interval):
            try:
                if not self.renew():
                    return
            except Exception:  # a transient store error: the next beat retries
                continue

    def close(self) -> None:
        if not self._lost.is_set() and not self._stop.is_set():
            try:
                self._record_usage()
            except Exception as exc:  # reported like a failed curve write, below
                self._write_error = self._write_error or exc
        self._stop.set()
        self._wake.set()
        if self._beat is not None:
            self._beat.join(timeout=5)
        self._write.join(timeout=60)
        self.flush()
        if self._write_error is not None:
            raise self._write_error

    @property
    def lost(self) -> bool:
        return self._lost.is_set()


# Implementation switches of torch optimizers, not hyperparameters.
_NOT_HPARAMS = frozenset({"foreach", "fused", "capturable", "differentiable", "params"})


def optimizer_record(opt: Any) -> dict[str, Any]:
    """Every hyperparameter of a torch optimizer (defaults included), JSON-ready (torch-free)."""
    out: dict[str, Any] = {"name": getattr(opt, "tunebook_name", type(opt).__name__.lower()),
                           "class": f"{type(opt).__module__}.{type(opt).__qualname__}"}
    for key, value in opt.defaults.items():
        if key not in _NOT_HPARAMS:
            out[key] = _plain_hparam(value)
    groups = opt.param_groups
    if len(groups) > 1:  # per-group overrides (e.g. no weight decay on norms) are recorded too
        out["param_groups"] = [{k: _plain_hparam(v) for k, v in g.items()
                                if k not in _NOT_HPARAMS and v != opt.defaults.get(k)}
                               for g in groups]
    return out


def _plain_hparam(v: Any) -> Any:
    if isinstance(v, tuple | list):
        return [_plain_hparam(x) for x in v]
    v = _plain(v)
    return v if v is None or isinstance(v, bool | int | float | str) else str(v)


def _plain(x: Any) -> Any:
    item = getattr(x, "item", None)
    return item() if callable(item) else x


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise MissingExtraError("torch", "torch") from exc
    return torch
