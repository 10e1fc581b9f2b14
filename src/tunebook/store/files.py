"""Files a trial leaves (checkpoints, predictions): atomic writes, checksums, a confined root."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote

from tunebook.core.errors import SpecError


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _umask() -> int:
    """The process's umask, read without changing it (Linux); else set and restored at once."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def _mode_for(target: Path) -> int:
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        return 0o666 & ~_umask()


def atomic_write(path: str | Path, data: bytes) -> str:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never half.

    Temp file in the same folder, fsync, rename, then fsync the folder. Returns the sha256.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        # mkstemp makes the file 0600; give it the mode any new file gets (0666 less the
        # umask), or the mode of the file it replaces, so teammates on a shared filesystem
        # read checkpoints, splits and reports as the user's umask intends.
        os.fchmod(fd, _mode_for(target))
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return sha256_bytes(data)


class ArtifactRoot:
    """A folder that artifact paths may not escape (no '..', absolute paths or symlink exits)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def resolve(self, relative: str) -> Path:
        decoded = unquote(unquote(relative))
        if not relative or Path(decoded).is_absolute() or ".." in Path(decoded).parts \
                or "\x00" in decoded:
            raise SpecError("artifact path", "a relative path inside the artifact root", relative)
        full = (self.root / decoded).resolve()
        if full != self.root and self.root not in full.parents:
            raise SpecError("artifact path", f"a path inside {self.root}", relative,
                            "It leaves the artifact root (through a symlink?).")
        return full

    def write(self, relative: str, data: bytes) -> tuple[Path, str]:
        full = self.resolve(relative)
        return full, atomic_write(full, data)

    def read_verified(self, relative: str, sha256: str) -> bytes:
        """The file's bytes, only if their checksum matches the recorded one."""
        data = self.resolve(relative).read_bytes()
        got = sha256_bytes(data)
        if got != sha256:
            raise SpecError(f"artifact {relative}", f"sha256 {sha256}", got,
                            "The file changed or is corrupt; it was not loaded.")
        return data


# Folders beyond the project that the user allows tools and commands to read and write
# (os.pathsep-separated). Nothing else outside the project is ever touched.
ROOTS_ENV = "TUNEBOOK_ALLOWED_ROOTS"


def allowed_roots(project_dir: str | Path, extra: Sequence[str | Path] = ()) -> tuple[Path, ...]:
    """The project folder first, then ``extra`` and ``$TUNEBOOK_ALLOWED_ROOTS``, resolved."""
    env = [p for p in os.environ.get(ROOTS_ENV, "").split(os.pathsep) if p.strip()]
    return tuple(Path(p).expanduser().resolve() for p in (project_dir, *extra, *env))


def inside(path: str | Path, roots: Sequence[Path], field: str) -> Path:
    """``path`` resolved (symlinks followed), if it lies inside one of ``roots``; a relative
    path is taken from the first root (the project folder). Anything else is refused.

    >>> inside("reports/r.html", [Path("/p")], "out")  # doctest: +SKIP
    PosixPath('/p/reports/r.html')
    """
    text = str(path)
    hint = (f"Only the project folder{' and the allowed roots' if len(roots) > 1 else ''} "
            f"can be used; set {ROOTS_ENV} to allow another folder.")
    if not text.strip() or "\x00" in text:
        raise SpecError(field, "a file path", text)
    if text.startswith("~"):
        raise SpecError(field, f"a path inside {roots[0]}", text,
                        "'~' is not expanded; " + hint)
    p = Path(text)
    full = (p if p.is_absolute() else roots[0] / p).resolve()
    for root in roots:
        if full == root or root in full.parents:
            return full
    raise SpecError(field, f"a path inside {roots[0]}", text,
                    ("It leaves the folder through a symlink. " if p.is_absolute() is False
                     and ".." not in p.parts else "") + hint)
