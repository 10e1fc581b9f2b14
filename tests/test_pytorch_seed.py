"""One call seeds Python, NumPy and torch; init and data seeds are separate and recorded."""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pytest
from kit_support import make_run

torch = pytest.importorskip("torch")

from tunebook.core.errors import SpecError  # noqa: E402
from tunebook.pytorch import Seeds, seed_everything  # noqa: E402
from tunebook.pytorch.seed import rng_state, set_rng_state  # noqa: E402


def _draw() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_one_call_seeds_every_generator() -> None:
    seed_everything(11)
    first = _draw()
    seed_everything(11)
    assert _draw() == first
    seed_everything(12)
    assert _draw() != first


def test_init_and_shuffle_seeds_are_separate_and_recorded(tmp_path: Path) -> None:
    store, run = make_run(tmp_path, config={"shuffle_seed": 99})
    seeds = seed_everything(run)
    assert seeds == Seeds(init=run.seed, shuffle=99)
    meta = store.trial(run.trial_id).meta
    assert meta["init_seed"] == run.seed and meta["shuffle_seeds"] == [99]
    # The default shuffle seed is rank 0's in tunebook.pytorch.distributed.rank_seeds.
    assert seed_everything(5) == Seeds(5, 5001)
    assert seed_everything(5, shuffle_seed=0) == Seeds(5, 0)
    a = torch.randint(0, 1000, (5,), generator=Seeds(1, 7).generator())
    b = torch.randint(0, 1000, (5,), generator=Seeds(2, 7).generator())
    assert torch.equal(a, b)  # same shuffle seed, same order, whatever the init seed


def test_bad_seed_in_config_is_refused(tmp_path: Path) -> None:
    _, run = make_run(tmp_path, config={"init_seed": -1})
    with pytest.raises(SpecError, match="init_seed"):
        seed_everything(run)


def test_rng_state_survives_the_safe_loader() -> None:
    seed_everything(3)
    state = rng_state()
    buf = io.BytesIO()
    torch.save(state, buf)
    expected = _draw()
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    set_rng_state(torch.load(io.BytesIO(buf.getvalue()), weights_only=True))
    assert _draw() == expected
