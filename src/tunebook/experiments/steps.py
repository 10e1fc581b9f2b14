"""An initial ``max_train_steps`` from a short constant-lr probe (checklist 2.4 and 5.1).

The probe trains the baseline config with ``schedule: constant`` for ``probe_steps`` steps and
logs the training loss. The loss curve (averaged into bins, minibatch noise removed) is fitted
with two saturating models and the one with the lower AIC is kept:

* exponential: ``L(t) = a + b * exp(-(t - t0) / tau)``
* power law:   ``L(t) = a + b * (1 + (t - t0) / tau) ** -alpha``

``a`` is the asymptote the loss approaches at this lr. "Nearly fits the training set" is the
step where the fitted gap to the asymptote has shrunk to ``within`` (default 5%) of the gap at
the probe's first bin: ``(L(t) - a) / (L(t0) - a) = within``. The recommendation is that step
rounded up to two significant digits, at most ``MAX_EXTRAPOLATION`` times the probe's length
(further than that a fit is a guess: run a longer probe).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunebook.core.errors import SpecError
from tunebook.core.spec import ProjectSpec, RoundSpec
from tunebook.core.usage import train_usage
from tunebook.store import Store

MAX_EXTRAPOLATION = 10
MIN_BINS = 6


@dataclass(frozen=True)
class CurveFit:
    model: str              # "exponential" | "power"
    asymptote: float
    params: dict[str, float]
    rmse: float


@dataclass(frozen=True)
class StepsEstimate:
    """How long to train, from a probe's training-loss curve."""

    metric: str
    probe_steps: int
    within: float
    fit: CurveFit | None
    steps_needed: int | None    # where the fitted gap reaches ``within``
    recommended: int            # the initial max_train_steps to use
    extrapolated: bool          # steps_needed lies beyond the probe
    points: list[tuple[float, float]]  # the binned curve that was fitted
    notes: list[str] = field(default_factory=list)
    round: str | None = None
    trial_id: int | None = None
    decision_id: int | None = None


def nice_ceil(x: float) -> int:
    """Round up to two significant digits.

    >>> nice_ceil(1234), nice_ceil(87.2), nice_ceil(40100)
    (1300, 88, 41000)
    """
    if x <= 0:
        return 1
    digits = max(int(math.floor(math.log10(x))) - 1, 0)
    unit = 10 ** digits
    return int(math.ceil(x / unit - 1e-9) * unit)


def bin_curve(points: Sequence[tuple[float, float]], bins: int = 60) -> list[tuple[float, float]]:
    """Mean step and mean value of ``bins`` consecutive runs of points (noise averaged out)."""
    pts = sorted((float(s), float(v)) for s, v in points if math.isfinite(v))
    if len(pts) <= bins:
        return pts
    chunks = np.array_split(np.asarray(pts), bins)
    return [(float(c[:, 0].mean()), float(c[:, 1].mean())) for c in chunks if len(c)]


def _fit(model: str, x: np.ndarray, y: np.ndarray) -> tuple[CurveFit, float, float] | None:
    """The fitted model, its AIC and the step where the gap reaches a fraction (a function)."""
    from scipy.optimize import curve_fit

    t0, span = float(x[0]), float(x[-1] - x[0])
    dx = x - t0
    drop = float(y[0] - y[-1])
    try:
        if model == "exponential":
            def f(t: np.ndarray, a: float, b: float, tau: float) -> np.ndarray:
                return a + b * np.exp(-t / tau)

            p0 = [float(y[-1]), drop, span / 3]
            bounds = ([-np.inf, 0.0, span * 1e-4], [np.inf, np.inf, span * 1e3])
        else:
            def f(t: np.ndarray, a: float, b: float, tau: float,  # type: ignore[misc]
                  alpha: float) -> np.ndarray:
                return a + b * (1 + t / tau) ** -alpha

            p0 = [float(y[-1]) - 0.1 * drop, 1.1 * drop, span / 10, 1.0]
            bounds = ([-np.inf, 0.0, span * 1e-4, 0.05], [np.inf, np.inf, span * 1e3, 10.0])
        params, _ = curve_fit(f, dx, y, p0=p0, bounds=bounds, maxfev=20000)
    except (RuntimeError, ValueError):
        return None
    resid = y - f(dx, *params)
    sse = float(np.sum(resid ** 2))
    n, k = len(y), len(params)
    aic = n * math.log(max(sse, 1e-300) / n) + 2 * k
    names = ["a", "b", "tau"] + (["alpha"] if model == "power" else [])
    p = dict(zip(names, (float(v) for v in params), strict=True))
    return CurveFit(model, p["a"], p, math.sqrt(sse / n)), aic, t0


def steps_to(fit: CurveFit, t0: float, within: float) -> float:
    """The step where the fitted gap to the asymptote is ``within`` of the gap at ``t0``."""
    p = fit.params
    if fit.model == "exponential":
        return t0 + p["tau"] * math.log(1 / within)
    return t0 + p["tau"] * (within ** (-1 / p["alpha"]) - 1)


