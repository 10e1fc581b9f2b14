import numpy as np
import pytest

from tunebook.core.errors import SpecError
from tunebook.core.score import SPLITS
from tunebook.data.split import assign, check_fractions


def _y(n=2000, k=5, seed=0):
    return np.random.default_rng(seed).integers(0, k, n)


def test_fractions_and_stratification():
    y = _y()
    a = assign(np.arange(len(y)), y, seed=1)
    counts = a.counts()
    assert abs(counts["train"] - 1400) <= 5 and abs(counts["dev"] - 200) <= 5
    whole = np.bincount(y) / len(y)
    for s in SPLITS:
        part = np.bincount(y[a.indices(s)], minlength=5) / len(a.indices(s))
        assert np.abs(part - whole).max() < 0.01
    assert a.warnings == ()


def test_deterministic_seeded_and_independent_of_row_order():
    y = _y()
    ids = np.arange(len(y)) * 7
    a = assign(ids, y, seed=3)
    assert (assign(ids, y, seed=3).codes == a.codes).all()
    assert (assign(ids, y, seed=4).codes != a.codes).any()
    perm = np.random.default_rng(0).permutation(len(y))
    b = assign(ids[perm], y[perm], seed=3)
    assert (b.codes == a.codes[perm]).all()


def test_groups_stay_in_one_split():
    y = _y(3000)
    groups = np.random.default_rng(1).integers(0, 300, len(y))
    a = assign(np.arange(len(y)), y, groups=groups, seed=0)
    for g in np.unique(groups):
        assert len(set(a.codes[groups == g])) == 1
    assert abs(a.counts()["train"] / len(y) - 0.7) < 0.05


def test_deployment_rows_fill_dev_and_test_only():
    y = _y(1000)
    dep = np.arange(1000) % 4 == 0
    a = assign(np.arange(1000), y, deployment=dep, seed=0)
    assert set(a.codes[dep]) == {SPLITS.index("dev"), SPLITS.index("test")}
    assert set(a.codes[~dep]) == {SPLITS.index("train"), SPLITS.index("train_dev")}


def test_no_deployment_rows_is_an_error():
    with pytest.raises(SpecError, match="deployment"):
        assign(np.arange(10), _y(10), deployment=np.zeros(10, bool), names={"source": "src"})


@pytest.mark.parametrize("fractions, match", [
    ({"train": 0.5, "dev": 0.2, "test": 0.2}, "sum to 1"),
    ({"train": 0.9, "dev": 0.2, "test": -0.1}, "between 0 and 1"),
    ({"train": 1.0}, "dev > 0"),
    ({"train": 0.8, "dev": 0.2, "val": 0.0}, "keys among"),
])
def test_bad_fractions(fractions, match):
    with pytest.raises(SpecError, match=match):
        check_fractions(fractions)


def test_fraction_that_leaves_a_split_empty():
    with pytest.raises(SpecError, match="fractions.test.*0 rows"):
        assign(np.arange(20), np.zeros(20), seed=0,
               fractions={"train": 0.79, "dev": 0.2, "test": 0.01})


def test_zero_fraction_is_an_empty_split_on_purpose():
    a = assign(np.arange(100), _y(100), fractions={"train": 0.8, "dev": 0.2})
    assert a.counts()["train_dev"] == 0 and a.counts()["test"] == 0


def test_group_larger_than_a_split_goes_to_train_with_a_warning():
    y = _y(1000)
    groups = np.arange(1000)
    groups[:150] = -1  # one group of 150 rows: bigger than dev (100)
    a = assign(np.arange(1000), y, groups=groups, seed=0, names={"group": "patient"})
    assert set(a.codes[:150]) == {0}
    assert any("patient" in w and "-1" in w for w in a.warnings)
    assert abs(a.counts()["dev"] - 100) <= 10


def test_group_larger_than_any_split_is_an_error():
    groups = np.zeros(100, dtype=int)
    groups[90:] = np.arange(10) + 1
    with pytest.raises(SpecError, match="patient.*groups smaller"):
        assign(np.arange(100), _y(100), groups=groups, names={"group": "patient"})


def test_label_in_only_one_split_is_warned_with_its_ids():
    y = _y(500, 3)
    y[7] = 9  # a class with one example
    a = assign(np.arange(500) + 1, y, seed=0, names={"label": "digit"})
    assert len(a.warnings) == 1
    assert "digit" in a.warnings[0] and "9" in a.warnings[0] and "[8]" in a.warnings[0]


def test_empty_labels_are_an_error_naming_rows():
    y = np.array([1.0, np.nan, 2.0, 1.0])
    with pytest.raises(SpecError, match=r"rows \[1\]"):
        assign(np.arange(4), y)


def test_unknown_split_name():
    a = assign(np.arange(50), _y(50), fractions={"train": 0.8, "dev": 0.2})
    with pytest.raises(SpecError, match="one of"):
        a.indices("validation")
