"""The digits demo's prepare step splits through tunebook; digits_shift has a real mismatch."""

import importlib.util
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from tunebook.data import domain_auc, load_splits, split_ids
from tunebook.store import open_store


def _copy(example: str, dest: Path) -> Path:
    src = Path(str(resources.files("tunebook") / "examples" / example))
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("data", ".tunebook", "__pycache__"))
    return dest


def _prepare(pdir: Path):
    spec = importlib.util.spec_from_file_location(f"prepare_{pdir.name}", pdir / "prepare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_digits_prepare_uses_recorded_splits(tmp_path):
    pdir = _copy("digits", tmp_path / "digits")
    prep = _prepare(pdir)
    counts = prep.make_splits()
    assert sum(counts.values()) == 1797 and counts["test"] > 200
    data = np.load(pdir / "data" / "digits-splits.npz")
    assert data["train_x"].shape[1:] == (8, 8) and data["train_x"].max() <= 1.0
    assert sorted(data["dev_id"].tolist()) == sorted(split_ids(pdir, "dev"))
    assert prep.make_splits() == counts  # a second run reuses the recorded split
    assert len(open_store(None, pdir).decisions(kind="splits")) == 1


@pytest.mark.slow
def test_digits_shift_has_dev_from_the_field_and_a_clear_mismatch(tmp_path):
    pdir = _copy("digits_shift", tmp_path / "shift")
    _prepare(pdir).make_splits()
    parts = load_splits(pdir)
    assert set(parts["dev"]["source"]) == {"field"} and set(parts["test"]["source"]) == {"field"}
    assert set(parts["train_dev"]["source"]) == {"scanner"}
    pixels = [f"p{i}" for i in range(64)]
    shifted = domain_auc(parts["train"][pixels], parts["dev"][pixels])
    same = domain_auc(parts["train"][pixels], parts["train_dev"][pixels])
    assert shifted.auc > 0.9 and same.auc < 0.7


@pytest.mark.slow
def test_digits_shift_baseline_shows_mismatch_not_variance(tmp_path):
    pytest.importorskip("torch")
    from tunebook.core.spec import load_project
    from tunebook.experiments.baseline import run_baseline

    pdir = _copy("digits_shift", tmp_path / "shift")
    _prepare(pdir).make_splits()
    store = open_store(None, pdir)
    verdict = run_baseline(store, load_project(pdir / "tunebook.yaml"), pdir,
                           show_progress=False)
    m = store.trial(verdict.trial_id).best_metrics
    variance = m["train/accuracy"] - m["train_dev/accuracy"]
    mismatch = m["train_dev/accuracy"] - m["dev/accuracy"]
    assert mismatch > 0.08 and mismatch > 2 * variance
