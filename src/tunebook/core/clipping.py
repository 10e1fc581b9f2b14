"""The clipping threshold the playbook proposes from recorded gradient norms (torch-free).

Start near the 90th percentile of the unclipped global grad norm; if more than half the steps
would be clipped, clipping is hiding a learning rate that is too high: lower the lr instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunebook.core.errors import SpecError

# The config key of the clipping threshold: the kit clips at it, the stability check reads it,
# the checklist looks for it. One name, owned here.
CLIP_KEY = "clip"


def clip_threshold(config: Mapping[str, Any], key: str = CLIP_KEY) -> float | None:
    """The clipping threshold in ``config[key]``: None (absent or null) means no clipping.

    >>> clip_threshold({"clip": 1.0}), clip_threshold({}), clip_threshold({"clip": "off"})
    (1.0, None, None)
    """
    value = config.get(key)
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() in ("none", "null", "off"):
        return None
    try:
        threshold = None if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        threshold = None
    if threshold is None or not math.isfinite(threshold) or threshold <= 0:
        raise SpecError(f"config.{key}", "a number > 0", value,
                        "Use null (or leave the key out) to turn clipping off.")
    return threshold


@dataclass(frozen=True)
class ClipProposal:
    threshold: float
    percentile: float
    n: int
    clipped_fraction: float        # share of recorded steps above the threshold
    too_many_clipped: bool         # > half the steps clipped at ``current`` (or the proposal)
    message: str


def propose_clip_threshold(norms: Sequence[float], percentile: float = 90.0,
                           current: float | None = None) -> ClipProposal:
    """Propose a clipping threshold from unclipped grad norms.

    >>> p = propose_clip_threshold([1.0] * 90 + [10.0] * 10)
    >>> round(p.threshold, 3), p.too_many_clipped
    (1.9, False)
    """
    values = np.asarray([float(x) for x in norms if math.isfinite(float(x))], dtype=float)
    if values.size == 0:
        raise SpecError("grad norms", "at least one finite recorded gradient norm", len(norms),
                        "Log train_grad_norm every step (tunebook.pytorch.clip_gradients).")
    if not 0 < percentile < 100:
        raise SpecError("percentile", "a number in (0, 100)", percentile)
    threshold = float(np.percentile(values, percentile))
    judged = threshold if current is None else float(current)
    if judged <= 0:
        raise SpecError("clip threshold", "a value > 0", judged)
    frac = float(np.mean(values > judged))
    too_many = frac > 0.5
    if too_many:
        msg = (f"{frac:.0%} of steps exceed {judged:.4g}: clipping would act on most steps, "
               "which hides a learning rate that is too high; lower the lr instead.")
    else:
        msg = (f"clip at {threshold:.4g} (the {percentile:g}th percentile of {values.size} "
               f"recorded norms); {frac:.0%} of steps would be clipped.")
    return ClipProposal(threshold, percentile, int(values.size), frac, too_many, msg)