def estimate(points: Sequence[tuple[float, float]], probe_steps: int, within: float = 0.05,
             metric: str = "train/loss") -> StepsEstimate:
    """Fit a (step, loss) curve and estimate the steps that nearly fit the training set.

    >>> pts = [(s, 0.1 + 2.0 * math.exp(-s / 100)) for s in range(1, 501)]
    >>> estimate(pts, 500).recommended   # first bin (step 5) + 100 * ln(20) = 305 steps
    310
    """
    check_within(within)
    binned = bin_curve(points)
    notes: list[str] = []
    if len(binned) < MIN_BINS:
        raise SpecError(metric, f"at least {MIN_BINS} finite values logged by the probe",
                        f"{len(binned)} values",
                        "Log the training loss every step: run.log(step, train_loss=...).")
    x = np.array([p[0] for p in binned])
    y = np.array([p[1] for p in binned])
    k = max(1, len(y) // 10)
    # Falling means: the first tenth of the bins above the last tenth by more than three
    # standard errors of that difference (bin-to-bin noise from successive differences).
    noise = float(np.std(np.diff(y))) / math.sqrt(2)
    if not float(y[:k].mean()) - float(y[-k:].mean()) > 3 * noise * math.sqrt(2 / k):
        notes.append(f"{metric} did not fall during the probe: the lr is too low or too high, "
                     "or the model does not learn; fix that before choosing a length.")
        return StepsEstimate(metric, probe_steps, within, None, None, probe_steps, False,
                             binned, notes)
    fits = [r for r in (_fit(m, x, y) for m in ("exponential", "power")) if r is not None]
    if not fits:
        notes.append("neither saturating model fitted the curve; using the probe's length.")
        return StepsEstimate(metric, probe_steps, within, None, None, probe_steps, False,
                             binned, notes)
    fit, _, t0 = min(fits, key=lambda r: r[1])
    needed = steps_to(fit, t0, within)
    cap = MAX_EXTRAPOLATION * probe_steps
    extrapolated = needed > probe_steps
    if not math.isfinite(needed) or needed > cap:
        notes.append(f"the fit puts the knee beyond {MAX_EXTRAPOLATION}x the probe "
                     f"({needed:.3g} steps): capped at {cap}. Run a longer probe "
                     f"(--probe-steps {nice_ceil(min(needed, 1e12) / 4)}) to confirm.")
        needed = float(cap)
    elif extrapolated:
        notes.append(f"extrapolated {needed / probe_steps:.1f}x beyond the probe: refine "
                     "with the training curves of the first rounds (checklist 5.1).")
    if fit.asymptote < 0 and "loss" in metric:
        notes.append(f"the fitted asymptote is negative ({fit.asymptote:.3g}): the loss is "
                     "still falling steeply at the probe's end; treat the estimate as a floor.")
    n = int(math.ceil(needed))
    return StepsEstimate(metric, probe_steps, within, fit, n, nice_ceil(n), extrapolated,
                         binned, notes)


def check_within(within: float) -> None:
    if not 0 < within < 1:
        raise SpecError("--within", "a number in (0, 1): the gap left to the asymptote", within)


def run_probe(store: Store, project: ProjectSpec, project_dir: str | Path,
              probe_steps: int | None = None, within: float = 0.05,
              metric: str = "train/loss", show_progress: bool = True) -> StepsEstimate:
    """Train the baseline config at constant lr, estimate the steps, record a decision.

    >>> run_probe(store, project, ".", probe_steps=300).recommended  # doctest: +SKIP
    1200
    """
    from tunebook.core.space import Param
    from tunebook.rounds.lifecycle import create_round
    from tunebook.workers.execute import run_round

    check_within(within)
    steps = probe_steps if probe_steps is not None else project.baseline.config.get(
        "max_train_steps")
    if steps is None:
        raise SpecError("--probe-steps", "the probe's length in steps", None,
                        "The baseline config has no max_train_steps to start from.")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 10:
        raise SpecError("--probe-steps", "an int >= 10", steps)
    n = sum(1 for r in store.rounds() if r.kind == "steps")
    name = "steps" if n == 0 else f"steps-{n + 1}"
    spec = RoundSpec(name=name, budget=1, seed=project.seed, max_train_steps=steps,
                     question="How many steps nearly fit the training set at constant lr?",
                     params={"schedule": Param(role="fixed", value="constant")})
    record = create_round(store, project, spec, kind="steps")
    run_round(store, name, project_dir, workers=1, executor="inline",
              show_progress=show_progress)
    trial = store.trials(record.id)[0]
    curve = store.curve(trial.id)
    points = [(float(s), v[metric]) for s, v in curve.items() if metric in v]
    result = estimate(points, steps, within, metric)
    if trial.status != "completed":
        result.notes.append(f"the probe trial ended {trial.status}: "
                            f"{(trial.error or '').strip().splitlines()[-1:]}")
    usage = train_usage(store.trial(trial.id))
    if usage.lr_constant is False or usage.ignores("schedule"):
        # The probe asks for schedule: constant; a train() with its own scheduler ignores it.
        result.notes.append(
            f"the probe's lr was not constant (trial {trial.id} "
            + ("never reads config['schedule']" if usage.ignores("schedule") else
               "recorded a changing lr") + "): the estimate is of this schedule, not of a "
            "constant lr; make train() honour schedule: constant (tk.make_schedule)")
    payload: dict[str, Any] = asdict(result)
    payload.pop("points")
    summary = (f"initial max_train_steps {result.recommended} (probe of {steps} steps, "
               f"{metric} within {within:g} of its fitted asymptote)")
    did = store.add_decision("steps", summary, payload | {"trial_id": trial.id},
                             round_id=record.id)
    return StepsEstimate(**{**asdict(result), "fit": result.fit, "round": name,
                            "trial_id": trial.id, "decision_id": did})
