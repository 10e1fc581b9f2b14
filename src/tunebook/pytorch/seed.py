"""Seeds: one call seeds Python, NumPy and torch; the init and data-shuffle seeds are separate.

Keeping the data order's seed apart from the initialization's lets a study vary one and hold
the other (seed-to-seed variance has two sources), and both are recorded with the trial as
``init_seed`` and ``shuffle_seeds``, the names ``tunebook.pytorch.distributed.rank_seeds`` uses.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from tunebook.pytorch.fields import integer

if TYPE_CHECKING:
    from tunebook.core.handle import RunHandle



def default_shuffle_seed(init: int) -> int:
    """The shuffle seed derived from the init seed: rank 0's in ``rank_seeds`` (init * 1000 + 1),
    so a loop that later goes multi-host keeps its data order on rank 0."""
    return init * 1000 + 1


@dataclass(frozen=True)
class Seeds:
    init: int      # model initialization (and anything else drawn from the global RNGs)
    shuffle: int   # data order: feed it to your own torch.Generator / sampler

    def generator(self) -> torch.Generator:
        """A CPU generator for the data order, seeded with ``shuffle``."""
        return torch.Generator().manual_seed(self.shuffle)


def seed_everything(seed: int | RunHandle, *, shuffle_seed: int | None = None,
                    deterministic: bool = False) -> Seeds:
    """Seed ``random``, NumPy and torch (all devices) with the init seed; return both seeds.

    Given a Run, the init seed is ``config['init_seed']`` or the trial's seed, the shuffle
    seed ``config['shuffle_seed']`` or one derived from the init seed, and both are recorded
    with the trial.

    >>> seed_everything(3)
    Seeds(init=3, shuffle=3001)
    """
    run = None if isinstance(seed, int) else seed
    if run is not None:
        init = integer(run.config, "init_seed", run.seed, low=0)
        shuffle = integer(run.config, "shuffle_seed", shuffle_seed, low=0)
    else:
        assert isinstance(seed, int)
        init, shuffle = seed, shuffle_seed
    assert init is not None
    seeds = Seeds(init, shuffle if shuffle is not None else default_shuffle_seed(init))
    random.seed(seeds.init)
    np.random.seed(seeds.init % 2**32)
    torch.manual_seed(seeds.init)  # also seeds every CUDA device
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    if run is not None:
        run.record(init_seed=seeds.init, shuffle_seeds=[seeds.shuffle])
    return seeds


def rng_state() -> dict[str, Any]:
    """The global RNG states in types a ``weights_only`` loader accepts (for checkpoints)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # type: ignore[misc]
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
