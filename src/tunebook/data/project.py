"""Splitting a project's data once, recording it, and handing splits to training code.

``split_project`` reads ``data:`` from tunebook.yaml, splits the table, and records the split;
``load_splits``/``load_split``/``split_ids`` give training code the rows or ids of a split, after
checking that the data file is the one the splits were made from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tunebook.core.errors import SpecError
from tunebook.core.score import SPLITS
from tunebook.core.spec import DataSpec, ProjectSpec, load_project
from tunebook.data.membership import (
    DataChanged,
    Membership,
    check_unchanged,
    current_membership,
    new_membership,
    record_in_store,
    require_membership,
    save_membership,
)
from tunebook.data.split import Assignment, assign, check_fractions
from tunebook.data.table import (
    Columns,
    arrays_sha256,
    check_columns,
    check_table,
    file_sha256,
    from_arrays,
    read_table,
    table_columns,
)


@dataclass(frozen=True)
class SplitOutcome:
    """What ``tunebook data split`` did: created, replaced, or found the splits unchanged."""

    status: str                                  # "created" | "replaced" | "unchanged"
    counts: dict[str, int]
    labels: dict[str, dict[str, int]]            # per split: label -> rows
    warnings: list[str]
    input: dict[str, Any]
    path: str
    sha256: str
    config: dict[str, Any] = field(default_factory=dict)


def data_spec(project: ProjectSpec) -> DataSpec:
    if project.data is None:
        raise SpecError("tunebook.yaml: data", "a data section naming the table to split", None,
                        "Add e.g.\n  data:\n    file: data/examples.csv\n    id: id\n"
                        "    label: label\n    fractions: {train: 0.7, train_dev: 0.1, "
                        "dev: 0.1, test: 0.1}")
    return project.data


def columns_of(spec: DataSpec) -> Columns:
    return Columns(spec.id, spec.label, spec.group, spec.source,
                   None if spec.features is None else tuple(spec.features))


def table_path(project_dir: str | Path, file: str) -> Path:
    p = Path(file)
    return p if p.is_absolute() else Path(project_dir) / p


def _config(spec: DataSpec, seed: int | None) -> dict[str, Any]:
    return {"fractions": check_fractions(spec.fractions), "stratify": spec.stratify,
            "seed": spec.seed if seed is None else seed,
            "deployment": [str(v) for v in spec.deployment]}


def deployment_mask(df: pd.DataFrame, spec: DataSpec) -> np.ndarray | None:
    if spec.source is None:
        return None
    if not spec.deployment:
        seen = pd.unique(df[spec.source].astype(str))[:10].tolist()
        raise SpecError("data.deployment", f"the values of column '{spec.source}' that mark "
                        "deployment rows", "nothing", f"The column holds {seen}.")
    values = df[spec.source].astype(str)
    mask = values.isin([str(v) for v in spec.deployment]).to_numpy()
    if not mask.any():
        seen = pd.unique(values)[:10].tolist()
        raise SpecError("data.deployment", f"values found in column '{spec.source}'",
                        spec.deployment, f"The column holds {seen}.")
    return mask


def split_project(project_dir: str | Path = ".", *, project: ProjectSpec | None = None,
                  store: Any = None, force: bool = False, seed: int | None = None
                  ) -> SplitOutcome:
    """Split the table named in ``data:`` of tunebook.yaml and record the split.

    Running it again on the same file and settings changes nothing ("unchanged"); a changed
    file or settings are refused unless ``force`` (then the new split is recorded beside the
    old one). Example: ``split_project("my-project").counts``
    """
    pdir = Path(project_dir)
    project = project or load_project(pdir / "tunebook.yaml")
    spec = data_spec(project)
    path = table_path(pdir, spec.file)
    cols = columns_of(spec)
    # Splitting needs only the role columns: reading just those is several times faster.
    check_columns(table_columns(path), cols)
    df = read_table(path, list(cols.roles.values()))
    check_table(df, Columns(cols.id, cols.label, cols.group, cols.source))
    config = _config(spec, seed)
    sha = file_sha256(path)
    inp = {"kind": "file", "file": spec.file, "sha256": sha, "rows": len(df)}
    old = current_membership(pdir)
    status = _status(old, sha, config, cols, force, f"data file {spec.file}")
    if status == "unchanged":
        assert old is not None
        return _outcome(old, "unchanged", df, cols)
    a = assign(df[cols.id].to_numpy(), df[cols.label].to_numpy(),
               groups=None if cols.group is None else df[cols.group].to_numpy(),
               deployment=deployment_mask(df, spec), fractions=config["fractions"],
               seed=config["seed"], stratify=spec.stratify, names=cols.roles)
    m = _save(pdir, df[cols.id].to_numpy(), a, inp, cols, config, store, status)
    return _outcome(m, status, df, cols, a)


def split_arrays(labels: Any, *, ids: Any = None, groups: Any = None, deployment: Any = None,
                 features: Any = None, fractions: dict[str, float] | None = None,
                 seed: int = 0, stratify: bool = True, project_dir: str | Path | None = None,
                 store: Any = None, force: bool = False) -> Assignment:
    """Split arrays (NumPy or PyTorch) through the Python API; record it if ``project_dir``.

    ``deployment`` is a boolean mask of rows from the deployment distribution. The recorded
    hash covers labels, ids, groups, the mask and ``features``, so a changed data set is
    refused later instead of silently re-split. Example::

        a = split_arrays(y, features=x, project_dir=".")
        train_set = torch.utils.data.Subset(dataset, a.indices("train").tolist())
    """
    df = from_arrays(labels, ids, groups)
    cols = Columns("id", "label", "group" if groups is not None else None)
    check_table(df, cols, "arrays")
    config = {"fractions": check_fractions(fractions), "stratify": stratify, "seed": seed,
              "deployment": [] if deployment is None else ["True"]}
    a = assign(df["id"].to_numpy(), df["label"].to_numpy(),
               groups=None if groups is None else df["group"].to_numpy(),
               deployment=deployment, fractions=fractions, seed=seed, stratify=stratify)
    if project_dir is not None:
        sha = arrays_sha256(labels, ids, groups, deployment, features)
        inp = {"kind": "arrays", "file": None, "sha256": sha, "rows": len(df)}
        status = _status(current_membership(project_dir), sha, config, cols, force, "arrays")
        if status != "unchanged":
            _save(Path(project_dir), df["id"].to_numpy(), a, inp, cols, config, store, status)
    return a


def _status(old: Membership | None, sha: str, config: dict[str, Any], cols: Columns,
            force: bool, what: str) -> str:
    if old is None:
        return "created"
    same_cols = {k: old.columns.get(k) for k in ("id", "label", "group", "source")} == {
        "id": cols.id, "label": cols.label, "group": cols.group, "source": cols.source}
    if old.input.get("sha256") == sha and old.config == config and same_cols:
        return "unchanged"
    if force:
        return "replaced"
    if old.input.get("sha256") != sha:
        check_unchanged(old, sha, what)
    now = {**config, **{k: v for k, v in
                        {"id": cols.id, "label": cols.label, "group": cols.group,
                         "source": cols.source}.items()}}
    was = {**old.config, **{k: old.columns.get(k) for k in ("id", "label", "group", "source")}}
    diff = {k: (was.get(k), now.get(k)) for k in now if was.get(k) != now.get(k)}
    raise SpecError("data", "the settings the recorded splits were made with",
                    ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in diff.items()),
                    "Pass --force (force=True) to re-split on purpose; later trials then use "
                    "the new splits.")


def _save(pdir: Path, ids: np.ndarray, a: Assignment, inp: dict[str, Any], cols: Columns,
          config: dict[str, Any], store: Any, status: str) -> Membership:
    from tunebook.store import open_store

    m = save_membership(pdir, new_membership(
        ids, a.codes, input=inp, columns={"id": cols.id, "label": cols.label,
                                          "group": cols.group, "source": cols.source},
        config=config, warnings=list(a.warnings)))
    st = store if store is not None else open_store(None, pdir)
    record_in_store(st, m, status)
    return m


def _outcome(m: Membership, status: str, df: pd.DataFrame, cols: Columns,
             a: Assignment | None = None) -> SplitOutcome:
    codes = a.codes if a is not None else split_codes(m, df[cols.id])
    labels: dict[str, dict[str, int]] = {}
    lab = df[cols.label].to_numpy()
    for i, s in enumerate(SPLITS):
        vals, cnt = np.unique(lab[codes == i], return_counts=True)
        labels[s] = {str(v): int(c) for v, c in zip(vals, cnt, strict=True)}
    return SplitOutcome(status, m.counts, labels, m.warnings, m.input, m.path, m.sha256,
                        m.config)


def split_codes(m: Membership, ids: pd.Series | np.ndarray) -> np.ndarray:
    """Per row of a table, the index into SPLITS of its recorded split (-1 when unknown)."""
    used = [(i, s) for i, s in enumerate(SPLITS) if m.ids.get(s)]
    if not used:
        return np.full(len(ids), -1, dtype=np.int8)
    recorded = pd.Index(np.concatenate([np.asarray(m.ids[s]) for _, s in used]))
    code = np.concatenate([np.full(len(m.ids[s]), i, dtype=np.int8) for i, s in used])
    pos = recorded.get_indexer(pd.Index(np.asarray(ids)))
    return np.where(pos >= 0, code[pos], -1).astype(np.int8)


def load_splits(project_dir: str | Path = ".", columns: list[str] | None = None,
                verify: bool = True) -> dict[str, pd.DataFrame]:
    """The rows of each split, read from the project's data file (checked against its hash).

    Example (inside ``train(config, run)``)::

        parts = load_splits(".")
        x = parts["train"][[f"p{i}" for i in range(64)]].to_numpy()
    """
    pdir = Path(project_dir)
    m = require_membership(pdir)
    file = m.input.get("file")
    if file is None:
        raise SpecError("load_splits", "splits made from a data file", "splits made from arrays",
                        "Use split_ids(project_dir, split) to index your arrays.")
    path = table_path(pdir, file)
    if verify:
        if not path.is_file():
            raise DataChanged(f"data file {file} is gone; the splits were made from it")
        check_unchanged(m, file_sha256(path), f"data file {file}")
    df = read_table(path, None if columns is None else [m.columns["id"], *columns])
    codes = split_codes(m, df[m.columns["id"]])
    if columns is not None:
        df = df[columns]
    return {s: df[codes == i].reset_index(drop=True) for i, s in enumerate(SPLITS)}


def load_split(project_dir: str | Path, split: str, columns: list[str] | None = None,
               verify: bool = True) -> pd.DataFrame:
    """The rows of one split, e.g. ``load_split(".", "dev")``."""
    if split not in SPLITS:
        raise SpecError("split", f"one of {list(SPLITS)}", split)
    return load_splits(project_dir, columns, verify)[split]


def split_ids(project_dir: str | Path, split: str) -> list[Any]:
    """The recorded ids of one split, e.g. ``split_ids(".", "test")``."""
    if split not in SPLITS:
        raise SpecError("split", f"one of {list(SPLITS)}", split)
    return list(require_membership(project_dir).ids.get(split, []))
