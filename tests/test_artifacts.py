from __future__ import annotations

import os
from pathlib import Path

import pytest

from tunebook.core.errors import SpecError
from tunebook.store.files import ArtifactRoot, atomic_write, sha256_bytes


def test_atomic_write_replaces_whole_files(tmp_path: Path) -> None:
    f = tmp_path / "a" / "x.bin"
    assert atomic_write(f, b"old") == sha256_bytes(b"old")
    atomic_write(f, b"new")
    assert f.read_bytes() == b"new"
    assert [p.name for p in f.parent.iterdir()] == ["x.bin"]  # no temp files left


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a/../../x", "%2e%2e/x",
                                 "%252e%252e/x", ""])
def test_artifact_paths_cannot_escape(tmp_path: Path, bad: str) -> None:
    root = ArtifactRoot(tmp_path / "root")
    with pytest.raises(SpecError):
        root.resolve(bad)


def test_symlink_escape_is_refused(tmp_path: Path) -> None:
    root = ArtifactRoot(tmp_path / "root")
    os.symlink(tmp_path, root.root / "link")
    with pytest.raises(SpecError, match="leaves the artifact root"):
        root.resolve("link/secret")


def test_checksum_verified_on_read(tmp_path: Path) -> None:
    root = ArtifactRoot(tmp_path)
    _, sha = root.write("t/f.bin", b"payload")
    assert root.read_verified("t/f.bin", sha) == b"payload"
    (tmp_path / "t" / "f.bin").write_bytes(b"tampered")
    with pytest.raises(SpecError, match="corrupt"):
        root.read_verified("t/f.bin", sha)
