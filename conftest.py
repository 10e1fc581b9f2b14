"""Doctest collection over ``src/tunebook`` (``--doctest-modules`` in pyproject).

A module whose optional extra is not installed is skipped rather than failing to import, and
the example projects are user code (scripts beside their data), not library modules.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_HERE = Path(__file__).parent
_SRC = _HERE / "src" / "tunebook"

# module path (under src/tunebook) -> the import it needs
_EXTRAS = {
    "pytorch": "torch",
    "workers/ray_executor.py": "ray",
    "tools/mcp_server.py": "mcp",
}


def pytest_ignore_collect(collection_path: Path) -> bool | None:
    path = Path(collection_path)
    if _SRC / "examples" in (path, *path.parents):
        return True
    for rel, module in _EXTRAS.items():
        target = _SRC / rel
        if (path == target or target in path.parents) and importlib.util.find_spec(module) is None:
            return True
    return None
