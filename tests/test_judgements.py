"""The judgements (issue 13): curves read with their noise, one verdict per question.

Each test here failed before the judgements package: a dev curve best at its first eval was
"saturation", an isolated eval became the best step, periodic epoch spikes were instability, a
round said "train shorter" and "train longer" at once, the label rule flagged clean overlapping
classes and could never be confirmed for a lone baseline trial, and diagnose had no intervals.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from decide_fixtures import make_project

from tunebook.analysis.curves import curve_findings, diagnose
from tunebook.analysis.diagnose import diagnose as diagnose_gaps
from tunebook.analysis.errors import analyze_errors, errors_of_trial
from tunebook.analysis.judgements.labels import find_suspects
from tunebook.analysis.stability import check_curve
from tunebook.core.score import Scorer, best_step, parse_formula
from tunebook.core.spec import RoundSpec
from tunebook.rounds.lifecycle import create_round
from tunebook.store import Store
from tunebook.workers.execute import run_round

ACC = "dev/accuracy"


def _acc(m: dict[str, float]) -> float | None:
    return m.get(ACC)


def _scorer() -> Scorer:
    return Scorer("max", parse_formula("dev_accuracy", {ACC}))


def test_a_dev_curve_best_at_its_first_eval_is_overfitting_not_saturation() -> None:
    # Best at the first eval, then steadily worse: the model overfits from the start.
    curve = {s: {ACC: 0.80 - 0.0001 * (s - 100)} for s in range(100, 1001, 100)}
    d = diagnose(1, curve, _acc, "max", total_steps=1000)
    assert "overfitting" in d.codes
    assert "early_saturation" not in d.codes
    assert d.length.direction == "shorter"     # best step in the first 10%: also shorter


def test_an_isolated_eval_is_not_the_best_step() -> None:
    rng = random.Random(0)
    values = [0.5 + 0.3 * (1 - math.exp(-i / 3)) + rng.gauss(0, 0.004) for i in range(12)]
    values[5] = 0.97   # one eval far above its neighbours: a glitch
    curve = {100 * (i + 1): {ACC: v, "dev/examples": 500.0} for i, v in enumerate(values)}
    b = best_step(curve, _scorer())
    assert b.step != 600 and 600 in b.glitches
    d = diagnose(1, curve, _acc, "max", total_steps=1200, n_eval=500)
    assert "eval_glitch" in d.codes and d.glitches == [600]
    # A glitch is not read as overfitting either.
    assert "overfitting" not in d.codes
    # A real peak confirmed by its neighbour stays the best step.
    values[6] = 0.965
    curve = {100 * (i + 1): {ACC: v, "dev/examples": 500.0} for i, v in enumerate(values)}
    assert best_step(curve, _scorer()).step == 600


def _epoch_loss(steps: int = 600, epoch: int = 50) -> list[tuple[int, float]]:
    rng = random.Random(1)
    out = []
    for s in range(1, steps + 1):
        v = 2.0 / (1 + s / 40) + 0.02 + rng.gauss(0, 0.005)
        out.append((s, v * (3.0 if s % epoch == 1 and s > 1 else 1.0)))  # unshuffled loader
    return out


def test_spikes_at_the_epoch_length_are_structure_not_instability() -> None:
    loss = _epoch_loss()
    check = check_curve(loss)
    assert not check.unstable and check.period == 50
    curve = {s: {"train/loss": v} for s, v in loss}
    for s in range(100, 601, 100):
        curve[s][ACC] = 0.5 + s / 2000
    d = diagnose(1, curve, _acc, "max", total_steps=600)
    assert "instability" not in d.codes and "periodic_loss" in d.codes
    codes = {f.code for f in curve_findings("dev score", [d])}
    assert "instability" not in codes and "periodic_loss" in codes
    # An irregular spike still is instability, for both commands.
    loss[333] = (334, 6.0)
    assert check_curve(loss).spikes == [334]


def test_a_round_speaks_of_training_length_with_one_voice() -> None:
    steps = range(100, 1001, 100)
    rising = {s: {ACC: 0.5 + 0.4 * s / 1000} for s in steps}              # train longer
    flat = {s: {ACC: 0.9 if s >= 200 else 0.6} for s in steps}             # train shorter
    flat2 = {s: {ACC: 0.91 if s >= 200 else 0.6} for s in steps}
    diags = [diagnose(i, c, _acc, "max", total_steps=1000)
             for i, c in enumerate([flat, rising, flat2], start=1)]
    assert {d.length.direction for d in diags} == {"shorter", "longer"}
    codes = {f.code for f in curve_findings("dev score", diags)}
    longer = {"still_improving", "best_step_late"}
    shorter = {"early_saturation", "best_step_early"}
    assert codes & shorter and not codes & longer


def _overlapping(seed: int, flip: float = 0.0) -> tuple[list[dict[str, str]],
                                                        dict[str, list[str]]]:
    """Two genuinely overlapping classes; a calibrated model and two others; optional flips."""
    rng = random.Random(seed)
    rows, others = [], {}
    for i in range(2000):
        y = rng.randrange(2)
        x = rng.gauss(1.0 if y else -1.0, 1.0)
        p1 = 1 / (1 + math.exp(-2 * x))                 # the Bayes posterior of class 1
        label = y
        if flip and abs(x) > 2.0 and rng.random() < flip:
            label = 1 - y                                # a wrong label deep in a clean region
        pred = int(p1 >= 0.5)
        rows.append({"id": str(i), "label": str(label), "prediction": str(pred),
                     "confidence": f"{max(p1, 1 - p1):.4f}"})
        others[str(i)] = [str(int(p1 + rng.gauss(0, 0.05) >= 0.5)) for _ in range(3)]
    return rows, others


def test_clean_overlapping_classes_are_no_label_problem_but_planted_noise_is() -> None:
    rows, others = _overlapping(0)
    clean = analyze_errors(rows, others=others)
    assert clean.labels is not None and not clean.labels.problem
    noisy_rows, others = _overlapping(0, flip=0.5)
    noisy = analyze_errors(noisy_rows, others=others)
    assert noisy.labels is not None and noisy.labels.problem
    # Confidence alone (no other model) never makes a suspect.
    assert find_suspects(noisy_rows) == []


def test_a_lone_trial_is_confirmed_by_other_rounds_predictions(tmp_path: Path) -> None:
    project = make_project(tmp_path, config={"lr": 0.01, "width": 8, "max_train_steps": 20,
                                             "predictions": True})
    store = Store(tmp_path / "s.db")
    for name, budget in (("alone", 1), ("others", 2)):
        spec = RoundSpec.model_validate({
            "name": name, "question": "lr?", "budget": budget,
            "params": {"lr": {"role": "nuisance", "type": "float", "low": 0.005,
                              "high": 0.02, "scale": "log"}}})
        create_round(store, project, spec)
        run_round(store, name, tmp_path, executor="inline", show_progress=False)
    lone = store.trials(store.round("alone").id)[0]
    a = errors_of_trial(store, project, tmp_path, lone)
    assert a.suspects and all(s.others == 2 for s in a.suspects)


def test_diagnose_gives_intervals_and_says_when_a_split_is_too_small() -> None:
    metrics = {"train/accuracy": 0.90, "dev/accuracy": 0.87}
    small = diagnose_gaps(metrics, "accuracy", "max", sizes={"train": 180, "dev": 180})
    lo, hi = small.intervals["variance"]  # type: ignore[misc]
    assert lo < 0.03 < hi and lo <= 0
    assert small.largest is None
    assert any(f.code == "diagnose.too_small" for f in small.findings)
    big = diagnose_gaps(metrics, "accuracy", "max", sizes={"train": 20000, "dev": 20000})
    assert big.largest == "variance" and big.intervals["variance"][0] > 0  # type: ignore[index]
