"""What it takes to reproduce a trial: code version, environment, hardware (checklist 3.4).

Collected once per worker (about 0.1 s, mostly ``git`` and the package list) and recorded on
every trial it runs: a ``repro`` entry in the trial's meta, and two artifacts written once
and shared by content (``diff``: the uncommitted changes, which re-apply with ``git apply``;
``packages``: every installed distribution with its version). Nothing here imports torch: its
version and CUDA build are read from its files, the GPU model from ``nvidia-smi``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tunebook.store.files import ArtifactRoot, sha256_bytes
from tunebook.workers.run import Run

KEY_PACKAGES = ("tunebook", "torch", "numpy", "lightning", "pytorch-lightning", "transformers",
                "scikit-learn", "jax", "tensorflow")


@dataclass(frozen=True)
class Provenance:
    """One worker's code, environment and hardware."""

    host: str
    python: str
    platform: str
    argv: list[str]
    git_commit: str | None
    git_dirty: bool
    untracked: list[str]
    packages: dict[str, str]
    torch: str | None
    cuda: str | None
    gpus: list[str]
    cuda_visible_devices: str | None
    diff_sha256: str | None = None
    packages_sha256: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, meta: Mapping[str, Any]) -> Provenance | None:
        """The provenance recorded in a trial's meta, or None (trials from before it)."""
        raw = meta.get("repro")
        if not isinstance(raw, dict):
            return None
        known = {f for f in cls.__dataclass_fields__}
        try:
            return cls(**{k: v for k, v in raw.items() if k in known})
        except TypeError:  # written by another version with other required fields
            return None

    @property
    def code(self) -> str:
        """``abc123def456`` / ``abc123def456 + uncommitted diff`` / ``not a git checkout``."""
        if self.git_commit is None:
            return "not a git checkout"
        return self.git_commit[:12] + (" + uncommitted diff" if self.git_dirty else "")

    def lines(self, command: str | None = None) -> list[str]:
        """How to reproduce the trial, one fact a line (``tunebook trial N``, the report)."""
        torch = (f"torch {self.torch} (CUDA {self.cuda or 'none'})" if self.torch
                 else "torch not installed")
        out = [f"code: {self.code}"]
        if self.git_dirty and self.diff_sha256:
            out.append(f"  re-apply: git checkout {self.git_commit} && git apply "
                       f"<artifact repro/diff-{self.diff_sha256[:16]}.patch>")
        if command:
            out.append(f"command: {command}")
        out += [f"worker: {' '.join(self.argv)}",
                f"python {self.python}, {torch}, "
                + ", ".join(f"{k} {v}" for k, v in self.packages.items() if k != "torch"),
                f"gpu: {'; '.join(self.gpus) or 'none'}"
                + (f" (CUDA_VISIBLE_DEVICES={self.cuda_visible_devices})"
                   if self.cuda_visible_devices is not None else ""),
                f"host: {self.host} ({self.platform})"]
        return out


def _git(folder: Path, *args: str) -> bytes | None:
    if shutil.which("git") is None:
        return None
    try:
        res = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, timeout=30,
                             check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout if res.returncode == 0 else None


def _torch_build() -> tuple[str | None, str | None]:
    """torch's version and CUDA build, from its files (importing it costs seconds)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return str(torch.__version__), getattr(torch.version, "cuda", None)
    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.origin is None:
        return None, None
    text = (Path(spec.origin).parent / "version.py").read_text(errors="replace") \
        if (Path(spec.origin).parent / "version.py").exists() else ""
    version = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)", text, re.M)
    cuda = re.search(r"^cuda\s*(?::[^=]*)?=\s*['\"]([^'\"]+)", text, re.M)
    return (version.group(1) if version else None), (cuda.group(1) if cuda else None)


def _gpus() -> list[str]:
    """The models of the GPUs this worker may use (``CUDA_VISIBLE_DEVICES`` applied)."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index,name,driver_version",
                              "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    rows = [[c.strip() for c in line.split(",")] for line in out.splitlines() if line.strip()]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        wanted = [v.strip() for v in visible.split(",") if v.strip()]
        rows = [r for r in rows if r[0] in wanted]
    return [f"{r[0]}: {r[1]} (driver {r[2]})" if len(r) >= 3 else ", ".join(r) for r in rows]


def collect(project_dir: str | Path) -> tuple[Provenance, bytes | None, bytes]:
    """This worker's provenance, its uncommitted diff (or None) and its package list."""
    folder = Path(project_dir).resolve()
    commit = _git(folder, "rev-parse", "HEAD")
    diff = _git(folder, "diff", "HEAD", "--binary") if commit else None
    untracked = _git(folder, "ls-files", "--others", "--exclude-standard") if commit else None
    dists = sorted({(d.metadata["Name"] or "").lower(): d.version
                    for d in importlib.metadata.distributions()}.items())
    freeze = "".join(f"{n}=={v}\n" for n, v in dists if n).encode()
    torch_version, cuda = _torch_build()
    prov = Provenance(
        host=socket.gethostname(), python=sys.version.split()[0],
        platform=platform.platform(), argv=list(sys.argv),
        git_commit=commit.decode().strip() if commit else None, git_dirty=bool(diff),
        untracked=[u for u in (untracked or b"").decode(errors="replace").split("\n")
                   if u and not u.startswith(".tunebook/")][:50],
        packages={n: v for n, v in dists if n in KEY_PACKAGES}, torch=torch_version, cuda=cuda,
        gpus=_gpus(), cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        diff_sha256=sha256_bytes(diff) if diff else None,
        packages_sha256=sha256_bytes(freeze))
    return prov, diff or None, freeze


class Recorder:
    """Wraps a worker's ``train(config, run)``: records provenance on each trial, then trains.

    Collected on the first trial (after the user's module is imported) and then reused; the
    shared files are written once per worker.
    """

    def __init__(self, train_fn: Callable[..., Any], project_dir: str | Path) -> None:
        self.train_fn = train_fn
        self.project_dir = project_dir
        self._cached: tuple[Provenance, bytes | None, bytes] | None = None
        self._written: set[str] = set()

    def __call__(self, config: Mapping[str, Any], run: Run) -> Any:
        if self._cached is None:
            self._cached = collect(self.project_dir)
        prov, diff, freeze = self._cached
        run.record(repro=prov.to_dict())
        for kind, data, sha in (("diff", diff, prov.diff_sha256),
                                ("packages", freeze, prov.packages_sha256)):
            if data is None or sha is None:
                continue
            rel = f"repro/{kind}-{sha[:16]}." + ("patch" if kind == "diff" else "txt")
            if rel not in self._written:
                _write_once(run.artifacts, rel, data)
                self._written.add(rel)
            run.store.add_artifact(run.trial_id, kind, rel, sha, len(data))
        return self.train_fn(config, run)


def _write_once(root: ArtifactRoot, rel: str, data: bytes) -> None:
    path = root.resolve(rel)
    if not path.exists():
        root.write(rel, data)
