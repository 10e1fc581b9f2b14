import json

import numpy as np
import pandas as pd
import pytest
import yaml
from data_helpers import project, table

from tunebook.core.errors import SpecError
from tunebook.core.spec import load_project
from tunebook.data import (
    DataChanged,
    NoSplits,
    load_split,
    load_splits,
    split_arrays,
    split_ids,
    split_project,
)
from tunebook.data.table import read_table
from tunebook.store import open_store


def test_split_records_membership_artifact_and_decision(tmp_path):
    df = table(300)
    pdir = project(tmp_path, df)
    out = split_project(pdir)
    assert out.status == "created" and sum(out.counts.values()) == 300
    st = open_store(None, pdir)
    [art] = st.artifacts(kind="splits")
    assert art.trial_id is None and art.sha256 == out.sha256
    [dec] = st.decisions(kind="splits")
    assert dec.payload.input["sha256"] == out.input["sha256"]
    assert dec.payload.counts == out.counts
    parts = load_splits(pdir)
    assert sorted(pd.concat(parts.values())["id"]) == sorted(df["id"])
    assert set(load_split(pdir, "dev")["id"]) == set(split_ids(pdir, "dev"))
    # the same file and settings again: nothing new recorded
    assert split_project(pdir).status == "unchanged"
    assert len(st.decisions(kind="splits")) == 1


def test_parquet_and_groups(tmp_path):
    df = table(400, patient=np.arange(400) // 4)
    pdir = project(tmp_path, df, "data/t.parquet", group="patient")
    split_project(pdir)
    parts = load_splits(pdir)
    seen = [set(p["patient"]) for p in parts.values()]
    for i in range(4):
        for j in range(i + 1, 4):
            assert not seen[i] & seen[j]


def test_source_column_puts_deployment_rows_in_dev_and_test(tmp_path):
    df = table(400, src=np.where(np.arange(400) % 3 == 0, "phone", "web"))
    pdir = project(tmp_path, df, source="src", deployment=["phone"])
    split_project(pdir)
    parts = load_splits(pdir)
    assert set(parts["dev"]["src"]) == {"phone"} and set(parts["test"]["src"]) == {"phone"}
    assert set(parts["train_dev"]["src"]) == {"web"} and set(parts["train"]["src"]) == {"web"}


def test_deployment_value_not_in_the_column(tmp_path):
    df = table(50, src="web")
    pdir = project(tmp_path, df, source="src", deployment=["phone"])
    with pytest.raises(SpecError, match="data.deployment.*'web'"):
        split_project(pdir)


def test_changed_file_is_detected_not_resplit(tmp_path):
    df = table(200)
    pdir = project(tmp_path, df)
    split_project(pdir)
    before = split_ids(pdir, "train")
    df.loc[3, "b"] = 99.0
    df.to_csv(pdir / "data/t.csv", index=False)
    with pytest.raises(DataChanged, match="data/t.csv changed"):
        split_project(pdir)
    with pytest.raises(DataChanged):
        load_split(pdir, "train")
    assert split_ids(pdir, "train") == before
    out = split_project(pdir, force=True)
    assert out.status == "replaced"
    assert len(open_store(None, pdir).decisions(kind="splits")) == 2
    assert len(load_split(pdir, "train")) == out.counts["train"]


def test_changed_settings_need_force(tmp_path):
    pdir = project(tmp_path, table(100))
    split_project(pdir)
    with pytest.raises(SpecError, match="seed 0 -> 5"):
        split_project(pdir, seed=5)
    assert split_project(pdir, seed=5, force=True).status == "replaced"


def test_tampered_membership_file_is_refused(tmp_path):
    pdir = project(tmp_path, table(100))
    out = split_project(pdir)
    path = pdir / ".tunebook" / "artifacts" / out.path
    body = json.loads(path.read_text())
    body["splits"]["dev"].append(body["splits"]["train"].pop())
    path.write_text(json.dumps(body))
    with pytest.raises(SpecError, match="sha256"):
        split_ids(pdir, "dev")


def test_no_splits_yet(tmp_path):
    pdir = project(tmp_path, table(20))
    with pytest.raises(NoSplits, match="tunebook data split"):
        load_split(pdir, "dev")


@pytest.mark.parametrize("column, match", [("label", "data.label.*'label'.*Did you mean"),
                                           ("id", "data.id")])
def test_missing_role_column(tmp_path, column, match):
    df = table(30).rename(columns={column: column + "s"})
    pdir = project(tmp_path, df)
    with pytest.raises(SpecError, match=match):
        split_project(pdir)


def test_duplicate_ids_name_ids_and_rows(tmp_path):
    df = table(30)
    df.loc[5, "id"] = df.loc[9, "id"]
    pdir = project(tmp_path, df)
    with pytest.raises(SpecError, match=r"data.id.*1009.*rows 5, 9"):
        split_project(pdir)


def test_empty_labels_name_rows(tmp_path):
    df = table(30)
    df["label"] = df["label"].astype(float)
    df.loc[[2, 4], "label"] = np.nan
    pdir = project(tmp_path, df)
    with pytest.raises(SpecError, match="data.label.*rows 2, 4"):
        split_project(pdir)


def test_project_without_data_section(tmp_path):
    pdir = project(tmp_path, table(10))
    spec = yaml.safe_load((pdir / "tunebook.yaml").read_text())
    del spec["data"]
    (pdir / "tunebook.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError, match="data section"):
        split_project(pdir)


def test_data_spec_fractions_are_checked_when_loading(tmp_path):
    pdir = project(tmp_path, table(10), fractions={"train": 0.5, "dev": 0.1})
    with pytest.raises(SpecError, match="fractions.*sum to 1"):
        load_project(pdir / "tunebook.yaml")


def test_unknown_file_type(tmp_path):
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(SpecError, match="ending in"):
        read_table(tmp_path / "x.xlsx")


def test_split_arrays_records_and_detects_changed_arrays(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(120, 3)), rng.integers(0, 3, 120)
    a = split_arrays(y, features=x, project_dir=tmp_path)
    assert set(split_ids(tmp_path, "dev")) == set(a.indices("dev").tolist())
    split_arrays(y, features=x, project_dir=tmp_path)  # unchanged: fine
    x[0, 0] += 1
    with pytest.raises(DataChanged, match="arrays changed"):
        split_arrays(y, features=x, project_dir=tmp_path)
    with pytest.raises(SpecError, match="split_ids"):
        load_split(tmp_path, "dev")


def test_split_arrays_accepts_tensors():
    torch = pytest.importorskip("torch")
    y = torch.arange(100) % 4
    a = split_arrays(y, fractions={"train": 0.8, "dev": 0.2})
    assert a.counts()["train"] == 80
