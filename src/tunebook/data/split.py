"""Seeded, stratified, group-aware assignment of examples to train / train_dev / dev / test.

The assignment is a pure function of ids (or groups), labels, the seed and the fractions: each
unit (a row, or a whole group) gets a pseudo-random key from hashing its id with the seed, so a
reordered file gives the same splits. Within each stratum (label, or a group's majority label)
units are laid end to end in key order and cut at the cumulative fractions, which keeps every
split's label mix close to the whole.

When a deployment mask is given (a ``source`` column), rows from elsewhere fill train and
train_dev, and deployment rows fill dev and test (checklist 1.2: dev/test look like deployment,
train_dev comes from the training distribution so variance and mismatch can be told apart).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tunebook.core.errors import SpecError
from tunebook.core.score import SPLITS
from tunebook.core.spec import split_fractions

DEFAULT_FRACTIONS = {"train": 0.7, "train_dev": 0.1, "dev": 0.1, "test": 0.1}


@dataclass(frozen=True)
class Assignment:
    """Which split each row landed in: ``codes[i]`` indexes ``SPLITS`` for row ``i``."""

    codes: np.ndarray
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def indices(self, split: str) -> np.ndarray:
        """Row positions of ``split``, e.g. ``x[a.indices("dev")]``."""
        return np.flatnonzero(self.codes == _code(split))

    def counts(self) -> dict[str, int]:
        n = np.bincount(self.codes, minlength=len(SPLITS))
        return {s: int(n[i]) for i, s in enumerate(SPLITS)}


def _code(split: str) -> int:
    if split not in SPLITS:
        raise SpecError("split", f"one of {list(SPLITS)}", split)
    return SPLITS.index(split)


def check_fractions(fractions: dict[str, float] | None) -> dict[str, float]:
    """All four splits with fractions in [0, 1] summing to 1; train and dev non-empty."""
    return split_fractions(dict(DEFAULT_FRACTIONS if fractions is None else fractions))


def assign(ids: Any, labels: Any, *, groups: Any = None, deployment: Any = None,
           fractions: dict[str, float] | None = None, seed: int = 0, stratify: bool = True,
           names: dict[str, str] | None = None) -> Assignment:
    """Assign every row to a split.

    ``deployment`` is a boolean mask: True rows come from the deployment distribution.
    ``names`` maps roles to column names for messages (``{"label": "digit"}``).

    Example::

        a = assign(ids, y, fractions={"train": .8, "dev": .1, "test": .1}, seed=0)
        x_dev = x[a.indices("dev")]
    """
    names = {"id": "id", "label": "label", "group": "group", "source": "source", **(names or {})}
    frac = check_fractions(fractions)
    id_arr = np.asarray(ids)
    lab = np.asarray(labels)
    n = len(id_arr)
    if len(lab) != n:
        raise SpecError(names["label"], f"{n} labels, one per id", len(lab))
    if n == 0:
        raise SpecError("data", "at least one row", "0 rows")
    lab_codes, lab_values = pd.factorize(lab)
    if (lab_codes < 0).any():
        rows = np.flatnonzero(lab_codes < 0)[:10].tolist()
        raise SpecError(names["label"], "a label on every row", "empty labels", f"rows {rows}")
    if groups is not None:
        unit_codes, unit_values = pd.factorize(np.asarray(groups))
        keys = _hash(np.asarray(unit_values), seed)
    else:
        unit_codes, unit_values = np.arange(n), id_arr
        keys = _hash(id_arr, seed)
    n_units = len(unit_values)
    size = np.bincount(unit_codes, minlength=n_units)
    if stratify:
        stratum = _majority(unit_codes, lab_codes, n_units, len(lab_values))
    else:
        stratum = np.zeros(n_units, dtype=np.int64)

    codes = np.full(n, -1, dtype=np.int8)
    warnings: list[str] = []
    if deployment is None:
        pools = [(np.ones(n_units, dtype=bool), list(SPLITS))]
    else:
        mask = np.asarray(deployment, dtype=bool)
        unit_dep = np.bincount(unit_codes, weights=mask, minlength=n_units)
        if groups is not None and ((unit_dep > 0) & (unit_dep < size)).any():
            bad = unit_values[(unit_dep > 0) & (unit_dep < size)][:5].tolist()
            raise SpecError(names["group"], f"groups whose rows all share one '{names['source']}'"
                            " kind (deployment or not)", f"mixed groups, e.g. {bad}",
                            "A group cannot sit in train and in dev at once.")
        dep_units = unit_dep > 0
        if not dep_units.any():
            raise SpecError(names["source"], "some rows from the deployment distribution",
                            "none", "Check data.deployment against the column's values.")
        if not (~dep_units).any() and frac["train"] > 0:
            raise SpecError(names["source"], "some rows from outside the deployment "
                            "distribution for train", "none",
                            "Without such rows, drop `source` and split one pool.")
        pools = [(~dep_units, ["train", "train_dev"]), (dep_units, ["dev", "test"])]

    for in_pool, splits in pools:
        f = np.array([frac[s] for s in splits])
        if f.sum() <= 0:
            raise SpecError("fractions", f"a non-zero fraction for one of {splits}", frac)
        unit_split = _fill_pool(in_pool, size, stratum, keys, f / f.sum(), splits,
                                unit_values, names, warnings)
        codes_u = np.full(n_units, -1, dtype=np.int8)
        codes_u[in_pool] = np.array([SPLITS.index(s) for s in splits], dtype=np.int8)[unit_split]
        rows = in_pool[unit_codes]
        codes[rows] = codes_u[unit_codes[rows]]

    counts = np.bincount(codes, minlength=len(SPLITS))
    for i, s in enumerate(SPLITS):
        if frac[s] > 0 and counts[i] == 0:
            raise SpecError(f"fractions.{s}", f"a fraction that gives '{s}' at least one row",
                            f"{frac[s]} of {n} rows -> 0 rows",
                            "Raise it, set it to 0 on purpose, or use more data.")
    if stratify:
        warnings.extend(_lonely_labels(codes, lab_codes, lab_values, frac, id_arr, names))
    return Assignment(codes, tuple(warnings))


def _fill_pool(in_pool: np.ndarray, size: np.ndarray, stratum: np.ndarray, keys: np.ndarray,
               f: np.ndarray, splits: list[str], unit_values: np.ndarray,
               names: dict[str, str], warnings: list[str]) -> np.ndarray:
    """The split index (into ``splits``) of each unit in the pool."""
    idx = np.flatnonzero(in_pool)
    sz = size[idx]
    total = sz.sum()
    out = np.full(len(idx), -1, dtype=np.int64)
    # Units bigger than the smallest non-empty split cannot go there without breaking its size;
    # they go to the pool's largest split, and the rest is cut to make up the difference.
    targets = f * total
    smallest = targets[f > 0].min()
    big = (sz > 1) & (sz > smallest)  # single rows are never "too big": see the empty check
    if big.any():
        largest = int(np.argmax(f))
        if sz[big].sum() > targets[largest]:
            vals = unit_values[idx[big]][:5].tolist()
            raise SpecError(names["group"], f"groups smaller than the '{splits[largest]}' split "
                            f"({targets[largest]:.0f} rows)", f"groups {vals} with "
                            f"{sz[big][:5].tolist()} rows", "Use finer groups or more data.")
        vals = unit_values[idx[big]][:5].tolist()
        warnings.append(f"{int(big.sum())} group(s) in column '{names['group']}' are larger than "
                        f"the smallest split ({smallest:.0f} rows), e.g. {vals} with "
                        f"{sz[big][:5].tolist()} rows; they all went to '{splits[largest]}'.")
        out[big] = largest
        rest = targets.copy()
        rest[largest] -= sz[big].sum()
        f = rest / rest.sum() if rest.sum() > 0 else f
    small = np.flatnonzero(~big)
    if len(small):
        order = small[np.lexsort((keys[idx[small]], stratum[idx[small]]))]
        s_sorted = stratum[idx[order]]
        cum = np.cumsum(sz[order])
        start = np.r_[0, np.flatnonzero(np.diff(s_sorted)) + 1]
        stratum_id = np.cumsum(np.r_[0, np.diff(s_sorted) != 0])
        before = cum - sz[order]
        base = before[start][stratum_id]
        last = np.r_[start[1:] - 1, len(order) - 1]
        span = (cum[last] - before[start])[stratum_id]
        pos = (before - base + sz[order] / 2) / span
        cut = np.cumsum(f)[:-1]
        out[order] = np.searchsorted(cut, pos, side="right")
    return out


def _hash(values: np.ndarray, seed: int) -> np.ndarray:
    """A seeded pseudo-random key per value, independent of row order.

    pandas hashes numbers without its hash key, so the seed is mixed in afterwards with the
    splitmix64 finaliser (uint64 arithmetic wraps, as intended).
    """
    z = pd.util.hash_array(np.asarray(values), categorize=False).astype(np.uint64)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15) * np.uint64((seed % 2**32) + 1)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _majority(unit: np.ndarray, lab: np.ndarray, n_units: int, n_labels: int) -> np.ndarray:
    """The most frequent label of each unit (a group's stratum)."""
    pair = unit.astype(np.int64) * n_labels + lab
    uniq, cnt = np.unique(pair, return_counts=True)
    u, label = uniq // n_labels, uniq % n_labels
    order = np.lexsort((-cnt, u))  # per unit, the biggest count first
    first = np.r_[True, u[order][1:] != u[order][:-1]]
    out = np.zeros(n_units, dtype=np.int64)
    out[u[order][first]] = label[order][first]
    return out


def _lonely_labels(codes: np.ndarray, lab: np.ndarray, values: np.ndarray,
                   frac: dict[str, float], ids: np.ndarray, names: dict[str, str]) -> list[str]:
    """Warn about labels that exist in only one of the non-empty splits."""
    used = [i for i, s in enumerate(SPLITS) if frac[s] > 0]
    table = np.zeros((len(values), len(SPLITS)), dtype=np.int64)
    np.add.at(table, (lab, codes), 1)
    lonely = [k for k in range(len(values)) if (table[k, used] > 0).sum() == 1]
    if not lonely or len(used) < 2:
        return []
    parts = []
    for k in lonely[:5]:
        where = SPLITS[int(np.argmax(table[k]))]
        rows = np.flatnonzero(lab == k)
        parts.append(f"{values[k]!r} ({len(rows)} rows, only in '{where}', "
                     f"ids {ids[rows[:5]].tolist()})")
    more = f" and {len(lonely) - 5} more" if len(lonely) > 5 else ""
    return [f"{len(lonely)} label(s) of column '{names['label']}' appear in only one split, so "
            f"the others cannot measure them: {'; '.join(parts)}{more}. Collect more examples "
            "of these classes or merge them."]
