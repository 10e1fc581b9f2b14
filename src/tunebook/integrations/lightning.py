"""Lightning: ``TunebookLogger`` (Lightning's Logger API) and ``TunebookCheckpoint`` (the N best
checkpoints by a monitored metric, checksum-verified, plus predictions at the end of fit).

In a script run as a command pipeline, two changed lines::

    from tunebook.integrations.lightning import TunebookLogger
    trainer = L.Trainer(max_epochs=args.epochs, logger=TunebookLogger())

Inside ``train(config, run)``: ``TunebookLogger(run)``. Lightning's ``val_*`` names become
tunebook's ``dev/*`` (``val_acc`` -> ``dev/acc``); ``rename`` maps any other. A non-finite value
ends the trial as diverged and a pruned trial stops, from inside ``trainer.fit``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tunebook.core.errors import MissingExtraError, SpecError
from tunebook.integrations.sink import Sink, finite, metric_name
from tunebook.workers import client
from tunebook.workers.run import Run

try:
    from lightning.pytorch.callbacks import Callback
    from lightning.pytorch.loggers.logger import Logger
    from lightning.pytorch.utilities import rank_zero_only
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise MissingExtraError("lightning", "lightning") from exc


class TunebookLogger(Logger):
    """Send every metric Lightning logs to the trial (rank zero only)."""

    def __init__(self, run: Run | None = None, rename: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.sink = Sink(run, rename)

    @property
    def name(self) -> str:
        return "tunebook"

    @property
    def version(self) -> int:
        return self.sink.run.trial_id if self.sink.run is not None else 0

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        # Lightning numbers a log by the optimizer steps done before it (0 for the first
        # batch); tunebook's step counts them after it, as global_step does at validation.
        self.sink.log(int(step or 0) + 1, metrics)

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """The trial's config is already recorded by tunebook; nothing to do."""


Predict = Callable[[Any, Any], tuple[Any, Any, Any]]


class TunebookCheckpoint(Callback):
    """Keep the ``keep_best`` best checkpoints by ``monitor`` (a name as Lightning logs it).

    In-process it uses ``tunebook.pytorch.Checkpoints`` (sha256 in the store, safe loading,
    and with ``restore_best`` the best weights are loaded back at the end of fit). In a command
    pipeline each checkpoint goes to the worker, which stores and verifies it the same way.
    ``predict(trainer, module) -> (ids, labels, predictions)`` runs at the end of fit and its
    result is stored as the trial's dev predictions (for error analysis).
    """

    def __init__(self, monitor: str, mode: str = "max", keep_best: int = 2, *,
                 run: Run | None = None, restore_best: bool = True,
                 predict: Predict | None = None) -> None:
        if mode not in ("max", "min"):
            raise SpecError("TunebookCheckpoint mode", "'max' or 'min'", mode)
        if keep_best < 1:
            raise SpecError("TunebookCheckpoint keep_best", "an int >= 1", keep_best)
        self.monitor, self.mode, self.keep_best = monitor, mode, keep_best
        self.run, self.restore_best, self.predict = run, restore_best, predict
        self.key = metric_name(monitor)
        self._kept: list[tuple[float, int]] = []  # command mode: (score, step) of kept ones
        self._ckpts: Any = None

    def _checkpoints(self, run: Run) -> Any:
        if self._ckpts is None:
            from tunebook.pytorch.checkpoint import Checkpoints

            self._ckpts = Checkpoints(run, keep_best=self.keep_best,
                                      goal="max" if self.mode == "max" else "min")
        return self._ckpts

    @rank_zero_only
    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        score = float(value) if value is not None else None
        if not finite(score):
            return
        assert score is not None
        step = int(trainer.global_step)
        if self.run is not None:
            opt = trainer.optimizers[0] if trainer.optimizers else None
            self._checkpoints(self.run).save(step, pl_module, opt, score=score)
            return
        sign = 1.0 if self.mode == "max" else -1.0
        ranked = sorted([*self._kept, (score, step)], key=lambda k: -sign * k[0])
        if (score, step) not in ranked[:self.keep_best]:
            return
        client.save_checkpoint(step, {"model": pl_module.state_dict()}, meta={"score": score})
        for _, dropped in ranked[self.keep_best:]:
            client.drop_checkpoint(dropped)
        self._kept = ranked[:self.keep_best]

    @rank_zero_only
    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        if self.run is not None and self.restore_best and self._ckpts is not None \
                and self._ckpts.best() is not None:
            self._ckpts.load_best(pl_module)
        if self.predict is not None:
            ids, labels, preds = self.predict(trainer, pl_module)
            Sink(self.run).save_predictions(ids, labels, preds)
