import builtins

import numpy as np
import pytest
from data_helpers import project, table

from tunebook.core.errors import SpecError
from tunebook.data import Columns, data_report, report_project, split_project
from tunebook.data.report import to_html


def test_clean_table_has_no_problems():
    rep = data_report(table(300), Columns(), label_issues=False)
    assert rep.ok, rep.problems
    assert rep.labels["all"] and rep.imbalance is not None and not rep.imbalance.imbalanced


def test_each_check_finds_its_problem():
    df = table(400)
    df["const"] = 1.0
    df.loc[[3, 8], "a"] = np.nan
    df.loc[10, ["a", "b", "c"]] = df.loc[11, ["a", "b", "c"]].to_numpy()    # exact duplicate
    df.loc[10, "label"], df.loc[11, "label"] = 0, 1                         # ... conflicting
    df.loc[20, ["a", "b", "c"]] = df.loc[21, ["a", "b", "c"]].to_numpy() + [1e-7, 0, 0]  # near
    df.loc[30, "b"] = 1e6                                                    # extreme value
    df["copy"] = df["b"]
    rep = data_report(df, Columns(), label_issues=False)
    assert rep.missing == {"a": 2}
    assert rep.constant == ["const"]
    assert rep.duplicate_columns == [["b", "copy"]]
    assert rep.exact.groups == 1 and rep.exact.conflicting_labels == 1
    assert sorted(rep.exact.examples[0]) == [1010, 1011]
    assert rep.near.groups == 1 and sorted(rep.near.examples[0]) == [1020, 1021]
    [out] = [o for o in rep.outliers if o.column == "b"]
    assert out.count == 1 and out.examples == [1030] and not out.heavy_tail
    assert len(rep.problems) >= 6
    assert "<section" in to_html(rep)


def test_near_duplicates_by_neighbours_in_many_dimensions():
    rng = np.random.default_rng(0)
    df = table(300)
    emb = [f"e{i}" for i in range(10)]
    df[emb] = rng.normal(size=(300, 10))
    df.loc[5, emb] = df.loc[6, emb].to_numpy() + 0.01
    df.loc[5, ["a", "b"]] = df.loc[6, ["a", "b"]].to_numpy() + 0.01
    df.loc[5, "c"] = df.loc[6, "c"]
    rep = data_report(df, Columns(), label_issues=False)
    assert [sorted(e) for e in rep.near.examples] == [[1005, 1006]]
    assert "neighbours" in rep.near.method


def test_imbalance_flagged():
    y = np.r_[np.zeros(300, int), np.ones(10, int)]
    df = table(310)
    df["label"] = y
    rep = data_report(df, Columns(), label_issues=False)
    assert rep.imbalance is not None and rep.imbalance.imbalanced
    assert rep.imbalance.ratio == 30
    assert any("imbalance" in p for p in rep.problems)


def test_leakage_across_splits_and_labels_per_split(tmp_path):
    df = table(300)
    df.loc[1:40, ["a", "b", "c"]] = df.loc[0, ["a", "b", "c"]].to_numpy()  # 41 copies
    pdir = project(tmp_path, df)
    split_project(pdir)
    rep = report_project(pdir, label_issues=False)
    assert rep.exact.across_splits == 1
    assert set(rep.labels) == {"train", "train_dev", "dev", "test"}
    assert any("leakage" in p for p in rep.problems)


def test_label_issues_with_cleanlab():
    pytest.importorskip("cleanlab")
    df = table(600, classes=2)
    df["a"] = df["label"] * 6.0 + np.random.default_rng(0).normal(size=600)
    flip = [1003, 1010, 1100]
    df.loc[df["id"].isin(flip), "label"] = 1 - df.loc[df["id"].isin(flip), "label"]
    rep = data_report(df, Columns())
    assert rep.label_issues.status == "ok"
    assert set(flip) <= set(rep.label_issues.examples)


def test_label_issues_without_cleanlab_say_how_to_install(monkeypatch):
    real = builtins.__import__

    def no_cleanlab(name, *args, **kwargs):
        if name.startswith("cleanlab"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cleanlab)
    rep = data_report(table(100), Columns())
    assert rep.label_issues.status == "skipped"
    assert "tunebook[cleanlab]" in rep.label_issues.reason


def test_missing_feature_column_is_named():
    with pytest.raises(SpecError, match=r"data.features\[0\].*'pixel'"):
        data_report(table(20), Columns(features=("pixel",)))
