"""Reading a table of examples (CSV or Parquet) and checking its id, label and other columns.

Tables are read with pyarrow (multi-threaded; a million rows in about a second) into pandas.
Every problem a user can cause names the column and the rows, before any split is made.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tunebook.core.errors import SpecError
from tunebook.store.files import sha256_file

CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class Columns:
    """Which column plays which role; ``features`` None means every other column."""

    id: str = "id"
    label: str = "label"
    group: str | None = None
    source: str | None = None
    features: tuple[str, ...] | None = None

    @property
    def roles(self) -> dict[str, str]:
        named = {"id": self.id, "label": self.label, "group": self.group, "source": self.source}
        return {role: col for role, col in named.items() if col is not None}

    def feature_columns(self, df: pd.DataFrame) -> list[str]:
        if self.features is not None:
            return list(self.features)
        used = set(self.roles.values())
        return [c for c in df.columns if c not in used]


def _kind(path: str | Path) -> str:
    p = Path(path)
    name = p.name.lower()
    if not p.is_file():
        raise SpecError("data.file", "an existing CSV or Parquet file", str(p), "No such file.")
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "tsv" if ".tsv" in name else "csv"
    raise SpecError("data.file", f"a file ending in one of {CSV_SUFFIXES + PARQUET_SUFFIXES}",
                    str(p))


def table_columns(path: str | Path) -> list[str]:
    """The column names of a table file, read from its header (or Parquet schema) only."""
    kind = _kind(path)
    if kind == "parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    from pyarrow import csv

    try:
        with csv.open_csv(path, parse_options=csv.ParseOptions(
                delimiter="\t" if kind == "tsv" else ",")) as reader:
            return list(reader.schema.names)
    except Exception as exc:
        raise SpecError("data.file", "a well-formed CSV file", str(path), str(exc)) from None


def read_table(path: str | Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a CSV/TSV (optionally gzipped) or Parquet file into a DataFrame.

    ``columns`` reads only those (much faster on wide files). Example:
    ``df = read_table("data/digits.csv")``
    """
    kind = _kind(path)
    cols = None if columns is None else list(dict.fromkeys(columns))
    if kind == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path, columns=cols).to_pandas()
    from pyarrow import csv

    try:
        table = csv.read_csv(
            path, parse_options=csv.ParseOptions(delimiter="\t" if kind == "tsv" else ","),
            convert_options=csv.ConvertOptions(include_columns=cols) if cols else None)
    except Exception as exc:  # pyarrow names the line that is wrong; pass it on
        raise SpecError("data.file", "a well-formed CSV file", str(path), str(exc)) from None
    return table.to_pandas()


def file_sha256(path: str | Path) -> str:
    """The content hash that ties recorded splits to the exact bytes of the data file."""
    return sha256_file(path)


def arrays_sha256(*arrays: Any) -> str:
    """A content hash of arrays (NumPy, PyTorch tensors, lists): shape, dtype and bytes."""
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"<none>")
            continue
        arr = _as_numpy(a)
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        if arr.dtype == object:
            h.update("\x1f".join(map(repr, arr.ravel().tolist())).encode())
        else:
            h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def _as_numpy(a: Any) -> np.ndarray:
    if hasattr(a, "detach"):  # a torch tensor, without importing torch
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def rows_text(rows: Sequence[int] | np.ndarray, limit: int = 10) -> str:
    """'rows 3, 17 and 2 more' — 0-based data rows (the header is not a row)."""
    rows = [int(r) for r in rows]
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"row{'s' if len(rows) != 1 else ''} {shown}{more}"


def check_columns(names: Sequence[Any], cols: Columns, source: str = "data") -> None:
    """Refuse a table that lacks a role (or listed feature) column, naming the nearest one."""
    have = [str(c) for c in names]
    wanted: dict[str, str] = dict(cols.roles)
    for i, f in enumerate(cols.features or ()):
        wanted[f"features[{i}]"] = f
    for role, col in wanted.items():
        if col not in have:
            near = difflib.get_close_matches(col, have, n=1)
            hint = f"Did you mean '{near[0]}'? " if near else ""
            raise SpecError(f"{source}.{role}", f"a column named '{col}'", "no such column",
                            f"{hint}The table has columns {have[:20]}"
                            + (" ..." if len(have) > 20 else "") + ".")


def check_table(df: pd.DataFrame, cols: Columns, source: str = "data") -> None:
    """Refuse a table whose role columns are missing, empty in places, or whose ids repeat."""
    check_columns(list(df.columns), cols, source)
    wanted = cols.roles
    if len(df) == 0:
        raise SpecError(source, "a table with at least one row", "0 rows")
    for role in ("id", "label", "group", "source"):
        if role not in wanted:
            continue
        col = wanted[role]
        missing = np.flatnonzero(df[col].isna().to_numpy())
        if len(missing):
            raise SpecError(f"{source}.{role}", f"a value in column '{col}' on every row",
                            f"{len(missing)} empty", f"Empty at {rows_text(missing)}.")
    dup = df[cols.id].duplicated(keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)
        ids = pd.unique(df[cols.id].to_numpy()[rows])[:5].tolist()
        raise SpecError(f"{source}.id", f"unique values in column '{cols.id}'",
                        f"{len(ids) if len(ids) < 5 else 'several'} repeated ids, e.g. {ids}",
                        f"Repeated at {rows_text(rows)}.")


def from_arrays(labels: Any, ids: Any = None, groups: Any = None, source: Any = None
                ) -> pd.DataFrame:
    """A table with id/label/group/source columns built from arrays (NumPy, tensors, lists)."""
    y = _as_numpy(labels).ravel()
    data: dict[str, Any] = {"id": np.arange(len(y)) if ids is None else _as_numpy(ids).ravel(),
                            "label": y}
    for name, arr in (("group", groups), ("source", source)):
        if arr is not None:
            data[name] = _as_numpy(arr).ravel()
    lengths = {k: len(v) for k, v in data.items()}
    if len(set(lengths.values())) > 1:
        raise SpecError("arrays", "arrays of one length", lengths)
    return pd.DataFrame(data)
