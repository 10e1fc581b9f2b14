"""Importance: the knob that drives the score ranks first, under every method."""

from __future__ import annotations

import numpy as np
import pytest
from planted import score_round

from tunebook.analysis.importance import importance
from tunebook.analysis.records import load_records
from tunebook.core.errors import SpecError
from tunebook.store import Store


@pytest.fixture(scope="module")
def recs(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("imp") / "s.db")
    rng = np.random.default_rng(0)
    # lr drives the score; wd adds a little noise-sized wiggle.
    score_round(store, "imp", 40,
                lambda ulr, uwd: 0.95 - 0.6 * (ulr - 0.6) ** 2 + 0.003 * rng.random())
    yield load_records(store, "imp")
    store.close()


@pytest.mark.parametrize("method", ["fanova", "ped_anova", "permutation"])
def test_the_driving_hyperparameter_ranks_first(recs, method):
    imp = importance(recs, method)
    assert imp.skipped == "" and imp.trials == 40
    assert list(imp.shares) == ["lr", "wd"]
    assert imp.shares["lr"] > 0.7
    assert sum(imp.shares.values()) == pytest.approx(1.0)
    [f] = imp.findings
    assert f.code == "importance" and f.message.startswith("lr matters most")
    assert "wd barely mattered" in f.action


def test_fanova_is_reproducible(recs):
    assert importance(recs, "fanova").shares == importance(recs, "fanova").shares


def test_too_few_trials_or_nothing_varying_is_skipped_not_an_error(tmp_path):
    store = Store(tmp_path / "s.db")
    score_round(store, "few", 4, lambda a, b: 0.9 + 0.01 * a)
    imp = importance(load_records(store, "few"))
    assert imp.shares == {} and "at least 8" in imp.skipped and imp.findings == []
    store.close()


def test_unknown_method_is_refused(recs):
    with pytest.raises(SpecError, match="--importance.*Did you mean 'fanova'"):
        importance(recs, "fanva")
