"""Global grad norms, clipping at a configured threshold, and the proposed threshold."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from kit_support import make_run

torch = pytest.importorskip("torch")

from tunebook.core.errors import SpecError  # noqa: E402
from tunebook.pytorch import (  # noqa: E402
    clip_gradients,
    clip_threshold,
    grad_norms,
    propose_clip,
)


def _model_with_grads() -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    model(torch.randn(16, 4)).pow(2).sum().backward()
    return model


def _norm(model: torch.nn.Module) -> float:
    return float(torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters())))


def test_norm_is_the_global_l2_norm_and_measuring_changes_nothing() -> None:
    model = _model_with_grads()
    before = [p.grad.clone() for p in model.parameters()]
    assert clip_gradients(model) == pytest.approx(_norm(model), rel=1e-6)
    assert all(torch.equal(a, p.grad) for a, p in zip(before, model.parameters(), strict=True))
    assert clip_gradients(list(model.parameters())) == pytest.approx(_norm(model), rel=1e-6)
    opt = torch.optim.SGD([{"params": model[0].parameters()},
                           {"params": model[2].parameters(), "lr": 0.1}], lr=0.01)
    assert clip_gradients(opt) == pytest.approx(_norm(model), rel=1e-6)
    assert clip_gradients(torch.nn.Linear(2, 2)) == 0.0  # no gradients yet


def test_clipping_rescales_to_the_threshold_and_returns_the_unclipped_norm() -> None:
    model = _model_with_grads()
    full = _norm(model)
    assert clip_gradients(model, full / 4) == pytest.approx(full, rel=1e-6)
    assert _norm(model) == pytest.approx(full / 4, rel=1e-4)
    unchanged = _norm(model)
    clip_gradients(model, 10 * unchanged)  # above the norm: no change
    assert _norm(model) == pytest.approx(unchanged, rel=1e-6)


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), "1"])
def test_non_positive_threshold_is_refused(bad: object) -> None:
    model = _model_with_grads()
    before = [p.grad.clone() for p in model.parameters()]
    with pytest.raises(SpecError, match="clip threshold"):
        clip_gradients(model, bad)  # type: ignore[arg-type]
    assert all(torch.equal(a, p.grad) for a, p in zip(before, model.parameters(), strict=True))


def test_clip_threshold_from_config() -> None:
    assert clip_threshold({"clip": "2.5"}) == 2.5
    assert clip_threshold({}) is None and clip_threshold({"clip": None}) is None
    assert clip_threshold({"clip": "off"}) is None
    for bad in (0, -3, "big"):
        with pytest.raises(SpecError, match=r"config\.clip: expected a number > 0") as err:
            clip_threshold({"clip": bad})
        assert "null" in str(err.value)


def test_threshold_is_the_90th_percentile_of_a_known_distribution() -> None:
    # Exponential norms with scale 2: the 90th percentile is 2 * ln(10) = 4.605.
    norms = np.random.default_rng(0).exponential(2.0, 50_000)
    proposal = propose_clip(norms.tolist())
    assert proposal.threshold == pytest.approx(2 * np.log(10), rel=0.02)
    assert proposal.clipped_fraction == pytest.approx(0.10, abs=0.005)
    assert not proposal.too_many_clipped


def test_warns_when_most_steps_would_be_clipped() -> None:
    norms = [float(x) for x in range(1, 101)]
    with pytest.warns(UserWarning, match="lower the lr"):
        proposal = propose_clip(norms, current=20.0)
    assert proposal.too_many_clipped and proposal.clipped_fraction == 0.8
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not propose_clip(norms, current=95.0).too_many_clipped


def test_norms_logged_every_step_feed_the_proposal(tmp_path: Path) -> None:
    store, run = make_run(tmp_path)
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for step in range(1, 51):
        opt.zero_grad()
        model(torch.randn(8, 4)).pow(2).mean().backward()
        norm = clip_gradients(model, 1e9)
        opt.step()
        run.log(step, train_loss=1.0, train_grad_norm=norm)
    run.close()
    norms = grad_norms(store, run.trial_id)
    assert len(norms) == 50 and all(n > 0 for n in norms)
    assert propose_clip(norms).threshold == pytest.approx(float(np.percentile(norms, 90)))
