"""An initial max_train_steps from a constant-lr probe: the fit, the rule, the probe run."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from rounds_support import rounds_project

from tunebook.core.errors import SpecError
from tunebook.core.spec import load_project
from tunebook.experiments.steps import bin_curve, estimate, nice_ceil, run_probe
from tunebook.store import Store


def test_nice_ceil_rounds_up_to_two_significant_digits() -> None:
    assert [nice_ceil(x) for x in (1, 9.2, 87.2, 100, 101, 1234, 40100)] == [
        1, 10, 88, 100, 110, 1300, 41000]


def test_binning_averages_noise_out() -> None:
    pts = [(s, 1.0 + (0.5 if s % 2 else -0.5)) for s in range(1, 201)]
    binned = bin_curve(pts, bins=20)
    assert len(binned) == 20 and all(abs(v - 1.0) < 1e-9 for _, v in binned)


def test_an_exponential_curve_gives_its_knee() -> None:
    rng = np.random.default_rng(0)
    pts = [(s, 0.2 + 2.0 * math.exp(-s / 150) + rng.normal(0, 0.02)) for s in range(1, 1001)]
    est = estimate(pts, 1000, within=0.05)
    assert est.fit is not None and est.fit.model == "exponential"
    assert est.fit.asymptote == pytest.approx(0.2, abs=0.02)
    # first bin at step ~9, then tau * ln(1 / 0.05) = 150 * 3.0 = 449 more
    assert est.steps_needed == pytest.approx(9 + 150 * math.log(20), rel=0.05)
    assert est.recommended == nice_ceil(est.steps_needed or 0) and not est.extrapolated
    looser = estimate(pts, 1000, within=0.2)
    assert (looser.steps_needed or 0) < (est.steps_needed or 0)


def test_a_power_law_curve_is_fitted_as_one_and_flagged_when_extrapolated() -> None:
    pts = [(s, 0.1 + 2.0 * (1 + s / 20) ** -0.8) for s in range(1, 301)]
    est = estimate(pts, 300)
    assert est.fit is not None and est.fit.model == "power"
    assert est.fit.params["alpha"] == pytest.approx(0.8, rel=0.05)
    # first bin at step 3: gap ratio 0.05 where (1 + t/20) = (1 + 3/20) * 20 ** (1 / 0.8)
    assert est.steps_needed == pytest.approx(20 * (1.15 * 20 ** 1.25 - 1), rel=0.1)
    assert est.extrapolated and any("beyond the probe" in n for n in est.notes)


def test_a_far_extrapolation_is_capped() -> None:
    pts = [(s, 2.0 * (1 + s / 20) ** -0.3) for s in range(1, 201)]
    est = estimate(pts, 200)
    assert est.recommended == 2000 and any("capped" in n for n in est.notes)


def test_a_flat_curve_says_so_and_keeps_the_probe_length() -> None:
    rng = np.random.default_rng(1)
    est = estimate([(s, 1.0 + rng.normal(0, 0.1)) for s in range(1, 501)], 500)
    assert est.fit is None and est.recommended == 500
    assert "did not fall" in est.notes[0]


@pytest.mark.parametrize("within", [0.0, 1.0, -0.1, 2.0])
def test_within_must_be_a_share(within: float) -> None:
    with pytest.raises(SpecError, match="--within"):
        estimate([(s, 1.0 / s) for s in range(1, 100)], 100, within=within)


def test_too_few_points_is_an_error() -> None:
    with pytest.raises(SpecError, match="at least 6"):
        estimate([(1, 1.0), (2, 0.5)], 10)


def test_the_probe_trains_at_constant_lr_and_records_a_decision(tmp_path: Path,
                                                                store: Store) -> None:
    pdir = rounds_project(tmp_path / "proj")
    project = load_project(pdir / "tunebook.yaml")
    est = run_probe(store, project, pdir, probe_steps=400, show_progress=False)
    (trial,) = store.trials(store.round("steps").id)
    assert trial.config["schedule"] == "constant" and trial.config["max_train_steps"] == 400
    assert est.fit is not None and est.fit.model == "exponential"  # the toy: 0.05 + 2 e^-t/40
    assert est.steps_needed == pytest.approx(40 * math.log(20), abs=15)
    (d,) = store.decisions(kind="steps")
    assert d.payload.recommended == est.recommended and d.id == est.decision_id
    again = run_probe(store, project, pdir, probe_steps=200, show_progress=False)
    assert again.round == "steps-2"


@pytest.mark.parametrize("steps, match", [(5, "--probe-steps"), (0, "--probe-steps")])
def test_bad_probe_lengths_fail_before_training(tmp_path: Path, store: Store, steps: int,
                                                match: str) -> None:
    pdir = rounds_project(tmp_path / "proj")
    with pytest.raises(SpecError, match=match):
        run_probe(store, load_project(pdir / "tunebook.yaml"), pdir, probe_steps=steps)
    assert store.rounds() == []
