"""The global gradient norm (logged every step) and clipping at a threshold from the config.

Log the *unclipped* norm as ``train_grad_norm`` every step: the clipping threshold is proposed
from its distribution (the playbook's 90th percentile), and the stability protocol reads it
from the curve as ``train/grad_norm``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence

import torch

from tunebook.core.clipping import ClipProposal, propose_clip_threshold
from tunebook.core.errors import SpecError
from tunebook.store import Store

GRAD_NORM_KEY = "train/grad_norm"


def clip_gradients(params: torch.optim.Optimizer | torch.nn.Module | Iterable[torch.Tensor],
                   threshold: float | None = None) -> float:
    """Clip the gradients to global norm ``threshold`` (None: measure only); return the
    *unclipped* global L2 norm.

    ``params`` is the optimizer (cheapest: it holds the parameter list), the model, or the
    parameters. One fused norm over all gradients, and the gradients are only rescaled when a
    threshold is given, so measuring every step costs little.

    >>> lin = torch.nn.Linear(2, 1); lin(torch.ones(1, 2)).sum().backward()
    >>> round(clip_gradients(lin), 4), round(clip_gradients(lin, 0.5), 4)
    (1.7321, 1.7321)
    """
    if threshold is not None and not (isinstance(threshold, int | float) and
                                      math.isfinite(threshold) and threshold > 0):
        raise SpecError("clip threshold", "a number > 0 (or None for no clipping)", threshold)
    if isinstance(params, torch.optim.Optimizer):
        plist = [p for group in params.param_groups for p in group["params"]]
    elif isinstance(params, torch.nn.Module):
        plist = list(params.parameters())  # walks every submodule: ~10 us on a small CNN
    else:
        plist = list(params)
    grads = [p.grad for p in plist if p.grad is not None]
    if not grads:
        return 0.0
    total = _global_norm(grads)
    if threshold is not None:
        torch.nn.utils.clip_grads_with_norm_(plist, threshold, total)
    return float(total)


def _global_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    # One fused kernel when every gradient shares a device and dtype (the usual case): half
    # the time of torch.nn.utils.get_total_norm, whose grouping dominates for small models.
    first = grads[0]
    fused = getattr(torch, "_foreach_norm", None)
    if fused is not None and not first.is_sparse and all(
            g.device == first.device and g.dtype == first.dtype and not g.is_sparse
            for g in grads):
        return torch.linalg.vector_norm(torch.stack(fused(grads)))
    return torch.nn.utils.get_total_norm(grads, 2.0)


def grad_norms(store: Store, trial_id: int) -> list[float]:
    """The ``train/grad_norm`` values a trial logged, in step order."""
    curve = store.curve(trial_id)
    return [curve[s][GRAD_NORM_KEY] for s in sorted(curve) if GRAD_NORM_KEY in curve[s]]


def propose_clip(norms: Sequence[float], percentile: float = 90.0,
                 current: float | None = None) -> ClipProposal:
    """The playbook's clipping threshold for these unclipped norms; warns when more than half
    the steps would be clipped (then the lr is too high: lower it instead of clipping).

    >>> round(propose_clip([1.0] * 90 + [10.0] * 10).threshold, 3)
    1.9
    """
    proposal = propose_clip_threshold(norms, percentile, current)
    if proposal.too_many_clipped:
        warnings.warn(proposal.message, stacklevel=2)
    return proposal
