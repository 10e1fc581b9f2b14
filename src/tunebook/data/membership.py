"""Recorded splits: which ids are in which split, tied to a content hash of the input.

The membership file is JSON under the artifact root (``.tunebook/artifacts/data/``), written
atomically and named by its own sha256, so an older split is never overwritten; a small pointer
file names the current one. Loading verifies the file's checksum, and the data file's hash is
compared with the one recorded, so a changed data file is detected, never silently re-split.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunebook.core.errors import SpecError, TunebookError
from tunebook.core.score import SPLITS

FORMAT = 1
POINTER = "data/splits.current.json"


class DataChanged(TunebookError):
    """The data file (or arrays) differ from those the recorded splits were made from."""


class NoSplits(TunebookError, LookupError):
    """The project has no recorded splits yet."""


@dataclass(frozen=True)
class Membership:
    """A recorded split: ids per split, the input's hash, and how it was made."""

    ids: dict[str, list[Any]]
    input: dict[str, Any]          # kind ("file" | "arrays"), file, sha256, rows
    columns: dict[str, Any]        # id, label, group, source
    config: dict[str, Any]         # fractions, seed, stratify, deployment
    warnings: list[str] = field(default_factory=list)
    created_at: float = 0.0
    path: str = ""                 # where it lies, relative to the artifact root
    sha256: str = ""               # of the membership file itself

    @property
    def counts(self) -> dict[str, int]:
        return {s: len(self.ids.get(s, [])) for s in SPLITS}

    def to_json(self) -> bytes:
        body = {"format": FORMAT, "input": self.input, "columns": self.columns,
                "config": self.config, "counts": self.counts, "warnings": self.warnings,
                "created_at": self.created_at, "splits": self.ids}
        return json.dumps(body, separators=(",", ":")).encode()


def _root(project_dir: str | Path) -> Any:
    from tunebook.workers.execute import artifact_root  # the same root workers write under

    return artifact_root(project_dir)


def save_membership(project_dir: str | Path, m: Membership) -> Membership:
    """Write the membership file and point at it; returns it with path and sha256 set."""
    from tunebook.store.files import sha256_bytes

    root = _root(project_dir)
    data = m.to_json()
    sha = sha256_bytes(data)
    rel = f"data/splits-{sha[:16]}.json"
    root.write(rel, data)
    root.write(POINTER, json.dumps({"path": rel, "sha256": sha}).encode())
    return Membership(m.ids, m.input, m.columns, m.config, m.warnings, m.created_at, rel, sha)


def current_membership(project_dir: str | Path) -> Membership | None:
    """The project's current splits, checksum-verified; None when none were recorded."""
    root = _root(project_dir)
    pointer = root.resolve(POINTER)
    if not pointer.exists():
        return None
    ref = json.loads(pointer.read_text(encoding="utf-8"))
    body = json.loads(root.read_verified(ref["path"], ref["sha256"]))
    if body.get("format") != FORMAT:
        raise SpecError(ref["path"], f"a splits file of format {FORMAT}", body.get("format"))
    return Membership(ids=body["splits"], input=body["input"], columns=body["columns"],
                      config=body["config"], warnings=body.get("warnings", []),
                      created_at=body.get("created_at", 0.0), path=ref["path"],
                      sha256=ref["sha256"])


def require_membership(project_dir: str | Path) -> Membership:
    m = current_membership(project_dir)
    if m is None:
        raise NoSplits(f"no splits are recorded for the project in {Path(project_dir).resolve()}"
                       ": run `tunebook data split` first")
    return m


def check_unchanged(m: Membership, sha256: str, what: str) -> None:
    """Raise DataChanged when the input's hash differs from the recorded one."""
    if m.input.get("sha256") != sha256:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(m.created_at))
        raise DataChanged(
            f"{what} changed since the splits were made on {when} (sha256 "
            f"{m.input.get('sha256', '?')[:12]}... recorded, {sha256[:12]}... now). The "
            "recorded splits were kept; restore the data, or re-split on purpose with "
            "`tunebook data split --force` (later trials then use the new splits).")


def new_membership(ids: Any, codes: Any, *, input: dict[str, Any], columns: dict[str, Any],
                   config: dict[str, Any], warnings: list[str]) -> Membership:
    import numpy as np

    id_arr = np.asarray(ids)
    code_arr = np.asarray(codes)
    per = {s: id_arr[code_arr == i].tolist() for i, s in enumerate(SPLITS)}
    return Membership(per, input, columns, config, list(warnings), time.time())


def record_in_store(store: Any, m: Membership, status: str) -> int:
    """An artifact row (trial None, kind 'splits') and a decision row for the new splits."""
    size = len(m.to_json())
    store.add_artifact(None, "splits", m.path, m.sha256, size,
                       meta={"input_sha256": m.input.get("sha256"), "counts": m.counts})
    src = m.input.get("file") or "arrays"
    summary = (f"splits {status} from {src}: " +
               ", ".join(f"{s} {n}" for s, n in m.counts.items()))
    return int(store.add_decision("splits", summary, {
        "path": m.path, "sha256": m.sha256, "input": m.input, "columns": m.columns,
        "config": m.config, "counts": m.counts, "warnings": m.warnings}))
