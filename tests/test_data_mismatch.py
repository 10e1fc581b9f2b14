import numpy as np
import pandas as pd
import pytest
from data_helpers import project, table

from tunebook.core.errors import SpecError
from tunebook.data import domain_auc, mismatch_project, split_project
from tunebook.store import open_store


def test_same_distribution_is_near_half():
    rng = np.random.default_rng(0)
    r = domain_auc(rng.normal(size=(400, 5)), rng.normal(size=(200, 5)), seed=0)
    assert 0.35 < r.auc < 0.65 and r.verdict == "same distribution"


def test_shifted_features_are_found_and_named():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 4)), rng.normal(size=(300, 4))
    b[:, 2] += 2.0
    r = domain_auc(a, b, seed=0, names=["w", "x", "y", "z"])
    assert r.auc > 0.85 and r.verdict == "strong mismatch"
    assert r.top_features[0]["name"] == "y"


def test_bad_inputs():
    with pytest.raises(SpecError, match="same number of columns"):
        domain_auc(np.zeros((10, 2)), np.zeros((10, 3)))
    with pytest.raises(SpecError, match="at least 5 rows"):
        domain_auc(np.zeros((10, 2)), np.zeros((3, 2)))


def test_project_mismatch_is_recorded_for_diagnose(tmp_path):
    df = table(400, src=np.where(np.arange(400) % 2 == 0, "new", "old"))
    df.loc[df["src"] == "new", "b"] += 3.0
    pdir = project(tmp_path, df, source="src", deployment=["new"])
    split_project(pdir)
    r = mismatch_project(pdir)
    assert r.auc > 0.9
    [dec] = open_store(None, pdir).decisions(kind="mismatch")
    assert dec.payload.auc == pytest.approx(r.auc)
    assert dec.payload.a == "train" and dec.payload.b == "dev"
    same = mismatch_project(pdir, "train", "train_dev", record=False)
    assert same.auc < 0.75


def test_embeddings_from_npy_and_table(tmp_path):
    df = table(200)
    pdir = project(tmp_path, df)
    split_project(pdir)
    emb = np.random.default_rng(0).normal(size=(200, 3))
    np.save(tmp_path / "e.npy", emb)
    r = mismatch_project(pdir, embeddings=tmp_path / "e.npy", record=False)
    assert r.features_from.endswith("e.npy") and r.n_a + r.n_b < 200
    pd.DataFrame({"id": df["id"], "e0": emb[:, 0]}).to_csv(tmp_path / "e.csv", index=False)
    r2 = mismatch_project(pdir, embeddings=tmp_path / "e.csv", record=False)
    assert r2.top_features[0]["name"] == "e0"
    pd.DataFrame({"id": df["id"][:10], "e0": emb[:10, 0]}).to_csv(tmp_path / "f.csv",
                                                                 index=False)
    with pytest.raises(SpecError, match="ids missing"):
        mismatch_project(pdir, embeddings=tmp_path / "f.csv", record=False)
    np.save(tmp_path / "g.npy", emb[:50])
    with pytest.raises(SpecError, match="200 rows"):
        mismatch_project(pdir, embeddings=tmp_path / "g.npy", record=False)
