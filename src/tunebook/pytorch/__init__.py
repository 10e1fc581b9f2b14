"""The PyTorch training kit: plain functions that fit into the user's own loop.

No base class to inherit and no callbacks: each helper does one job the checklist asks of a
training loop, and the user's ``train(config, run)`` still reads top to bottom::

    from tunebook import pytorch as tk

    seeds = tk.seed_everything(run)                            # init + data seeds, recorded
    opt = tk.make_optimizer(model.parameters(), config, run)   # every hyperparameter recorded
    lr_at = tk.make_schedule(config, run)                      # pure function of the step
    ckpts = tk.Checkpoints(run)                                # N best + latest, verified
    ...
    tk.save_best_predictions(run, ckpts, model, x, ids, y, batch_size=256)  # at the best step
    norm = tk.clip_gradients(model, config.get("clip"))        # unclipped global grad norm

Importing this package needs torch (``pip install 'tunebook[torch]'``).
"""

from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError as exc:  # say which extra to install instead of a bare ModuleNotFoundError
    from tunebook.core.errors import MissingExtraError

    raise MissingExtraError("torch", "torch") from exc

from tunebook.core.clipping import clip_threshold
from tunebook.pytorch.batch_size import scan_batch_sizes
from tunebook.pytorch.check import check_config
from tunebook.pytorch.checkpoint import Checkpoints, load_verified
from tunebook.pytorch.grad import clip_gradients, grad_norms, propose_clip
from tunebook.pytorch.optim import OPTIMIZERS, make_optimizer, optimizer_hparams
from tunebook.pytorch.pipeline import profile_input, timed_batches
from tunebook.pytorch.predict import (
    eval_batch_size,
    measure_inference,
    predict,
    save_best_predictions,
    save_predictions,
)
from tunebook.pytorch.schedule import SCHEDULES, Schedule, make_schedule, set_lr
from tunebook.pytorch.seed import Seeds, seed_everything

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "Checkpoints",
    "Schedule",
    "Seeds",
    "check_config",
    "clip_gradients",
    "clip_threshold",
    "eval_batch_size",
    "grad_norms",
    "load_verified",
    "make_optimizer",
    "make_schedule",
    "measure_inference",
    "optimizer_hparams",
    "predict",
    "profile_input",
    "propose_clip",
    "save_best_predictions",
    "save_predictions",
    "scan_batch_sizes",
    "seed_everything",
    "set_lr",
    "timed_batches",
]
