"""The real digits baseline, diagnosed and error-analyzed (slow: trains a small CNN once)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")

from tunebook.analysis.diagnose import diagnose_trial  # noqa: E402
from tunebook.analysis.errors import errors_of_trial  # noqa: E402
from tunebook.analysis.selection import baseline_trial  # noqa: E402
from tunebook.core.spec import load_project  # noqa: E402
from tunebook.demo import prepare, write_example  # noqa: E402
from tunebook.experiments.baseline import run_baseline  # noqa: E402
from tunebook.store import Store  # noqa: E402


@pytest.mark.slow
def test_digits_baseline_diagnosis_and_errors(tmp_path: Path) -> None:
    write_example(tmp_path)
    prepare(tmp_path)
    yaml = tmp_path / "tunebook.yaml"  # a short baseline: the analyses, not the CNN, are tested
    yaml.write_text(yaml.read_text().replace("max_train_steps: 400", "max_train_steps: 100"))
    project = load_project(tmp_path / "tunebook.yaml")
    store = Store(tmp_path / "s.db")
    run_baseline(store, project, tmp_path, show_progress=False)
    trial = baseline_trial(store)
    d = diagnose_trial(store, project, trial)
    assert d.rule == "1 - accuracy" and d.target == 0.01
    assert all(d.errors[s] is not None for s in ("train", "train_dev", "dev", "test"))
    assert d.largest is not None and d.findings[0].action
    a = errors_of_trial(store, project, tmp_path, trial, sample_size=150)
    assert a.n_examples == 270 and a.n_errors == round(d.errors["dev"] * 270)  # type: ignore[operator]
    assert a.sample_size == min(150, a.n_errors)
    assert {c.dimension for c in a.categories} >= {"true class", "confusion", "confidence"}
