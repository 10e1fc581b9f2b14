"""YAML reading that treats ``1e-4`` as a number (YAML 1.1 reads it as a string)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tunebook.errors import SpecError


class _Loader(yaml.SafeLoader):
    pass


# YAML 1.2's float pattern: accepts 1e-4, 1E5 and .5 which PyYAML's 1.1 resolver leaves as strings.
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def load_yaml(path: str | Path) -> Any:
    """Read one YAML document; a syntax error names the file and line."""
    p = Path(path)
    if not p.exists():
        raise SpecError(str(p), "an existing YAML file", "no such file")
    try:
        return yaml.load(p.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506
    except yaml.YAMLError as exc:
        detail = str(exc).replace("\n", " ")
        raise SpecError(str(p), "valid YAML", "a syntax error", detail) from exc


def loads_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False)
